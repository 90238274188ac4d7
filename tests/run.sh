#!/usr/bin/env bash
#   Runs the whole linewatch test suite twice: a normal build, then an
#   ASan+UBSan build (-DLW_SANITIZE=ON). Exit status 0 only if both pass.
#   Usage: tests/run.sh [ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
status=0
#  Sanitizer reports are fatal: leaks fail the test (LeakSanitizer), and
#  UBSan halts (the build also sets -fno-sanitize-recover)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
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

#  Third build: the libFuzzer targets (tests/fuzz), each replaying its
#  crash regressions and fuzzing for a short bounded time. Needs clang and
#  its fuzzer runtime (Debian: clang, libclang-rt-14-dev).
probe=$(mktemp -d)
echo 'int LLVMFuzzerTestOneInput (const char *d, long s) { (void) d; (void) s; return 0; }' \
    >"$probe/probe.c"
if command -v clang >/dev/null \
   && clang -fsanitize=fuzzer,address,undefined "$probe/probe.c" \
        -o "$probe/probe" 2>/dev/null; then
    dir=build-test-fuzz
    echo "=== fuzz build ($dir)"
    CC=clang cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DLW_FUZZ=ON >/dev/null
    cmake --build "$dir" -j"$jobs" --target fuzz_all
    echo "=== fuzz tests"
    if ! ctest --test-dir "$dir" --output-on-failure -L fuzz "$@"; then
        status=1
    fi
else
    echo "=== fuzz build skipped: clang with libFuzzer not found" \
         "(install clang libclang-rt-14-dev)"
fi
rm -rf "$probe"
exit $status
