#!/usr/bin/env bash
# An OPTIONS flood against a release server, for docs/BENCHMARKS.md (issue #9): does the SIP/UDP
# socket drop datagrams, and does the server see it? Loopback only, bounded in count and time.
#   bench/flood.sh [rate] [seconds] [udp_recv_buffer]      defaults: 3000 20 4MiB
# SIPp sends tests/sipp/options.xml at [rate]/s for [seconds] (retransmitting after 500 ms);
# the server runs on its own ports (UDP 127.0.0.1:25160, HTTP 28180; bench/run.sh uses 25060)
# with sip.udp_recv_buffer = [udp_recv_buffer]. Prints, side by side, the kernel drops the server
# counted (qonyrau_sip_udp_kernel_drops_total) and the ones ss reports for its socket (skmem d),
# then SIPp's requests: answered, never answered (failed) and retransmitted (first attempt
# unanswered within 500 ms).
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-3000}; secs=${2:-20}; rcvbuf=${3:-4MiB}
SIP=127.0.0.1:25160; HTTP=127.0.0.1:28180; SIPP_PORT=25171
cargo build --release --bin qonyrau --quiet
BIN=target/release/qonyrau
work=$(mktemp -d /tmp/qonyrau-flood.XXXXXX)
cat > "$work/qonyrau.toml" <<EOF
[sip]
udp = "$SIP"
tcp = ""
udp_recv_buffer = "$rcvbuf"
max_calls = 10000
[http]
listen = "$HTTP"
[ivr]
flows_dir = "bench/flows"
[database]
url = "sqlite://$work/flood.db"
[log]
level = "info"
EOF
date -u +"date: %Y-%m-%dT%H:%M:%SZ"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(uname -r)"
echo "net.core.rmem_max=$(cat /proc/sys/net/core/rmem_max) sip.udp_recv_buffer=$rcvbuf"
$BIN --config "$work/qonyrau.toml" serve > "$work/out" 2> "$work/err" &
SRV=$!
trap 'kill $SRV 2>/dev/null; wait $SRV 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do grep -q READY "$work/out" && break; sleep 0.1; done
kill -0 $SRV 2>/dev/null || { echo "server did not start:"; cat "$work/err"; exit 1; }
grep -o 'SIP/UDP receive buffer.*' "$work/err" | sed 's/\x1b\[[0-9;]*m//g' | head -1
c0=$(awk '{print $14+$15}' /proc/$SRV/stat)
calls=$((rate * secs))
t0=$(date +%s.%N)
sipp -sf tests/sipp/options.xml $SIP -i 127.0.0.1 -p $SIPP_PORT -cp 28988 -m "$calls" -r "$rate" \
     -l 20000 -buff_size 8388608 -nostdin -timeout $((secs + 60))s -timeout_error \
     -trace_stat -stf "$work/sipp.csv" -fd 1 > /dev/null 2>&1 || true
t1=$(date +%s.%N)
c1=$(awk '{print $14+$15}' /proc/$SRV/stat)
# The drop count reaches the metric with the next datagram read: one more OPTIONS after the flood.
sipp -sf tests/sipp/options.xml $SIP -i 127.0.0.1 -p $SIPP_PORT -cp 28988 -m 1 -nostdin \
     -timeout 10s > /dev/null 2>&1 || true
metric=$(curl -s "http://$HTTP/metrics" | awk '/^qonyrau_sip_udp_kernel_drops_total/ {print $2}')
ss_d=$(ss -uamn | awk -v a="$SIP" 'index($0, a) {getline; if (match($0, /d[0-9]+\)/)) print substr($0, RSTART+1, RLENGTH-2)}')
echo "kernel drops: metric=${metric:-none} ss_d=${ss_d:-none}"
awk -F';' -v wall="$(echo "$t1 - $t0" | bc)" '
  NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
  { last = $0 }
  END { split(last, f, ";");
        ok = f[col["SuccessfulCall(C)"]]; failed = f[col["FailedCall(C)"]];
        printf "sipp: sent=%d answered=%d unanswered(failed)=%d retransmissions=%d wall=%.1fs rate=%.0f/s\n",
               ok + failed, ok, failed, f[col["Retransmissions(C)"]], wall, (ok + failed) / wall }' "$work/sipp.csv"
echo "server_cpu_s=$(echo "($c1-$c0)/100" | bc -l | cut -c1-5) overload_drops=$(curl -s "http://$HTTP/metrics" | awk '/^qonyrau_sip_overload_drops_total/ {print $2}')"
