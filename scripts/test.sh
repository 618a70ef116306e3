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
redis_dir="$(mktemp -d "${TMPDIR:-/tmp}/saga-redis.XXXXXX")"
redis_pid=""
cleanup() {
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$redis_dir"
}
trap cleanup EXIT

trap 'exit 130' INT
trap 'exit 143' TERM

# Prints a loopback port nothing listens on (bash /dev/tcp probe: a refused
# connection means free). Needs no python on a fresh machine.
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  echo "test: no free loopback port found" >&2
  return 1
}

# Start it on a free port; retry with another port if one was taken between
# the probe and the bind. Waiting for PONG is bounded (about 10 s per try).
port=""
for _attempt in 1 2 3; do
  port="$(free_port)"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$redis_dir" --daemonize no >"$redis_dir/redis.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 1 100); do
    if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = "PONG" ]; then
      break 2
    fi
    kill -0 "$redis_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$redis_pid" 2>/dev/null || true
  wait "$redis_pid" 2>/dev/null || true
  redis_pid=""
done
if [ -z "$redis_pid" ]; then
  echo "test: redis-server did not start:" >&2
  cat "$redis_dir/redis.log" >&2 || true
  exit 1
fi
echo "test: redis-server listening on 127.0.0.1:$port"
export SAGA_REDIS_URL="redis://127.0.0.1:$port"

# -- run the tests ----------------------------------------------------------------
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="suppressions=$repo/scripts/ubsan.supp:halt_on_error=1:print_stacktrace=1"

status=0
ctest --test-dir "$build" --output-on-failure -j2 --timeout 300 || status=$?
exit "$status"
