#!/usr/bin/env bash
# Builds the release binaries and measures import and store open beside raw Automerge on a
# generated schedule, then the network figures on five local nodes:
# scripts/bench.sh [--profile small|large|year] [--runs N] [--seed N] [--edits N] [--network-only]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin shiftmesh --bin shiftmesh-bench
exec target/release/shiftmesh-bench "$@"
