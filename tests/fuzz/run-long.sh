#!/usr/bin/env bash
#   Runs every libFuzzer target for a long time, one after the other, and
#   prints per target: executions, edge coverage, corpus size and result.
#   Usage: tests/fuzz/run-long.sh [seconds per target (default 600)]
#                                 [targets... (default: all)]
#   Env: LW_FUZZ_BUILD (default build-fuzz), built if missing, with clang.
#   The corpus grows in <build>/fuzz-corpus/<target> (kept between runs);
#   crashes land in <build>/fuzz-artifacts/.
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(msg csv cfg alertdb lineproto mqtt)
build=${LW_FUZZ_BUILD:-build-fuzz}
if [ ! -f "$build/CMakeCache.txt" ]; then
    CC=clang cmake -S . -B "$build" -DLW_FUZZ=ON \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
fi
cmake --build "$build" -j2 --target fuzz_all >/dev/null || exit 1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$build/fuzz-artifacts"
status=0
printf '%-10s %12s %10s %8s %9s %s\n' target executions exec/s cov ft result
for name in "${targets[@]}"; do
    binary=$build/tests/fuzz/fuzz_$name
    corpus=$build/fuzz-corpus/$name
    log=$build/fuzz-artifacts/$name.log
    mkdir -p "$corpus"
    "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$name-" \
        "$corpus" tests/fuzz/corpus/"$name" >"$log" 2>&1
    rc=$?
    units=$(awk '/^stat::number_of_executed_units:/ {print $2}' "$log")
    speed=$(awk '/^stat::average_exec_per_sec:/ {print $2}' "$log")
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    result=ok
    if [ $rc -ne 0 ]; then
        result="FAILED (rc=$rc, see $log)"
        status=1
    fi
    printf '%-10s %12s %10s %8s %9s %s\n' "$name" "${units:-?}" \
        "${speed:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit $status
