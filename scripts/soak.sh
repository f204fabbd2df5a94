#!/usr/bin/env bash
# Runs many seeded simulations (crates/shiftmesh-sim): nine in ten with faults, one in ten
# without, checking every oracle after each. Stops at the first broken promise with its seed
# and the command that replays it.
# Usage: scripts/soak.sh SEEDS [SECONDS] [FIRST_SEED]     e.g. scripts/soak.sh 100000 3600
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p shiftmesh-sim --bin shiftmesh-soak
exec target/release/shiftmesh-soak "$@"
