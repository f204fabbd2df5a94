#!/usr/bin/env bash
# Measures every figure of the product's "Numbers to reach" beside raw Automerge in the same run,
# and how catch-up and propagation grow with the schedule and the number of nodes:
#
#   scripts/bench.sh [--profile small|large|year] [--quick] [--runs N] [--seed N] [--edits N]
#
# A full run (default profile: year; the smaller profiles ride along for the scaling table)
# builds samod for the side-by-side catch-up and writes docs/BENCHMARKS.md and
# docs/benchmarks-scaling.png. --quick runs the whole table on the small schedule, skips samod,
# and writes into target/bench/ instead, so the docs keep the last full results.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=false
for arg in "$@"; do
    [[ "$arg" == "--quick" ]] && quick=true
    [[ "$arg" == "-h" || "$arg" == "--help" ]] && { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }
done

# The plot's text needs a TrueType font; Debian's DejaVu is the one looked for.
if [[ ! -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] && command -v apt-get >/dev/null; then
    echo "bench: installing fonts-dejavu-core for the plot's text" >&2
    sudo_=""; [[ $(id -u) -ne 0 ]] && sudo_="sudo"
    $sudo_ apt-get install -y -q fonts-dejavu-core >/dev/null || echo "bench: no font; the run goes on without a plot" >&2
fi

# The page is measured in Debian's Chromium through its WebDriver.
scripts/browser-deps.sh

echo "bench: building the release binaries" >&2
cargo build --release --bin shiftmesh --bin shiftmesh-bench
extra=()
if [[ "$quick" == false ]]; then
    # samod has its own workspace (and Automerge and tokio builds): built only for full runs.
    echo "bench: building samod for the side-by-side catch-up" >&2
    if cargo build --release --manifest-path crates/shiftmesh-bench/samod/Cargo.toml; then
        extra=(--samod crates/shiftmesh-bench/samod/target/release/shiftmesh-bench-samod)
    else
        echo "bench: samod did not build here; the run goes on without it" >&2
    fi
fi
exec target/release/shiftmesh-bench "$@" "${extra[@]}"
