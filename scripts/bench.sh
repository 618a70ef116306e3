#!/usr/bin/env bash
# Builds the benchmarks (Release) and runs them; extra arguments go to the
# benchmark binary, e.g. scripts/bench.sh --benchmark_filter=latency
#
#   BUILD_DIR  build directory (default: build-bench)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-build-bench}"
case "$build" in /*) ;; *) build="$repo/$build" ;; esac

"$repo/scripts/setup.sh"

cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DSAGA_BUILD_TESTS=OFF -DSAGA_BUILD_BENCH=ON
cmake --build "$build" -j"$(nproc)" --target saga_latency_bench

status=0
"$build/bench/saga_latency_bench" "$@" || status=$?
exit "$status"
