#!/usr/bin/env bash
# A network lab: NODES shiftmesh nodes (3 to 5), each in its own network namespace, joined by
# veth pairs to a bridge in a namespace of its own, finding each other by mDNS. The first
# founds the site, the others join with invites. Then, ROUNDS times: a partition (nftables
# drop rules between the two halves), edits on both sides, a check that they stay apart, a
# heal, and the time until every node has the same heads; then a round with 10 % packet loss
# on every node. Traffic stays inside the namespaces this script makes. Needs root; installs
# nftables if missing. Delay uses tc netem where the kernel has it (sch_netem); where it does
# not, that part is reported as skipped.
# Usage: scripts/netlab.sh [NODES] [ROUNDS] [path/to/shiftmesh]
set -euo pipefail

NODES=${1:-3}
ROUNDS=${2:-2}
BIN=$(realpath "${3:-target/debug/shiftmesh}")
# How long any one wait may take before the lab gives up.
WAIT_LIMIT_SECS=120
# How long a partition holds while both sides edit.
PARTITION_SECS=3
LOSS_PERCENT=10
TAG="smlab$$"
SUBNET=10.78.0

if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
    echo "netlab: skipped (needs root and iproute2 to create network namespaces)"
    exit 0
fi
if [ "$NODES" -lt 3 ] || [ "$NODES" -gt 5 ]; then
    echo "netlab: NODES must be 3 to 5" >&2
    exit 2
fi
if ! command -v nft >/dev/null; then
    echo "netlab: installing nftables"
    apt-get install -y nftables >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y nftables >/dev/null 2>&1; } || true
    if ! command -v nft >/dev/null; then
        echo "netlab: skipped (nftables is not installed and apt-get could not install it)"
        exit 0
    fi
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for i in $(seq 1 "$NODES"); do ip netns del "$TAG-$i" 2>/dev/null || true; done
    ip netns del "$TAG-br" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

sm() { local n=$1; shift; "$BIN" --data-dir "$WORK/n$n" "$@"; }
heads() { sm "$1" --json status 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["heads"])' 2>/dev/null || echo "?"; }
has_staff() { sm "$1" staff show "$2" >/dev/null 2>&1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
converged() {
    local first; first=$(heads 1)
    [ "$first" != "?" ] || return 1
    for i in $(seq 2 "$NODES"); do [ "$(heads "$i")" = "$first" ] || return 1; done
}
wait_for() {
    local what=$1; shift
    local deadline=$(( $(date +%s) + WAIT_LIMIT_SECS ))
    until "$@"; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "netlab: FAILED: $what within ${WAIT_LIMIT_SECS}s"
            for i in $(seq 1 "$NODES"); do echo "--- node $i"; tail -20 "$WORK/n$i.log"; done
            exit 1
        fi
        sleep 0.1
    done
}

# The lab: a bridge in its own namespace, one namespace per node.
ip netns add "$TAG-br"
ip -n "$TAG-br" link add br0 type bridge
ip -n "$TAG-br" link set br0 up
for i in $(seq 1 "$NODES"); do
    ip netns add "$TAG-$i"
    ip link add "$TAG-v$i" type veth peer name "$TAG-b$i"
    ip link set "$TAG-v$i" netns "$TAG-$i"
    ip link set "$TAG-b$i" netns "$TAG-br"
    ip -n "$TAG-br" link set "$TAG-b$i" master br0 up
    ip -n "$TAG-$i" addr add "$SUBNET.$i/24" dev "$TAG-v$i"
    ip -n "$TAG-$i" link set lo up
    ip -n "$TAG-$i" link set "$TAG-v$i" up multicast on
done

start() {
    local n=$1
    ip netns exec "$TAG-$n" env RUST_LOG=info "$BIN" --data-dir "$WORK/n$n" node 2>>"$WORK/n$n.log" &
    PIDS+=($!)
    wait_for "node $n starts" bash -c "'$BIN' --data-dir '$WORK/n$n' status 2>/dev/null | grep -q 'node state  running'"
}

sm 1 init --name "Network lab" --node-name "lab-1" >/dev/null
sm 1 staff add lab-0 --name "Lab" >/dev/null
start 1
for i in $(seq 2 "$NODES"); do
    invite=$(sm 1 --json invite | python3 -c 'import json,sys; print(json.load(sys.stdin)["invite"])')
    sm "$i" init --join "$invite" --node-name "lab-$i" >/dev/null
    start "$i"
done
joined() { for i in $(seq 2 "$NODES"); do has_staff "$i" lab-0 || return 1; done; }
wait_for "every node joins and syncs" joined
wait_for "every node converges" converged
echo "netlab: $NODES nodes in network namespaces joined and synced"

# Drop rules between the two halves of the lab (nodes 1..half and half+1..NODES).
half=$(( NODES / 2 ))
partition() {
    for i in $(seq 1 "$NODES"); do
        local others=()
        for j in $(seq 1 "$NODES"); do
            if { [ "$i" -le "$half" ] && [ "$j" -gt "$half" ]; } || { [ "$i" -gt "$half" ] && [ "$j" -le "$half" ]; }; then
                others+=("$SUBNET.$j")
            fi
        done
        local set; set=$(IFS=,; echo "${others[*]}")
        ip netns exec "$TAG-$i" nft -f - <<EOF
table inet lab {
    chain input { type filter hook input priority 0; ip saddr { $set } drop; }
    chain output { type filter hook output priority 0; ip daddr { $set } drop; }
}
EOF
    done
}
heal() { for i in $(seq 1 "$NODES"); do ip netns exec "$TAG-$i" nft delete table inet lab 2>/dev/null || true; done; }
lossy() {
    for i in $(seq 1 "$NODES"); do
        ip netns exec "$TAG-$i" nft -f - <<EOF
table inet loss {
    chain input { type filter hook input priority 0; numgen random mod 100 < $LOSS_PERCENT drop; }
}
EOF
    done
}
clear_loss() { for i in $(seq 1 "$NODES"); do ip netns exec "$TAG-$i" nft delete table inet loss 2>/dev/null || true; done; }

times=()
for r in $(seq 1 "$ROUNDS"); do
    partition
    sm 1 staff add "r$r-left" --name "Left side" >/dev/null
    sm "$NODES" staff add "r$r-right" --name "Right side" >/dev/null
    sleep "$PARTITION_SECS"
    if has_staff "$NODES" "r$r-left" || has_staff 1 "r$r-right"; then
        echo "netlab: FAILED: an edit crossed the partition in round $r"
        exit 1
    fi
    healed_at=$(now_ms)
    heal
    wait_for "round $r converges after the heal" converged
    ms=$(( $(now_ms) - healed_at ))
    times+=("$ms")
    for i in $(seq 1 "$NODES"); do
        has_staff "$i" "r$r-left" && has_staff "$i" "r$r-right" || { echo "netlab: FAILED: node $i lacks an edit of round $r"; exit 1; }
    done
    echo "netlab: partition $r healed; every node converged in $ms ms"
done

lossy
loss_started=$(now_ms)
for i in $(seq 1 "$NODES"); do sm "$i" staff add "loss-$i" --name "Under loss" >/dev/null; done
wait_for "convergence under ${LOSS_PERCENT}% loss" converged
loss_ms=$(( $(now_ms) - loss_started ))
clear_loss
echo "netlab: with ${LOSS_PERCENT}% packet loss on every node, $NODES concurrent edits converged in $loss_ms ms"

if ip netns exec "$TAG-1" tc qdisc add dev "$TAG-v1" root netem delay 50ms 2>/dev/null; then
    for i in $(seq 2 "$NODES"); do ip netns exec "$TAG-$i" tc qdisc add dev "$TAG-v$i" root netem delay 50ms; done
    delay_started=$(now_ms)
    sm 1 staff add delayed --name "Delayed" >/dev/null
    wait_for "convergence with 50 ms delay" converged
    echo "netlab: with 50 ms delay on every link, an edit converged in $(( $(now_ms) - delay_started )) ms"
else
    echo "netlab: delay skipped (this kernel has no tc netem, sch_netem)"
fi

sorted=$(printf '%s\n' "${times[@]}" | sort -n)
p50=$(echo "$sorted" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
max=$(echo "$sorted" | tail -1)
echo "netlab: ok: $NODES nodes, $ROUNDS partitions healed (convergence after heal p50 $p50 ms, max $max ms), ${LOSS_PERCENT}% loss $loss_ms ms"
