#!/usr/bin/env bash
# Three nodes on loopback in temporary directories: one founds a site, two join it with
# invites; conflicting edits are made while one node is down; it comes back, and every node
# shows the same conflict. Usage: scripts/demo.sh [path/to/shiftmesh]  (default: release build)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${1:-}
if [ -z "$BIN" ]; then
    cargo build --release --bin shiftmesh -q
    BIN=target/release/shiftmesh
fi
BIN=$(realpath "$BIN")
LIMIT_SECS=60
WORK=$(mktemp -d)
declare -A PID
cleanup() {
    for p in "${PID[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

sm() { local node=$1; shift; "$BIN" --data-dir "$WORK/$node" "$@"; }
say() { printf '\n== %s\n' "$*"; }
wait_for() {  # wait_for WHAT COMMAND...: polls until the command succeeds
    local what=$1; shift
    local deadline=$(( $(date +%s) + LIMIT_SECS ))
    until "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "demo: gave up after ${LIMIT_SECS}s waiting until $what" >&2
            exit 1
        fi
        sleep 0.1
    done
}
start() {  # start NODE [ARGS...]
    local node=$1; shift
    "$BIN" --data-dir "$WORK/$node" node --listen /ip4/127.0.0.1/tcp/0 --no-mdns "$@" \
        2>>"$WORK/$node.log" &
    PID[$node]=$!
    wait_for "node $node runs" bash -c "'$BIN' --data-dir '$WORK/$node' --json status | grep -q '\"running\": true'"
}
stop() { kill -TERM "${PID[$1]}"; wait "${PID[$1]}"; unset "PID[$1]"; }
address() { sm "$1" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["listen"][0])'; }
heads() { sm "$1" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["heads"])'; }
same_heads() { [ "$(heads a)" = "$(heads b)" ] && [ "$(heads a)" = "$(heads c)" ]; }

say "machine a founds the site and runs its node"
sm a init --name "City Museum" --time-zone Europe/Berlin --node-name front-desk
sm a --as alice staff add sarah --name "Sarah Lee" --skill guide
for s in "mon-am-exhibits 09:00 13:00" "mon-am-education 09:00 12:00"; do
    set -- $s
    sm a --as alice shift add "$1" --date 2026-11-23 --start "$2" --end "$3" --capacity 2 --min-staff 0
done
start a
invite() { sm a --json invite | python3 -c 'import json,sys; print(json.load(sys.stdin)["invite"])'; }

say "machines b and c join, each with its own invite from a (two commands each)"
for n in b c; do
    sm $n init --join "$(invite)" --node-name "office-$n"
    start $n --peer "$(address a)"
done
wait_for "b and c have the schedule" bash -c "'$BIN' --data-dir '$WORK/b' staff show sarah && '$BIN' --data-dir '$WORK/c' staff show sarah"
sm c peers
sm a --as alice history --limit 3

say "c goes offline; a and c both book sarah for Monday morning"
stop c
sm a --as alice assign sarah mon-am-exhibits
sm c --as carol assign sarah mon-am-education
sm c status | grep "node state"

say "c comes back"
start c --peer "$(address a)"
wait_for "all three converge" same_heads
for n in a b c; do
    say "conflicts on $n"
    sm $n conflicts
done
ids=$(for n in a b c; do sm $n --json conflicts | python3 -c 'import json,sys; print([c["id"] for c in json.load(sys.stdin)])'; done | sort -u | wc -l)
[ "$ids" = 1 ] || { echo "demo: the nodes disagree on the conflicts" >&2; exit 1; }
say "the same conflict, with the same id, on all three; resolve it anywhere with 'shiftmesh resolve ID keep-first'"
