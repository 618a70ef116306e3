#!/usr/bin/env bash
# Checks the formatting (scripts/lint.sh format), builds caf-saga with
# AddressSanitizer + UBSan (Debug), runs clang-tidy on the files of the last
# commit (scripts/lint.sh tidy, at most 16 units: all ~106 would take
# 10-12 minutes), and runs every test under CTest, with a private
# redis-server on a free loopback port; then builds the fuzz targets with
# clang and runs each under libFuzzer briefly.
#
#   BUILD_DIR     build directory (default: build-test; the fuzz targets'
#                 clang build goes beside it, <BUILD_DIR>-fuzz)
#   TIDY_BASE     clang-tidy checks the files changed since this commit
#                 (default: HEAD~1; before pushing several commits, give
#                 the last one CI saw)
#   FUZZ_SECONDS  seconds of libFuzzer per target (default: 8; the suite
#                 stays under 30 minutes on 2 cores)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-build-test}"
case "$build" in /*) ;; *) build="$repo/$build" ;; esac

"$repo/scripts/setup.sh"

# -- formatting (.clang-format; scripts/lint.sh format --fix repairs it) ---------
lint_status=0
"$repo/scripts/lint.sh" format || lint_status=1

# Line tables only (-g1): sanitizer reports keep file:line, and the build
# is about 5-10% faster than with full debug information (one test file:
# 29.8 s against 33.3 s; the whole tree on 2 cores: 1,060 s). gold links
# the sanitized test programs faster than ld.bfd (engine_tests: 4.3 s
# against 5.5 s; about 30 programs).
cmake -S "$repo" -B "$build" \
  -DCMAKE_BUILD_TYPE=Debug -DSAGA_SANITIZE=ON -DSAGA_BUILD_BENCH=OFF \
  -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
  -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=gold
cmake --build "$build" -j"$(nproc)"

# -- clang-tidy on what the last commit changed (.clang-tidy) ---------------------
tidy_base="${TIDY_BASE:-HEAD~1}"
if git -C "$repo" rev-parse -q --verify "$tidy_base^{commit}" >/dev/null; then
  BUILD_DIR="$build" TIDY_UNITS_MAX="${TIDY_UNITS_MAX:-16}" \
    "$repo/scripts/lint.sh" tidy "$tidy_base" || lint_status=1
else
  echo "lint: tidy: no commit '$tidy_base' here (a shallow clone): skipped"
fi

# -- a private redis-server -----------------------------------------------------
# shellcheck source=scripts/private-redis.sh
. "$repo/scripts/private-redis.sh"
start_private_redis --appendonly no

# -- run the tests ----------------------------------------------------------------
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="suppressions=$repo/scripts/ubsan.supp:halt_on_error=1:print_stacktrace=1"

status=0
# The fuzz targets' clang build (niced) runs while the tests do: most tests
# wait on sockets, timers and child processes, and every test must pass on
# a busy machine anyway. This saves the build's 4-5 minutes of wall time.
BUILD_DIR="$build-fuzz" FUZZ_BUILD_ONLY=1 "$repo/scripts/fuzz.sh" \
  > "$build-fuzz.build.log" 2>&1 &
fuzz_build=$!
# Interrupted, the build stops with the private redis-server.
trap 'kill "$fuzz_build" 2>/dev/null || true; stop_private_redis' EXIT
# Every fuzz target's seeds and regressions run as ctest tests
# (fuzz_<target>_seeds, under ASan + UBSan).
ctest --test-dir "$build" --output-on-failure -j2 --timeout 300 || status=$?
fuzz_build_status=0
wait "$fuzz_build" || fuzz_build_status=$?
cat "$build-fuzz.build.log"
[ "$fuzz_build_status" -eq 0 ] || status=1

# -- a short libFuzzer run of every target (docs/fuzzing.md) ---------------------
# Its own clang build beside this one (made above); a fixed libFuzzer seed,
# so a run explores the same inputs first and a failure here reproduces
# with the same command. Long runs: scripts/fuzz.sh 600.
BUILD_DIR="$build-fuzz" FUZZ_FLAGS="-seed=1" \
  "$repo/scripts/fuzz.sh" "${FUZZ_SECONDS:-8}" || status=$?
[ "$lint_status" -eq 0 ] || status=1
exit "$status"
