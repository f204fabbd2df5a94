#!/usr/bin/env bash
# Runs the shell block under "## Quick start" in README.md, line by line, in a temporary
# directory, with `shiftmesh` being the binary given (default: the release build). A line that
# fails stops the check, so the README's quick start cannot drift from what the program does.
set -euo pipefail
cd "$(dirname "$0")/.."
binary="$(realpath "${1:-target/release/shiftmesh}")"
[ -x "$binary" ] || { echo "quickstart-check: no binary at $binary; build it first" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
ln -s "$binary" "$work/bin/shiftmesh"

# The block runs in a clean environment of its own: its own data directories and user.
script="$work/quickstart.sh"
{
  echo 'set -euo pipefail'
  echo 'PS4="+ quickstart: "'
  echo 'set -x'
  awk '/^## Quick start/{in_section=1} /^## /&&!/^## Quick start/{in_section=0}
       in_section&&/^```sh$/{in_block=1; next} in_block&&/^```$/{in_block=0; next}
       in_section&&in_block' README.md | grep -v '^cargo build'
} > "$script"
lines=$(grep -vc '^set \|^PS4' "$script" || true)
[ "$lines" -gt 5 ] || { echo "quickstart-check: found no quick start block in README.md" >&2; exit 1; }

(cd "$work" && env -i PATH="$work/bin:/usr/bin:/bin" HOME="$work/home" USER=quickstart \
  bash "$script" > "$work/out.txt" 2>&1) || { cat "$work/out.txt"; echo "quickstart-check: FAILED" >&2; exit 1; }
echo "quickstart-check: $lines lines of the README quick start ran cleanly"
