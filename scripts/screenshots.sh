#!/usr/bin/env bash
# Takes the README's pictures of the page: a generated LARGE schedule on one node on loopback,
# opened in headless Chromium as its owner; writes the week view, the conflicts panel and the
# phone layout (390 px) as docs/img/{week,conflicts,phone}.png.
#
#   scripts/screenshots.sh [DIR]   (default: docs/img)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/img}"
scripts/browser-deps.sh
echo "screenshots: building the release binaries" >&2
cargo build --release --bin shiftmesh --bin shiftmesh-bench
exec target/release/shiftmesh-bench --screenshots "$out"
