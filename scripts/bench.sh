#!/usr/bin/env bash
# Builds the benchmarks (Release) and runs them:
#  1. saga_latency_bench (Google Benchmark): in-memory 3-step saga latency
#     and throughput; extra arguments go to it, e.g.
#     scripts/bench.sh --benchmark_filter=latency
#  2. saga_throughput on the memory journal and on a private redis-server with
#     appendonly yes / appendfsync everysec (sagas/s, p50/p99, commands/saga);
#  3. restart_latency: crash-to-resumed latency of supervised saga actors;
#  4. fanout_speedup: a 10-way fan-out of 5 ms steps vs the same in a row;
#  5. redis-benchmark's raw XADD rate on the same server, for comparison;
#  6. cluster_failover: time from a coordinator's SIGKILL to its sagas
#     resuming on a surviving node (saga_node processes, lease 1s);
#  7. remote_throughput: sagas/s with participants on another node vs
#     in-process.
#
#   BUILD_DIR  build directory (default: build-bench)
#   SAGAS      sagas per throughput run (default 20000)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-build-bench}"
case "$build" in /*) ;; *) build="$repo/$build" ;; esac
sagas="${SAGAS:-20000}"

"$repo/scripts/setup.sh"

cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DSAGA_BUILD_TESTS=OFF -DSAGA_BUILD_BENCH=ON
cmake --build "$build" -j"$(nproc)" --target saga_latency_bench saga_throughput \
  restart_latency fanout_speedup

echo "== saga_latency_bench (memory journal)"
"$build/bench/saga_latency_bench" "$@"

echo "== saga_throughput, memory journal"
"$build/bench/saga_throughput" --journal memory:// --sagas "$sagas"

# shellcheck source=scripts/private-redis.sh
. "$repo/scripts/private-redis.sh"
start_private_redis --appendonly yes --appendfsync everysec

echo "== saga_throughput, redis journal (appendonly yes, appendfsync everysec)"
for barrier in on off; do
  "$build/bench/saga_throughput" --journal "$SAGA_REDIS_URL" --sagas "$sagas" \
    --barrier "$barrier"
done

echo "== restart_latency: crash of a saga actor -> in-flight step re-sent"
"$build/bench/restart_latency" --crashes 200 | grep -v '^caf-saga'
"$build/bench/restart_latency" --journal "$SAGA_REDIS_URL" --crashes 200 \
  | grep -v '^caf-saga'

echo "== fanout_speedup: 10-way fan-out of 5 ms steps vs the same steps in a row"
"$build/bench/fanout_speedup"
"$build/bench/fanout_speedup" --journal "$SAGA_REDIS_URL"

echo "== redis-benchmark: raw XADD into one stream, same server"
redis-benchmark -p "$redis_port" -q -n 200000 -P 1 XADD bench:raw '*' f v
redis-benchmark -p "$redis_port" -q -n 500000 -P 32 XADD bench:raw '*' f v

# Clusters of saga_node processes (each binary starts its own private
# redis-server, appendonly yes / appendfsync everysec):
#  6. cluster_failover: coordinator SIGKILL -> its sagas resumed on another
#     node (FAILOVER_RUNS runs, default 10; lease 1s);
#  7. remote_throughput: participants on another node vs in-process.
cmake --build "$build" -j"$(nproc)" --target cluster_failover remote_throughput

echo "== cluster_failover: coordinator SIGKILL -> sagas resumed on a survivor (lease 1s)"
"$build/bench/cluster_failover" --runs "${FAILOVER_RUNS:-10}" --sagas 50 --lease 1s

echo "== remote_throughput: participants on another node vs in-process (redis journal)"
"$build/bench/remote_throughput" --sagas "$sagas" --concurrency 200
