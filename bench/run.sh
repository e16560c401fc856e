#!/usr/bin/env bash
# Benchmarks for docs/BENCHMARKS.md. Loopback only; every load is bounded in count and time.
#   bench/run.sh short   [calls] [rate]          short calls (INVITE..BYE) with qonyrau-loadgen
#   bench/run.sh sipp    [calls] [rate]          the same with SIPp's built-in uac
#   bench/run.sh media   [calls] [hold] [rate]   concurrent prompt calls with caller RTP
#   bench/run.sh bridge  [calls] [window] [rate] two-leg direct calls to registered operators,
#                                                RTP both ways; figures over a steady window
#                                                of [window] with every call bridged
#   bench/run.sh register [extensions] [rate] [count]  authenticated REGISTERs (401 + 200)
#   bench/run.sh direct  [pairs] [window]        RTP socket pairs without the server (reference)
#   bench/run.sh idle    [seconds]               the bridge config's server doing nothing
#   bench/run.sh queue   [calls] [hold] [rate]   callers waiting in the support queue (600):
#                                                music on hold, an announcement at once and
#                                                every 60 s; nobody logged in
#   bench/run.sh queue-bridge [operators] [waiting] [window]  both at once: `bridge` calls
#                                                to [operators] registered extensions and
#                                                [waiting] callers in the support queue
# QONYRAU_BENCH_CONFIG=FILE replaces bench/qonyrau-bridge.toml for `bridge`.
# Prints the load generator's figures and the server's CPU and memory (from /proc).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-short}
cargo build --release --bins --quiet
BIN=target/release/qonyrau
LG=target/release/qonyrau-loadgen
ulimit -n 20000 || true
CFG=bench/qonyrau-bench.toml
PW=sip-secret-bench
# The prompts an announcement starts with: the load generator times their arrival.
MARKERS=sounds/en/queue_next.wav,sounds/en/queue_position_is.wav
# Staff accounts with SIP extensions, through the CLI (argon2 makes `users add` ~40 ms, so
# they are made once per database and kept: callers c30000.., operators o50000..).
accounts() {
  local want=$1 dir=/tmp/qonyrau-bench
  mkdir -p $dir
  local have=$(cat $dir/accounts 2>/dev/null || echo 0)
  [ "$have" -ge "$want" ] && return 0
  echo "creating bench accounts $have..$((want-1)) (callers 3xxxx, operators 5xxxx) via the CLI"
  # One account first (it runs the migrations), then two at a time; SQLite may answer
  # "database is locked" to one of two concurrent writers, so each step is retried.
  mk() {
    local i=$1 kind p base ext login
    for kind in c:30000 o:50000; do
      p=${kind%%:*}; base=${kind#*:}; ext=$((base+i)); login=$p$ext
      for _ in 1 2 3 4 5 6 7 8; do
        out=$(echo "Operator2026!" | $BIN --config $CFG users add $login --role operator --language en 2>&1) && break
        case $out in *"already"*|*"exists"*|*"taken"*) break;; esac; sleep 0.05
      done
      for _ in 1 2 3 4 5 6 7 8; do
        echo "$PW" | $BIN --config $CFG users sip $login --extension $ext >/dev/null 2>&1 && break; sleep 0.05
      done
    done
  }
  export -f mk; export BIN CFG PW
  [ "$have" -eq 0 ] && { mk 0; have=1; }
  [ "$have" -lt "$want" ] && seq "$have" $((want-1)) | xargs -P 2 -I{} bash -c 'mk {}'
  [ "$have" -lt "$want" ] || true
  echo "$want" > $dir/accounts
}
case $mode in
  bridge) CFG=${QONYRAU_BENCH_CONFIG:-bench/qonyrau-bridge.toml}; accounts "${2:-100}";;
  idle) CFG=bench/qonyrau-bridge.toml;;
  queue-bridge) CFG=bench/qonyrau-bridge.toml; accounts "${2:-200}";;
  register) CFG=bench/qonyrau-bridge.toml; accounts "${2:-1000}";;
  direct)
    $LG --mode direct --extensions "${2:-100}" --window "${3:-20s}"
    exit 0;;
esac
date -u +"date: %Y-%m-%dT%H:%M:%SZ"
$BIN --config $CFG serve > /tmp/qonyrau-bench.out 2> /tmp/qonyrau-bench.err &
SRV=$!
trap 'kill $SRV 2>/dev/null; wait $SRV 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do grep -q READY /tmp/qonyrau-bench.out && break; sleep 0.1; done
kill -0 $SRV 2>/dev/null || { echo "server did not start:"; cat /tmp/qonyrau-bench.err; exit 1; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r)"
# QONYRAU_BENCH_PERF=FILE: profile the server during the load (perf record -g, cpu-clock).
if [ -n "${QONYRAU_BENCH_PERF:-}" ]; then
  perf record -e cpu-clock -F 999 -g -p $SRV -o "$QONYRAU_BENCH_PERF" 2>/tmp/qonyrau-perf.err &
  PERF=$!
  trap 'kill -INT $PERF 2>/dev/null || true; wait $PERF 2>/dev/null || true; kill $SRV 2>/dev/null; wait $SRV 2>/dev/null || true' EXIT
fi
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
  queue)
    calls=${2:-1000}; hold=${3:-75s}; rate=${4:-100}
    $LG --target 127.0.0.1:25060 --service 600 --calls "$calls" --concurrent "$calls" --rate "$rate" \
        --hold "$hold" --rtp --sample 100 --server-pid $SRV --setup-timeout 60s --announce-markers $MARKERS
    curl -sf 127.0.0.1:28080/metrics | grep -E '^qonyrau_queue_(calls_total|waiting)' || true
    ;;
  queue-bridge)
    ops=${2:-200}; waiting=${3:-1000}; window=${4:-75s}
    $LG --mode bridge --target 127.0.0.1:25060 --extensions "$ops" --window "$window" \
        --rate 100 --register-rate 200 --sip-password $PW --setup-timeout 60s \
        > /tmp/qonyrau-bench-bridge.log 2>&1 &
    BRIDGE=$!
    sleep 8   # the operators register and their calls are bridged first
    echo "--- waiting callers (server figures include the bridged calls)"
    $LG --target 127.0.0.1:25060 --service 600 --calls "$waiting" --concurrent "$waiting" --rate 100 \
        --hold "$window" --rtp --sample 100 --server-pid $SRV --setup-timeout 60s --announce-markers $MARKERS
    wait $BRIDGE || true
    echo "--- bridged calls"; cat /tmp/qonyrau-bench-bridge.log
    curl -sf 127.0.0.1:28080/metrics | grep -E '^qonyrau_(queue_calls_total|calls_bridged)' || true
    ;;
  bridge)
    calls=${2:-100}; window=${3:-30s}; rate=${4:-100}
    $LG --mode bridge --target 127.0.0.1:25060 --extensions "$calls" --window "$window" \
        --rate "$rate" --register-rate 200 --sip-password $PW --setup-timeout 60s --server-pid $SRV
    ;;
  register)
    ext=${2:-1000}; rate=${3:-500}; count=${4:-$(echo "$rate*30/1" | bc)}
    $LG --mode register --target 127.0.0.1:25060 --extensions "$ext" --rate "$rate" \
        --calls "$count" --sip-password $PW --server-pid $SRV
    ;;
  idle)
    secs=${2:-30}; c0=$(awk '{print $14+$15}' /proc/$SRV/stat); sleep "$secs"
    c1=$(awk '{print $14+$15}' /proc/$SRV/stat)
    echo "idle server: cpu_ms_per_s=$(echo "($c1-$c0)*10/$secs" | bc -l) over ${secs}s"
    ;;
  *) echo "usage: $0 short|sipp|media|bridge|register|direct [...]"; exit 2;;
esac
grep -cE "ERROR|WARN" /tmp/qonyrau-bench.err | sed 's/^/server warnings+errors: /'
