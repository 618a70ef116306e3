#!/usr/bin/env bash
# Builds caf-saga with AddressSanitizer + UBSan (Debug) and runs every test
# under CTest, with a private redis-server on a free loopback port.
#
#   BUILD_DIR  build directory (default: build-test)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-build-test}"
case "$build" in /*) ;; *) build="$repo/$build" ;; esac

"$repo/scripts/setup.sh"

cmake -S "$repo" -B "$build" \
  -DCMAKE_BUILD_TYPE=Debug -DSAGA_SANITIZE=ON -DSAGA_BUILD_BENCH=OFF
cmake --build "$build" -j"$(nproc)"

# -- a private redis-server -----------------------------------------------------
# shellcheck source=scripts/private-redis.sh
. "$repo/scripts/private-redis.sh"
start_private_redis --appendonly no

# -- run the tests ----------------------------------------------------------------
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="suppressions=$repo/scripts/ubsan.supp:halt_on_error=1:print_stacktrace=1"

status=0
# Every fuzz target's seeds and regressions run as ctest tests
# (fuzz_<target>_seeds, under ASan + UBSan); libFuzzer itself runs with
# scripts/fuzz.sh (clang), outside CI's time budget.
ctest --test-dir "$build" --output-on-failure -j2 --timeout 300 || status=$?
exit "$status"
