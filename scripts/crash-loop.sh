#!/usr/bin/env bash
# Kills a running node with SIGKILL N times at random moments (during writes through the CLI,
# during a large merge, during the folding of its change log) and checks after each kill that
# the store opens cleanly and holds every acknowledged edit.
# Usage: scripts/crash-loop.sh N [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:?usage: scripts/crash-loop.sh N [SEED]}
export SHIFTMESH_CRASH_CYCLES=$N
[ -n "${2:-}" ] && export SHIFTMESH_CRASH_SEED=$2
exec cargo test --release -p shiftmesh --test crash_loop -- --nocapture
