#!/usr/bin/env bash
# Fuzzes every place hostile bytes enter shiftmesh (crates/shiftmesh-fuzz) with cargo-fuzz
# (libFuzzer), each target for SECONDS, starting from tests/corpus/TARGET. Anything that
# crashes or hangs a target is copied into tests/corpus/TARGET/, where scripts/test.sh replays
# it from then on, and the script fails.
# Usage: scripts/fuzz.sh SECONDS [TARGET...]   (default: every target)
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(sync_message announcement join_message document backup_merge index_snapshot csv_import invite)
FUZZ_DIR=crates/shiftmesh-fuzz/fuzz
# A single input taking longer than this counts as a hang.
TIMEOUT_SECS=10
RSS_LIMIT_MB=4096

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz (once)"
    cargo install cargo-fuzz --locked
fi
# cargo-fuzz needs nightly flags; the stable toolchain accepts them with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1

failed=()
for target in "${TARGETS[@]}"; do
    work=$(mktemp -d)
    cp tests/corpus/"$target"/* "$work"/ 2>/dev/null || true
    echo "fuzz: $target for ${SECONDS_PER_TARGET}s"
    if ! cargo fuzz run --fuzz-dir "$FUZZ_DIR" --sanitizer none "$target" "$work" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout="$TIMEOUT_SECS" \
        -rss_limit_mb="$RSS_LIMIT_MB" -print_final_stats=1 2>"$work.log"; then
        failed+=("$target")
        for crash in "$FUZZ_DIR"/artifacts/"$target"/*; do
            [ -f "$crash" ] || continue
            cp "$crash" tests/corpus/"$target"/"found-$(basename "$crash")"
            echo "fuzz: $target: kept $(basename "$crash") in tests/corpus/$target/"
        done
        tail -30 "$work.log"
    fi
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work.log" | sed "s/^/fuzz: $target: /" || true
    rm -rf "$work" "$work.log"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]} (the inputs are in tests/corpus/; make them clean errors)"
    exit 1
fi
echo "fuzz: ok: ${#TARGETS[@]} targets, ${SECONDS_PER_TARGET}s each, no crash, no hang"
