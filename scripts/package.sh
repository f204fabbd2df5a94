#!/usr/bin/env bash
# Builds the Debian package target/debian/shiftmesh_VERSION_ARCH.deb: the binary, the systemd
# unit (bin/shiftmesh/packaging/shiftmesh.service), shell completions for bash, zsh and fish,
# and man pages, all generated from the command line's definition. Prints the package's path.
#
#   scripts/package.sh           # from a release build
#   scripts/package.sh --debug   # from the debug build (what CI has built already)
#
# Installing it (apt install ./shiftmesh_*.deb) creates the user `shiftmesh` and, where systemd
# runs, enables and starts the system service: a node on /var/lib/shiftmesh with its page on
# 127.0.0.1:4781. Removing it stops the service; the data stays (docs/OPERATIONS.md).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
[[ "${1:-}" == "--debug" ]] && profile=debug
if [[ "$profile" == release ]]; then
  cargo build --release -p shiftmesh --bin shiftmesh >&2
else
  cargo build -p shiftmesh --bin shiftmesh >&2
fi
bin="target/$profile/shiftmesh"
version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)"
arch="$(dpkg --print-architecture)"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT

install -d "$root/DEBIAN" "$root/usr/bin" "$root/usr/share/man/man1" \
  "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
  "$root/usr/share/fish/vendor_completions.d" "$root/usr/share/doc/shiftmesh"
# Debug information stays out of the package (a debug build carries hundreds of MB of it).
strip --strip-debug -o "$root/usr/bin/shiftmesh" "$bin"
chmod 0755 "$root/usr/bin/shiftmesh"
install -D -m 0644 bin/shiftmesh/packaging/shiftmesh.service "$root/lib/systemd/system/shiftmesh.service"
"$bin" completions bash > "$root/usr/share/bash-completion/completions/shiftmesh"
"$bin" completions zsh > "$root/usr/share/zsh/vendor-completions/_shiftmesh"
"$bin" completions fish > "$root/usr/share/fish/vendor_completions.d/shiftmesh.fish"
"$bin" man "$root/usr/share/man/man1"
gzip -9n "$root"/usr/share/man/man1/*.1
install -m 0644 README.md docs/OPERATIONS.md "$root/usr/share/doc/shiftmesh/"
cat > "$root/usr/share/doc/shiftmesh/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: shiftmesh
License: MIT OR Apache-2.0
COPYRIGHT

cat > "$root/DEBIAN/control" <<CONTROL
Package: shiftmesh
Version: $version
Architecture: $arch
Maintainer: shiftmesh developers <shiftmesh@localhost>
Section: misc
Priority: optional
Depends: libc6, passwd
Installed-Size: $(du -sk "$root" | cut -f1)
Description: staff schedule kept in sync between a site's machines, with no server
 Every machine runs a node that stores the schedule, finds its peers on the LAN and syncs
 with them, merges concurrent edits without losing any, and reports the conflicts a merge
 cannot see (double-booking, capacity exceeded, unavailable staff).
CONTROL

cat > "$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  getent passwd shiftmesh >/dev/null || useradd --system --user-group \
    --home-dir /var/lib/shiftmesh --no-create-home --shell /usr/sbin/nologin shiftmesh
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    if [ -n "$2" ]; then
      # An upgrade: the running node restarts on the new binary.
      systemctl try-restart shiftmesh.service || true
    else
      systemctl enable --now shiftmesh.service || true
    fi
  fi
fi
POSTINST
cat > "$root/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  systemctl disable --now shiftmesh.service || true
fi
PRERM
cat > "$root/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
# The schedule in /var/lib/shiftmesh is never removed with the package: it may be the only copy.
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
POSTRM
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"

mkdir -p target/debian
deb="target/debian/shiftmesh_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zgzip --build "$root" "$deb" >&2
echo "$deb"
