#!/usr/bin/env bash
# Mixed versions on one site: an older revision and the current build run side by side on
# loopback, as during an upgrade done one machine at a time. Two machines of the old release
# share a site; one is upgraded in place (the current build opens the old release's data
# directory); both edit; they must converge to the same heads and the same conflicts, and the
# old node must keep working (refusing only what it cannot do, and saying why when it knows
# schemas at all).
#
# Usage: scripts/compat-check.sh REV [NEW_BINARY]
#   REV         a git revision of this repository, built in a worktree under target/compat/
#               (its own target directory, kept between runs: the first build is a full one)
#   NEW_BINARY  the current build (default: target/debug/shiftmesh, built if missing)
#   OLD_BINARY  (environment) a binary already built from REV, to skip the worktree build
set -euo pipefail
cd "$(dirname "$0")/.."

REV=${1:?usage: scripts/compat-check.sh REV [NEW_BINARY]}
NEW=${2:-target/debug/shiftmesh}
[ -x "$NEW" ] || cargo build --bin shiftmesh -q
NEW=$(realpath "$NEW")
LIMIT_SECS=120

commit=$(git rev-parse --verify "$REV^{commit}")
short=${commit:0:12}
if [ -n "${OLD_BINARY:-}" ]; then
    OLD=$(realpath "$OLD_BINARY")
    echo "== $short: using the binary $OLD"
else
    tree="target/compat/src-$short"
    if [ ! -d "$tree" ]; then
        mkdir -p target/compat
        git worktree add --detach "$tree" "$commit" >/dev/null
    fi
    echo "== building $short in $tree (its own target directory, target/compat/build)"
    CARGO_TARGET_DIR="$PWD/target/compat/build" cargo build --manifest-path "$tree/Cargo.toml" --bin shiftmesh -q
    cp "$PWD/target/compat/build/debug/shiftmesh" "target/compat/shiftmesh-$short"
    OLD="$PWD/target/compat/shiftmesh-$short"
fi

WORK=$(mktemp -d)
declare -A PID
cleanup() {
    for p in "${PID[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }
# run BINARY NODE ARGS...
run() { local bin=$1 node=$2; shift 2; "$bin" --data-dir "$WORK/$node" "$@"; }
wait_for() {
    local what=$1; shift
    local deadline=$(( $(date +%s) + LIMIT_SECS ))
    until "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "compat-check: FAILED: gave up after ${LIMIT_SECS}s waiting until $what" >&2
            for log in "$WORK"/*.log; do echo "--- $log"; tail -20 "$log"; done >&2
            exit 1
        fi
        sleep 0.2
    done
}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
start() {  # start BINARY NODE [ARGS...]
    local bin=$1 node=$2; shift 2
    "$bin" --data-dir "$WORK/$node" node --listen /ip4/127.0.0.1/tcp/0 --no-mdns "$@" \
        2>>"$WORK/$node.log" &
    PID[$node]=$!
    wait_for "node $node runs" bash -c "'$bin' --data-dir '$WORK/$node' --json status | grep -q '\"running\": true'"
}
stop() { kill -TERM "${PID[$1]}"; wait "${PID[$1]}" || true; unset "PID[$1]"; }
heads() { run "$1" "$2" --json status | field '["heads"]'; }
conflict_ids() { run "$1" "$2" --json conflicts | python3 -c 'import json,sys; print(sorted(c["id"] for c in json.load(sys.stdin)))'; }

say "two machines of $short share a site"
run "$OLD" front init --name "City Museum" --time-zone Europe/Berlin --node-name front-desk >/dev/null
run "$OLD" front --as alice staff add sarah --name "Sarah Lee" --skill guide >/dev/null
run "$OLD" front --as alice shift add mon-am --date 2026-11-23 --start 09:00 --end 13:00 --capacity 2 --min-staff 1 >/dev/null
start "$OLD" front
address=$(run "$OLD" front --json status | field '["listen"][0]')
invite=$(run "$OLD" front --json invite | field '["invite"]')
run "$OLD" back init --join "$invite" --node-name back-office >/dev/null
start "$OLD" back --peer "$address"
wait_for "the back office has the schedule" run "$OLD" back staff show sarah

say "the back office is upgraded in place: the current build opens $short's data directory"
stop back
start "$NEW" back --peer "$address"
run "$NEW" back status | sed -n '1,12p'

say "both edit: the old front desk and the new back office"
run "$OLD" front --as alice staff add sam --name "Sam Park" >/dev/null
run "$OLD" front --as alice assign sarah mon-am >/dev/null
run "$NEW" back --as bob shift add mon-pm --date 2026-11-23 --start 12:00 --end 17:00 --capacity 1 --min-staff 1 >/dev/null
run "$NEW" back --as bob assign sarah mon-pm >/dev/null
run "$NEW" back --as bob assign sam mon-am >/dev/null
wait_for "both have the same heads" bash -c "[ \"\$('$OLD' --data-dir '$WORK/front' --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"heads\"])')\" = \"\$('$NEW' --data-dir '$WORK/back' --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"heads\"])')\" ]"

say "converged: heads $(heads "$NEW" back)"
old_ids=$(conflict_ids "$OLD" front)
new_ids=$(conflict_ids "$NEW" back)
echo "conflicts on the old node: $old_ids"
echo "conflicts on the new node: $new_ids"
[ "$old_ids" = "$new_ids" ] || { echo "compat-check: FAILED: the two versions list different conflicts" >&2; exit 1; }
run "$OLD" front staff list
run "$NEW" back shift list

say "what the old node says about the newer schema"
run "$OLD" front status | sed -n '1,14p'
if out=$(run "$OLD" front account list 2>&1); then
    echo "$out"
else
    echo "account list on $short: refused: $out"
fi

stop front
stop back
echo
echo "compat-check: $short and the current build converged on one site (same heads, same conflicts)"
