#!/usr/bin/env bash
# Everything CI checks, in the order a failure is cheapest to see: formatting, lints, every test,
# then the README quick start run line by line against the freshly built binary.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test"
cargo test --workspace

step "README quick start"
scripts/quickstart-check.sh target/debug/shiftmesh

echo
echo "all checks passed"
