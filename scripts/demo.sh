#!/usr/bin/env bash
# Builds the purchase demo (Release) and runs it.
#
#   BUILD_DIR  build directory (default: build)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-build}"
case "$build" in /*) ;; *) build="$repo/$build" ;; esac

"$repo/scripts/setup.sh"

cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DSAGA_BUILD_TESTS=OFF -DSAGA_BUILD_BENCH=OFF
cmake --build "$build" -j"$(nproc)" --target purchase_demo

status=0
"$build/demo/purchase_demo" || status=$?
exit "$status"
