#!/usr/bin/env bash
# Everything CI checks, in the order a failure is cheapest to see: formatting, lints, every test
# (among them the hostile-input corpus replay, crates/shiftmesh-fuzz/tests/corpus.rs; the
# security scenarios, bin/shiftmesh/tests/trust.rs; the page in headless Chromium,
# bin/shiftmesh/tests/page.rs; 600 simulation seeds, crates/shiftmesh-sim;
# 20 cycles of the crash loop, bin/shiftmesh/tests/crash_loop.rs), then the README quick start
# run line by line against the freshly built binary, the demo, the Debian package installed and
# started as its unit would start it, the mDNS check and a short network lab. The long runs have
# their own scripts: scripts/fuzz.sh SECONDS, scripts/soak.sh SEEDS, scripts/crash-loop.sh N,
# scripts/netlab.sh NODES ROUNDS.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "Chromium and its WebDriver for the page's browser tests (scripts/browser-deps.sh)"
scripts/browser-deps.sh

step "cargo test"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace 2>&1 | tee "$log"
# Each crate's runs end in their own "test result" lines (the last is often an empty doc-test
# run), so the totals are added up here and printed as the closing line.
totals="$(awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d passed, %d failed", passed, failed }' "$log")"

step "README quick start"
scripts/quickstart-check.sh target/debug/shiftmesh

step "iCalendar export read by an independent parser (scripts/ics-check.sh)"
scripts/ics-check.sh target/debug/shiftmesh

step "three nodes on loopback (scripts/demo.sh)"
scripts/demo.sh target/debug/shiftmesh >/dev/null
echo "demo: ok"

step "the Debian package: build, install, start as its unit would, status, remove (scripts/package-check.sh)"
scripts/package-check.sh

step "mDNS discovery between two network namespaces"
scripts/mdns-check.sh target/debug/shiftmesh

step "network lab: three nodes in network namespaces, a partition healed, packet loss"
scripts/netlab.sh 3 1 target/debug/shiftmesh

echo
echo "all checks passed"
echo "tests: $totals"
