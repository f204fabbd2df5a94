#!/usr/bin/env bash
# Builds the .deb from the debug build, installs it, starts the node exactly as its systemd unit
# would (CI has no running systemd: the unit's ExecStart, as its user, in its state directory,
# with its umask), checks it answers `status` and serves its page on 127.0.0.1, then removes
# the package and checks it is gone. Needs root and dpkg; says so and skips otherwise.
# The node is kept on loopback by the data directory's config.toml (no mDNS, loopback only).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ] || ! command -v dpkg >/dev/null; then
  echo "package-check: skipped (needs root and dpkg; CI runs it)"
  exit 0
fi
if dpkg -s shiftmesh >/dev/null 2>&1; then
  echo "package-check: a shiftmesh package is installed on this machine already; not touching it" >&2
  exit 1
fi
data=/var/lib/shiftmesh
if [ -e "$data" ]; then
  echo "package-check: $data exists already; not touching it" >&2
  exit 1
fi

had_user=false
getent passwd shiftmesh >/dev/null && had_user=true
deb="$(scripts/package.sh --debug)"
log="$(mktemp)"
node_pid=""
masked=false
cleanup() {
  [ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null || true
  dpkg --purge shiftmesh >/dev/null 2>&1 || true
  [ "$masked" = true ] && systemctl unmask shiftmesh.service >/dev/null 2>&1 || true
  [ "$had_user" = false ] && userdel shiftmesh 2>/dev/null || true
  rm -rf "$data" "$log"
}
trap cleanup EXIT
# Where systemd runs, the package's postinst would start the real service (listening on the
# LAN, with mDNS); masked, it cannot, and the node below is the only one.
if [ -d /run/systemd/system ]; then
  systemctl mask shiftmesh.service >/dev/null
  masked=true
fi

dpkg -i "$deb" >/dev/null
for f in /usr/bin/shiftmesh /lib/systemd/system/shiftmesh.service \
  /usr/share/man/man1/shiftmesh.1.gz /usr/share/bash-completion/completions/shiftmesh \
  /usr/share/zsh/vendor-completions/_shiftmesh /usr/share/fish/vendor_completions.d/shiftmesh.fish; do
  [ -e "$f" ] || { echo "package-check: $f was not installed" >&2; exit 1; }
done
getent passwd shiftmesh >/dev/null || { echo "package-check: the user shiftmesh was not created" >&2; exit 1; }

# What systemd does for the unit: StateDirectory= (0700, owned by its user), then ExecStart as
# User= with UMask=.
unit=/lib/systemd/system/shiftmesh.service
exec_start="$(sed -n 's/^ExecStart=//p' "$unit")"
user="$(sed -n 's/^User=//p' "$unit")"
install -d -o "$user" -g "$user" -m 0700 "$data"
printf 'listen = ["/ip4/127.0.0.1/tcp/0"]\nmdns = false\nui_listen = "127.0.0.1:0"\n' > "$data/config.toml"
chown "$user:$user" "$data/config.toml"
runuser -u "$user" -- sh -c "umask 0077; cd /; exec $exec_start" 2>"$log" &
node_pid=$!

as_user() { runuser -u "$user" -- /usr/bin/shiftmesh --data-dir "$data" "$@"; }
for _ in $(seq 1 600); do
  # Only once the node's socket exists does `status` ask the node rather than open the store.
  if [ -S "$data/node.sock" ] && as_user --json status 2>/dev/null | grep -q '"running": true'; then break; fi
  kill -0 "$node_pid" 2>/dev/null || { echo "package-check: the node stopped:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.1
done
status="$(as_user --json status)"
echo "$status" | grep -q '"running": true' || { echo "package-check: no answer to status" >&2; cat "$log" >&2; exit 1; }
ui="$(echo "$status" | sed -n 's/.*"ui": "http:\/\/\(127\.0\.0\.1:[0-9]*\)\/".*/\1/p')"
[ -n "$ui" ] || { echo "package-check: the page is not served on 127.0.0.1: $status" >&2; exit 1; }
exec 3<>"/dev/tcp/${ui%:*}/${ui#*:}"
printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' "$ui" >&3
head -n 1 <&3 | grep -q ' 200 ' || { echo "package-check: the page did not answer 200" >&2; exit 1; }
exec 3>&-
[ "$(stat -c %a "$data")" = 700 ] || { echo "package-check: $data is not 0700" >&2; exit 1; }

kill "$node_pid"
wait "$node_pid" || true
node_pid=""
dpkg -r shiftmesh >/dev/null
[ ! -e /usr/bin/shiftmesh ] || { echo "package-check: /usr/bin/shiftmesh is still there after removal" >&2; exit 1; }
[ -d "$data" ] || { echo "package-check: removing the package deleted the data" >&2; exit 1; }
echo "package-check: installed $(basename "$deb"), the unit's node answered status and served its page on $ui, removed cleanly"
