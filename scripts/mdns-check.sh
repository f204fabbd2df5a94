#!/usr/bin/env bash
# A new machine in its own network namespace, joined to the founder's by a veth pair, finds
# its inviter by mDNS alone (the invite's address is useless there), joins and syncs. Needs
# root (ip netns); elsewhere it says it was skipped. Usage: scripts/mdns-check.sh [path/to/shiftmesh]
set -euo pipefail

BIN=${1:-target/debug/shiftmesh}
BIN=$(realpath "$BIN")
LIMIT_SECS=30

if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
    echo "mdns-check: skipped (needs root and iproute2 to create network namespaces)"
    exit 0
fi

TAG="sm$$"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip netns del "$TAG-a" 2>/dev/null || true
    ip netns del "$TAG-b" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# Two hosts on one link: 10.77.0.1 and 10.77.0.2, nothing else reachable.
ip netns add "$TAG-a"
ip netns add "$TAG-b"
ip link add "$TAG-va" type veth peer name "$TAG-vb"
ip link set "$TAG-va" netns "$TAG-a"
ip link set "$TAG-vb" netns "$TAG-b"
ip -n "$TAG-a" addr add 10.77.0.1/24 dev "$TAG-va"
ip -n "$TAG-b" addr add 10.77.0.2/24 dev "$TAG-vb"
for side in a b; do
    ip -n "$TAG-$side" link set lo up
    ip -n "$TAG-$side" link set "$TAG-v$side" up multicast on
done

"$BIN" --data-dir "$WORK/a" init --name "mDNS check" --node-name host-a >/dev/null
"$BIN" --data-dir "$WORK/a" staff add found-by-mdns --name "Found by mDNS" >/dev/null
ip netns exec "$TAG-a" "$BIN" --data-dir "$WORK/a" node 2>"$WORK/a.log" &
PIDS+=($!)
until "$BIN" --data-dir "$WORK/a" status 2>/dev/null | grep -q "node state  running"; do sleep 0.1; done

# b joins with an invite from a whose only address is useless in b's namespace (loopback,
# nothing listening), so b can find a by mDNS alone.
INVITE=$("$BIN" --data-dir "$WORK/a" --json invite | python3 -c '
import base64, json, sys
text = json.load(sys.stdin)["invite"]
prefix, body = text.split(".", 1)
invite = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
invite["addresses"] = ["/ip4/127.0.0.1/tcp/9"]
body = base64.urlsafe_b64encode(json.dumps(invite).encode()).decode().rstrip("=")
print(prefix + "." + body)')
"$BIN" --data-dir "$WORK/b" init --join "$INVITE" --node-name host-b >/dev/null
ip netns exec "$TAG-b" "$BIN" --data-dir "$WORK/b" node 2>"$WORK/b.log" &
PIDS+=($!)

start=$(date +%s%N)
deadline=$(( $(date +%s) + LIMIT_SECS ))
until "$BIN" --data-dir "$WORK/b" staff show found-by-mdns >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "mdns-check: FAILED: b did not get a's schedule within ${LIMIT_SECS}s"
        echo "--- a's log"; cat "$WORK/a.log"; echo "--- b's log"; cat "$WORK/b.log"
        exit 1
    fi
    sleep 0.2
done
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "mdns-check: ok: a machine in its own network namespace found its inviter by mDNS, joined and synced in ${ms} ms"
