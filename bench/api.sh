#!/usr/bin/env bash
# Ticket creation through the API: wrk with 50 connections POSTs /api/v1/tickets against a
# release `qonyrau serve` (the same machine), then prints how many tickets the database holds
# (the 201s wrk counted, plus the requests still in flight when it stopped).
#   bench/api.sh sqlite [DURATION]          a fresh SQLite file
#   bench/api.sh postgres [DURATION]        a throwaway PostgreSQL (scripts/pg-test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}; duration=${2:-20s}; conns=${QONYRAU_BENCH_CONNS:-50}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release -q
work=$(mktemp -d); trap 'kill $(cat $work/pid 2>/dev/null) 2>/dev/null || true; [ "$backend" = postgres ] && QONYRAU_PG_STATE=$work/pg scripts/pg-test.sh stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
case $backend in
  sqlite) url="sqlite://$work/bench.db" ;;
  postgres) chmod 755 "$work"; url=$(QONYRAU_PG_STATE=$work/pg scripts/pg-test.sh start) ;;
  *) echo "usage: $0 sqlite|postgres [DURATION]" >&2; exit 2 ;;
esac
cat > "$work/q.toml" <<TOML
[sip]
udp = "127.0.0.1:0"
tcp = "127.0.0.1:0"
[http]
listen = "127.0.0.1:0"
[database]
url = "$url"
[desk]
calendar_dir = "$PWD/config/calendar"
[log]
level = "warn"
TOML
q="target/release/qonyrau --config $work/q.toml"
echo 'Bench2026x' | $q users add bench --role operator >/dev/null
$q serve > "$work/out" 2> "$work/err" & echo $! > "$work/pid"
for _ in $(seq 100); do grep -q READY "$work/out" 2>/dev/null && break; sleep 0.1; done
http=$(sed -n 's/.*http=\([^ ]*\).*/\1/p' "$work/out")
token=$(curl -sf -XPOST "http://$http/api/v1/session" -H 'content-type: application/json' \
  -d '{"login":"bench","password":"Bench2026x"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
echo "== $backend: wrk -t2 -c$conns -d$duration POST /api/v1/tickets ($(nproc) cores, $(date -u +%F))"
[ -n "${QONYRAU_BENCH_PERF:-}" ] && ( sleep 3; perf record -F 999 -g -p "$(cat "$work/pid")" -o "$QONYRAU_BENCH_PERF" -- sleep 5 >/dev/null 2>&1 ) &
QONYRAU_TOKEN=$token wrk -t2 -c"$conns" -d"$duration" --latency -s bench/api_create_ticket.lua "http://$http" \
  | grep -E "Requests/sec|Non-2xx|Socket errors|latency p|status|tickets/s|requests in"
rss=$(ps -o rss= -p "$(cat "$work/pid")"); echo "server RSS after the run: $((rss / 1024)) MiB"
curl -sf "http://$http/api/v1/tickets?limit=1" -H "authorization: Bearer $token" \
  | python3 -c 'import json,sys; print("tickets stored:", json.load(sys.stdin)["total"])'
