#!/usr/bin/env bash
# Run the README's commands as a new user would paste them, and fail if one does not work.
#
# Which blocks: every ```sh block right after a line `<!-- readme-check ATTRS -->`, in README
# order, each in its own `bash -e -o pipefail`, all in ONE fresh copy of the repository (its
# tracked files, as a clone would have them; no target/, no data/). Attributes:
#   background       start it and go on; it is stopped (its whole process group) at the end
#   ready='REGEX'    (background) wait until its output matches REGEX before going on
#   expect='REGEX'   its output must match REGEX (may be given more than once; "REGEX" too)
#   timeout=SECONDS  stop it (and fail) after this long; default 120
#   requires=a,b     programs it needs: missing ones skip the block, or FAIL it under CI=true
#   stop-background  first stop every background block started so far (e.g. a server)
#
# What is changed before running, and why:
#   * Ports. The README shows the documented defaults (SIP 5060, HTTP 8080, RTP 20000-29999,
#     SIPp 25071, baresip 25100 and ctrl_tcp 24400), which other jobs on a shared machine may
#     hold. Every block and the copy's config/qonyrau.toml get unusual free ports instead, by
#     sed (`:5060` -> `:$README_SIP_PORT`, ...). Set README_SIP_PORT, README_HTTP_PORT,
#     README_SIPP_PORT, README_BARESIP_PORT, README_CTRL_PORT or README_RTP_MIN to choose.
#   * The build. `cargo run --release --` becomes "$QONYRAU_BIN" when QONYRAU_BIN is set (the
#     test passes the binary cargo built for it, so no second build runs); otherwise this
#     script runs `cargo build --release` in the repository and uses target/release/qonyrau.
#
# Usage: scripts/readme-check.sh            run the blocks
#        README_CHECK_LIST=1 scripts/readme-check.sh   print the blocks (after substitution)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
readme=${README:-$repo/README.md}
ci=${CI:-}

say() { printf 'readme-check: %s\n' "$*" >&2; }

free_port() { # a port free on 127.0.0.1 for both UDP and TCP, and the one above it
    python3 - "$@" <<'EOF'
import random, socket, sys
taken = {int(p) for p in sys.argv[1:]}
for _ in range(500):
    p = random.randrange(25200, 29800, 2)
    if p in taken or p + 1 in taken:
        continue
    try:
        for q in (p, p + 1):
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(socket.AF_INET, kind)
                s.bind(("127.0.0.1", q))
                s.close()
    except OSError:
        continue
    print(p)
    break
else:
    sys.exit("no free port")
EOF
}

sip_port=${README_SIP_PORT:-$(free_port)}
http_port=${README_HTTP_PORT:-$(free_port "$sip_port")}
sipp_port=${README_SIPP_PORT:-$(free_port "$sip_port" "$http_port")}
baresip_port=${README_BARESIP_PORT:-$(free_port "$sip_port" "$http_port" "$sipp_port")}
ctrl_port=${README_CTRL_PORT:-$(free_port "$sip_port" "$http_port" "$sipp_port" "$baresip_port")}
rtp_min=${README_RTP_MIN:-$((30000 + ($$ % 150) * 200))}
rtp_max=$((rtp_min + 199))

# The README's ports -> ours, applied to every block and to the copy's config.
substitute() {
    sed -e "s/:5060\b/:$sip_port/g" \
        -e "s/:8080\b/:$http_port/g" \
        -e "s/-p 25071\b/-p $sipp_port/g" \
        -e "s/:25100\b/:$baresip_port/g" \
        -e "s/:24400\b/:$ctrl_port/g" \
        -e "s/\b24400\b/$ctrl_port/g" \
        -e "s/^port_min = 20000/port_min = $rtp_min/" \
        -e "s/^port_max = 29999/port_max = $rtp_max/" \
        -e "s|cargo run --release --|\"\$QONYRAU_BIN\"|g"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/readme-check.XXXXXX")
blocks=$work/blocks
mkdir -p "$blocks"

# ---- extract the marked blocks: blocks/N.sh and blocks/N.attrs ----
awk -v dir="$blocks" '
    /^<!-- readme-check( .*)? -->[[:space:]]*$/ {
        attrs = $0; sub(/^<!-- readme-check ?/, "", attrs); sub(/ ?-->[[:space:]]*$/, "", attrs)
        marked = 1; next
    }
    marked && /^```sh[[:space:]]*$/ {
        n++; inblock = 1; marked = 0
        printf "%s\n", attrs > (dir "/" n ".attrs"); printf "" > (dir "/" n ".sh"); next
    }
    inblock && /^```[[:space:]]*$/ { inblock = 0; next }
    inblock { print > (dir "/" n ".sh"); next }
    marked && NF > 0 { printf "README: a readme-check marker is not followed by a ```sh block: %s\n", $0 > "/dev/stderr"; exit 3 }
' "$readme"
count=$(find "$blocks" -name '*.sh' | wc -l)
[ "$count" -gt 0 ] || { say "no <!-- readme-check --> blocks in $readme"; exit 1; }
for f in "$blocks"/*.sh; do substitute < "$f" > "$f.run"; done

if [ -n "${README_CHECK_LIST:-}" ]; then
    for n in $(seq 1 "$count"); do
        printf '### block %s [%s]\n' "$n" "$(cat "$blocks/$n.attrs")"
        cat "$blocks/$n.sh.run"
    done
    rm -rf "$work"
    exit 0
fi

# ---- the fresh copy and the binary ----
copy=$work/qonyrau
mkdir -p "$copy"
if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
    # Tracked files as they are in the working tree (what a clone of this commit holds,
    # including uncommitted edits to the README itself).
    (cd "$repo" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$copy"
else
    (cd "$repo" && tar --exclude=./target --exclude=./data -cf - .) | tar -xf - -C "$copy"
fi
substitute < "$repo/config/qonyrau.toml" > "$copy/config/qonyrau.toml"
if [ -z "${QONYRAU_BIN:-}" ]; then
    say "building the release binary (cargo build --release)"
    (cd "$repo" && cargo build --release --bin qonyrau)
    QONYRAU_BIN=$repo/target/release/qonyrau
fi
export QONYRAU_BIN
say "ports: sip=$sip_port http=$http_port sipp=$sipp_port baresip=$baresip_port ctrl=$ctrl_port rtp=$rtp_min-$rtp_max"
say "copy: $copy"

# ---- running ----
background=() # process-group ids of background blocks, in start order
groups=()     # every block's process group, for the final clean-up

stop_group() { # TERM the group, then KILL what is left after a grace period
    local pgid=$1
    kill -TERM -- "-$pgid" 2>/dev/null || return 0
    for _ in $(seq 1 50); do
        kill -0 -- "-$pgid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL -- "-$pgid" 2>/dev/null || true
}

stop_background() { # newest first: softphones before the server they unregister from
    local i
    for ((i = ${#background[@]} - 1; i >= 0; i--)); do stop_group "${background[$i]}"; done
    background=()
}

cleanup() {
    local status=$?
    stop_background
    for g in "${groups[@]}"; do stop_group "$g"; done
    if [ $status -ne 0 ] || [ -n "${README_CHECK_KEEP:-}" ]; then
        say "kept $work for inspection"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

fail() {
    local n=$1 why=$2
    say "FAILED block $n: $why"
    printf -- '--- block %s (as run) ---\n' "$n" >&2
    cat "$blocks/$n.sh.run" >&2
    printf -- '--- its output ---\n' >&2
    tail -n 60 "$blocks/$n.out" >&2 || true
    for b in "$blocks"/*.out; do
        [ "$b" = "$blocks/$n.out" ] && continue
        printf -- '--- output of %s ---\n' "$(basename "$b")" >&2
        tail -n 20 "$b" >&2
    done
    exit 1
}

attr_list() { # `key`, `key=value`, `key='a b'`, `key="a b"` -> lines key<TAB>value
    local rest=$1
    local re='^[[:space:]]*([a-z-]+)(=('"'"'([^'"'"']*)'"'"'|"([^"]*)"|([^[:space:]]*)))?(.*)$'
    while [[ $rest =~ $re ]]; do
        printf '%s\t%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[4]}${BASH_REMATCH[5]}${BASH_REMATCH[6]}"
        rest=${BASH_REMATCH[7]}
        [ -n "${BASH_REMATCH[1]}" ] || break
    done
}

missing_program() {
    local p
    for p in ${1//,/ }; do
        command -v "$p" >/dev/null 2>&1 || { echo "$p"; return 0; }
    done
    return 1
}

for n in $(seq 1 "$count"); do
    is_background=0 ready='' timeout=120 requires='' expects=()
    while IFS=$'\t' read -r key value; do
        case $key in
            background) is_background=1 ;;
            ready) ready=$value ;;
            expect) expects+=("$value") ;;
            timeout) timeout=$value ;;
            requires) requires=$value ;;
            stop-background) stop_background ;;
            *) fail "$n" "unknown attribute '$key'" ;;
        esac
    done < <(attr_list "$(cat "$blocks/$n.attrs")")
    out=$blocks/$n.out
    : > "$out"
    if [ -n "$requires" ] && gone=$(missing_program "$requires"); then
        if [ "$ci" = true ]; then
            fail "$n" "$gone is required under CI=true (scripts/test.sh installs it)"
        fi
        say "SKIPPED block $n: $gone is not installed"
        continue
    fi
    first=$(grep -v '^\s*#' "$blocks/$n.sh.run" | grep -m1 . || true)
    say "block $n: $first"
    # Its own process group (setsid), so anything it leaves running can be stopped by id.
    (cd "$copy" && exec setsid bash -e -o pipefail "$blocks/$n.sh.run" </dev/null >"$out" 2>&1) &
    pid=$!
    groups+=("$pid")
    deadline=$((SECONDS + timeout))
    if [ $is_background = 1 ]; then
        background+=("$pid")
        while [ -n "$ready" ] && ! grep -Eq -- "$ready" "$out"; do
            kill -0 "$pid" 2>/dev/null || fail "$n" "ended before it was ready (/$ready/)"
            [ $SECONDS -lt $deadline ] || fail "$n" "not ready (/$ready/) within ${timeout}s"
            sleep 0.2
        done
    else
        while kill -0 "$pid" 2>/dev/null; do
            if [ $SECONDS -ge $deadline ]; then
                stop_group "$pid"
                fail "$n" "still running after ${timeout}s"
            fi
            sleep 0.2
        done
        wait "$pid" || fail "$n" "exit status $?"
    fi
    for e in "${expects[@]}"; do
        grep -Eq -- "$e" "$out" || fail "$n" "its output does not match /$e/"
    done
done
say "ok: $count README blocks work"
