#!/usr/bin/env bash
#   Runs the whole linewatch test suite twice: a normal build, then an
#   ASan+UBSan build (-DLW_SANITIZE=ON). Exit status 0 only if both pass.
#   Usage: tests/run.sh [ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
status=0
for variant in normal sanitize; do
    dir=build-test-$variant
    flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
    [ "$variant" = sanitize ] && flags+=(-DLW_SANITIZE=ON)
    echo "=== $variant build ($dir)"
    cmake -S . -B "$dir" "${flags[@]}" >/dev/null
    cmake --build "$dir" -j"$jobs"
    echo "=== $variant tests"
    if ! ctest --test-dir "$dir" --output-on-failure -j"$jobs" "$@"; then
        status=1
    fi
done
exit $status
