#!/usr/bin/env bash
#   One fuzz ctest: replays every crash regression of the target, then
#   fuzzes for a bounded time from its seed corpus. New inputs go to a temp
#   dir (the seed corpus in the source tree is never written).
#   Usage: run-ctest.sh <fuzz binary> <name> <seconds>
set -euo pipefail
binary=$1
name=$2
seconds=${3:-10}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/lw-fuzz-ctest.XXXXXX)
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

crashes=("$here/crashes/$name"/*)
if [ -e "${crashes[0]}" ]; then
    echo "fuzz_$name: replaying ${#crashes[@]} crash regression(s)"
    "$binary" -runs=1 "${crashes[@]}" >"$work/replay.log" 2>&1 || {
        cat "$work/replay.log"; echo "fuzz_$name: a regression input fails"
        exit 1
    }
fi
mkdir -p "$work/corpus"
echo "fuzz_$name: fuzzing for ${seconds}s"
if ! "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/" \
        "$work/corpus" "$here/corpus/$name" >"$work/fuzz.log" 2>&1; then
    tail -n 60 "$work/fuzz.log"
    for artifact in "$work"/crash-* "$work"/leak-* "$work"/timeout-* \
                    "$work"/oom-*; do
        [ -e "$artifact" ] && echo "artifact: $(basename "$artifact")" \
            && od -A d -t x1 "$artifact" | head -20
    done
    echo "fuzz_$name: FAILED"
    exit 1
fi
grep -E "stat::number_of_executed_units|^#[0-9]+.*DONE" "$work/fuzz.log" || true
echo "fuzz_$name: ok"
