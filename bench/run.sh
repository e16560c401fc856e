#!/usr/bin/env bash
# Benchmarks for docs/BENCHMARKS.md. Loopback only; every load is bounded in count and time.
#   bench/run.sh short   [calls] [rate]          short calls (INVITE..BYE) with qonyrau-loadgen
#   bench/run.sh sipp    [calls] [rate]          the same with SIPp's built-in uac
#   bench/run.sh media   [calls] [hold] [rate]   concurrent prompt calls with caller RTP
# Prints the load generator's figures and the server's CPU and memory (from /proc).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-short}
cargo build --release --bins --quiet
BIN=target/release/qonyrau
LG=target/release/qonyrau-loadgen
ulimit -n 20000 || true
$BIN --config bench/qonyrau-bench.toml serve > /tmp/qonyrau-bench.out 2> /tmp/qonyrau-bench.err &
SRV=$!
trap 'kill $SRV 2>/dev/null; wait $SRV 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do grep -q READY /tmp/qonyrau-bench.out && break; sleep 0.1; done
kill -0 $SRV 2>/dev/null || { echo "server did not start:"; cat /tmp/qonyrau-bench.err; exit 1; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r)"
echo "server pid $SRV, rss at start $(grep VmRSS /proc/$SRV/status | awk '{print $2}') KiB"
case $mode in
  short)
    calls=${2:-90000}; rate=${3:-1500}
    $LG --target 127.0.0.1:25060 --calls "$calls" --rate "$rate" --hold 0s --server-pid $SRV
    ;;
  sipp)
    calls=${2:-20000}; rate=${3:-1000}
    c0=$(awk '{print $14+$15}' /proc/$SRV/stat)
    sipp -sn uac 127.0.0.1:25060 -s 100 -i 127.0.0.1 -p 25071 -mp 26000 -m "$calls" -r "$rate" \
         -l 5000 -nostdin -timeout 120s -timeout_error -trace_stat -stf /tmp/sipp-bench.csv > /dev/null 2>&1 || true
    c1=$(awk '{print $14+$15}' /proc/$SRV/stat)
    tail -1 /tmp/sipp-bench.csv | awk -F';' '{print "sipp: successful="$16" failed="$18" retransmissions="$37}' || true
    echo "server_cpu_s=$(echo "($c1-$c0)/100" | bc -l) per_call_ms=$(echo "($c1-$c0)*10/$calls" | bc -l)"
    ;;
  media)
    calls=${2:-3000}; hold=${3:-30s}; rate=${4:-300}
    $LG --target 127.0.0.1:25060 --calls "$calls" --concurrent "$calls" --rate "$rate" --hold "$hold" \
        --rtp --sample 100 --server-pid $SRV --setup-timeout 60s
    ;;
  *) echo "usage: $0 short|sipp|media [...]"; exit 2;;
esac
grep -cE "ERROR|WARN" /tmp/qonyrau-bench.err | sed 's/^/server warnings+errors: /'
