#!/usr/bin/env bash
# The standard benchmark suite (issue 9). Sets up (scripts/setup.sh), builds
# in Release, runs every benchmark against a private redis-server (appendonly
# yes, appendfsync everysec) on this machine, and writes docs/benchmarks.md
# and its plots (docs/bench/*.svg) from the results with bench_report. Budget:
# under 10 minutes on a fresh 2-core Debian 12 machine, setup and build
# included (the report lists each stage's time).
#
# Stages (each prints "== N. name"; timings go into the report):
#   1. setup             missing Debian packages (scripts/setup.sh)
#   2. build             Release build of the benchmark programs
#   3. machine           private redis-server; env.json: CPU, cores, RAM,
#                        kernel, versions, the Redis configuration
#   4. XADD ceiling      redis-benchmark's raw XADD rate on that server
#   5. throughput        saga_bench closed loop, 3-step sagas, memory and
#                        Redis journals at each concurrency level
#   6. failures          the same at the best concurrency with 10% failures
#                        (the last step fails, so two are compensated)
#   7. latency           saga_bench open loop on Redis at fractions of the best
#                        closed-loop Redis throughput of stage 5
#   8. in-flight memory  RSS with N sagas parked on the memory journal
#   9. recovery          100,000 unfinished sagas recovered from Redis
#  10. remote            participants on another node (saga_bench)
#  11. HTTP              participants over HTTP on loopback, memory journal,
#                        at 1 and the best memory concurrency of stage 5
#  12. failover          coordinator SIGKILL -> sagas resumed on a survivor
#  13. restart, fan-out  restart_latency and fanout_speedup
#  14. micro             micro_bench (Google Benchmark), if the target exists
#  15. report            bench_report: docs/benchmarks.md, docs/bench/*.svg
#
# A stage whose saga_bench mode does not exist yet (saga_bench exits 2, its
# usage error) or that times out is reported "not measured" with the reason;
# any other failure stops the suite.
#
# Environment (defaults in brackets):
#   BUILD_DIR           build directory [build-bench]; results go to
#                       $BUILD_DIR/bench-results (emptied first)
#   REPORT_DIR          where benchmarks.md and bench/*.svg go [docs]
#   DURATION, WARMUP    seconds measured / warmed up per saga_bench run [4, 1]
#   CONCURRENCY_LEVELS  closed-loop sagas in flight ["1 8 64 256 1024"]
#   LOAD_FRACTIONS      open-loop load, % of the best Redis throughput
#                       ["10 25 50 75 90"]
#   INFLIGHT_SIZES      parked sagas for the memory probe
#                       ["10000 100000 1000000"]
#   RECOVER_SAGAS       unfinished sagas to recover [100000]
#   FAILOVER_RUNS       cluster_failover runs [6]
#   STAGE_TIMEOUT       seconds one benchmark program may take [300]
#   PROBE_TIMEOUT       seconds one in-flight probe may take, parking its
#                       sagas and then stopping the runtime with them [180];
#                       a probe that times out is reported "not measured"
#   MICRO_ARGS          extra micro_bench arguments [none]
#   QUICK=1             a smoke run in about two minutes: short windows,
#                       small sizes (the figures then mean little)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-build-bench}"
case "$build" in /*) ;; *) build="$repo/$build" ;; esac
report_dir="${REPORT_DIR:-$repo/docs}"
case "$report_dir" in /*) ;; *) report_dir="$repo/$report_dir" ;; esac
results="$build/bench-results"

if [ "${QUICK:-0}" = 1 ]; then
  : "${DURATION:=1}" "${WARMUP:=0.5}" "${CONCURRENCY_LEVELS:=1 64 1024}"
  : "${LOAD_FRACTIONS:=10 50 90}" "${INFLIGHT_SIZES:=1000 10000}"
  : "${RECOVER_SAGAS:=1000}" "${FAILOVER_RUNS:=2}"
fi
duration="${DURATION:-4}"
warmup="${WARMUP:-1}"
levels="${CONCURRENCY_LEVELS:-1 8 64 256 1024}"
fractions="${LOAD_FRACTIONS:-10 25 50 75 90}"
inflight_sizes="${INFLIGHT_SIZES:-10000 100000 1000000}"
recover_sagas="${RECOVER_SAGAS:-100000}"
failover_runs="${FAILOVER_RUNS:-6}"
stage_timeout="${STAGE_TIMEOUT:-300}"
probe_timeout="${PROBE_TIMEOUT:-180}"
micro_args="${MICRO_ARGS:-}"

# -- helpers ---------------------------------------------------------------------

now() { date +%s.%N; }
seconds_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

suite_t0="$(now)"
loadavg_at_start="$(cut -d' ' -f1-3 /proc/loadavg)" # before our own work
stage_no=0
stage_name=""
stage_t0=""
# stage NAME: ends the previous stage (its time goes to stages.tsv), starts
# the next one.
stage() {
  end_stage
  stage_no=$((stage_no + 1))
  stage_name="$1"
  stage_t0="$(now)"
  echo
  echo "== $stage_no. $1 (at $(seconds_since "$suite_t0") s)"
}
end_stage() {
  if [ -n "$stage_name" ]; then
    local s
    s="$(seconds_since "$stage_t0")"
    printf '%s\t%s\t%s\n' "$stage_no" "$stage_name" "$s" >>"$results/stages.tsv"
    echo "   ($stage_name: $s s)"
    stage_name=""
  fi
}

fail() {
  echo "bench.sh: FAILED in stage $stage_no ($stage_name): $*" >&2
  exit 1
}

# run KIND NAME PROGRAM ARGS...: runs a benchmark program (for at most
# $run_timeout seconds) with its output in $results/NAME.log and prints the
# lines that are not progress. KIND is
#   required  any failure or timeout stops the suite;
#   optional  exit status 2 (saga_bench's usage error: a mode or option this
#             saga_bench does not have yet) or a timeout leaves
#             $results/NAME.skipped with the reason: the report says "not
#             measured"; any other failure stops the suite;
#   bounded   a timeout leaves NAME.skipped; any other failure stops the
#             suite.
run_timeout="$stage_timeout"
run() {
  local kind="$1" name="$2" rc=0
  shift 2
  local log="$results/$name.log"
  echo "-- $name: $(basename "$1") ${*:2}"
  timeout -k 10 "$run_timeout" "$@" >"$log" 2>&1 || rc=$?
  # saga_bench's summary starts with a line "saga_bench..." (what comes
  # before is progress); the other programs print results, progress lines
  # ("[...") and CAF log lines ("caf-saga: ...").
  if grep -q '^saga_bench' "$log"; then
    awk '/^saga_bench/ { p = 1 } p' "$log"
  else
    grep -v -e '^caf-saga:' -e '^\[' "$log" || true
  fi | sed 's/^/   /'
  if [ "$rc" -eq 0 ]; then
    return 0
  fi
  local reason="" skip=0
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    reason="timed out after $run_timeout s"
    local last
    last="$(grep -v '^\[' "$log" | tail -n 1 | cut -c1-160)"
    [ -z "$last" ] || reason="$reason; its last output: $last"
    if [ "$kind" != required ]; then skip=1; fi
  elif [ "$rc" -eq 2 ]; then
    reason="$(grep -m1 -e 'invalid value' -e 'unknown option' -e 'usage' "$log" || true)"
    reason="${reason:-exit status 2}"
    if [ "$kind" = optional ]; then skip=1; fi
  fi
  if [ "$skip" = 1 ]; then
    echo "$reason" >"$results/$name.skipped"
    rm -f "$results/$name.json"
    echo "   not measured: $reason"
    return 0
  fi
  tail -n 20 "$log" >&2
  fail "$name exited with status $rc${reason:+ ($reason)}; log: $log"
}

# saga_bench KIND NAME ARGS...: run with --json $results/NAME.json.
saga_bench() {
  local kind="$1" name="$2"
  shift 2
  run "$kind" "$name" "$build/bench/saga_bench" "$@" --json "$results/$name.json"
}

redis_cli() { redis-cli -p "$redis_port" "$@"; }
flush_redis() { redis_cli FLUSHALL >/dev/null; }

# json_str TEXT: TEXT as a JSON string.
json_str() {
  local s="$1"
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  s="${s//$'\t'/ }"
  s="${s//$'\n'/ }"
  printf '"%s"' "$s"
}
pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
# Percentage of all cores' time that was busy (anything but idle and iowait)
# during one second: other processes competing with the benchmarks.
cpu_busy_percent() {
  local s1 s2
  s1="$(head -1 /proc/stat)"
  sleep 1
  s2="$(head -1 /proc/stat)"
  awk -v a="$s1" -v b="$s2" 'BEGIN {
    split(a, x); split(b, y); t = 0
    for (i = 2; i <= 9; i++) t += y[i] - x[i]
    idle = (y[5] - x[5]) + (y[6] - x[6])
    printf "%.0f", (t > 0 ? 100 * (t - idle) / t : 0) }'
}

rm -rf "$results"
mkdir -p "$results"

# -- 1. setup ----------------------------------------------------------------------
stage "setup"
"$repo/scripts/setup.sh"

# -- 2. build ----------------------------------------------------------------------
stage "build"
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DSAGA_BUILD_TESTS=OFF -DSAGA_BUILD_BENCH=ON -DSAGA_BUILD_DEMO=ON >/dev/null
targets=(saga_bench bench_report cluster_failover restart_latency fanout_speedup)
# micro_bench only where bench/CMakeLists.txt defines it.
has_micro=0
build_targets="$(cmake --build "$build" --target help 2>/dev/null || true)"
if grep -qw micro_bench <<<"$build_targets"; then
  has_micro=1
  targets+=(micro_bench)
fi
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" \
  || fail "build (targets ${targets[*]})"

# -- 3. machine --------------------------------------------------------------------
stage "machine, private redis-server"
. "$repo/scripts/private-redis.sh"
start_private_redis --appendonly yes --appendfsync everysec
redis_conf() { redis_cli CONFIG GET "$1" | sed -n 2p; }
cpu="$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)"
[ -n "$cpu" ] || cpu="$(uname -m)"
mem_kb="$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo "?")"
if [ -n "$(git -C "$repo" status --porcelain 2>/dev/null | head -1)" ]; then
  commit="$commit with uncommitted changes"
fi
os="$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-?}")"
{
  echo "{"
  echo "  \"date\": $(json_str "$(date -u '+%Y-%m-%d %H:%M UTC')"),"
  echo "  \"commit\": $(json_str "$commit"),"
  echo "  \"cpu_model\": $(json_str "$cpu"),"
  echo "  \"cores\": $(nproc),"
  echo "  \"ram_bytes\": $((mem_kb * 1024)),"
  echo "  \"kernel\": $(json_str "$(uname -sr)"),"
  echo "  \"os\": $(json_str "$os"),"
  echo "  \"loadavg_at_start\": $(json_str "$loadavg_at_start"),"
  echo "  \"cpu_busy_percent_before_measuring\": $(cpu_busy_percent),"
  echo "  \"versions\": {"
  echo "    \"g++\": $(json_str "$(g++ -dumpfullversion 2>/dev/null || echo "?")"),"
  echo "    \"cmake\": $(json_str "$(cmake --version | head -1 | awk '{ print $3 }')"),"
  echo "    \"CAF (libcaf-dev)\": $(json_str "$(pkg_version libcaf-dev)"),"
  echo "    \"hiredis (libhiredis-dev)\": $(json_str "$(pkg_version libhiredis-dev)"),"
  echo "    \"redis-server\": $(json_str "$(redis_cli INFO server | tr -d '\r' | awk -F: '/^redis_version:/ { print $2 }')"),"
  echo "    \"nlohmann-json\": $(json_str "$(pkg_version nlohmann-json3-dev)"),"
  echo "    \"Google Benchmark\": $(json_str "$(pkg_version libbenchmark-dev)")"
  echo "  },"
  echo "  \"redis\": {"
  echo "    \"appendonly\": $(json_str "$(redis_conf appendonly)"),"
  echo "    \"appendfsync\": $(json_str "$(redis_conf appendfsync)"),"
  echo "    \"save\": $(json_str "$(redis_conf save)"),"
  echo "    \"where\": \"a private redis-server on 127.0.0.1 (TCP), same machine and cores as the benchmark\""
  echo "  },"
  echo "  \"settings\": {"
  echo "    \"build_type\": \"Release\","
  echo "    \"duration_s\": $duration,"
  echo "    \"warmup_s\": $warmup,"
  echo "    \"concurrency_levels\": $(json_str "$levels"),"
  echo "    \"load_fractions\": $(json_str "$fractions"),"
  echo "    \"inflight_sizes\": $(json_str "$inflight_sizes"),"
  echo "    \"recover_sagas\": $recover_sagas,"
  echo "    \"failover_runs\": $failover_runs,"
  echo "    \"quick\": $([ "${QUICK:-0}" = 1 ] && echo true || echo false)"
  echo "  }"
  echo "}"
} >"$results/env.json"
cat "$results/env.json"

# -- 4. redis: the raw ceiling ---------------------------------------------------
stage "redis-benchmark XADD ceiling"
# CSV rows "test","rps",...; bench_report reads the rps.
rb() {
  local name="$1"
  shift
  echo "-- $name: redis-benchmark $*"
  redis-benchmark -p "$redis_port" --csv "$@" >"$results/$name.csv" \
    || fail "redis-benchmark $*"
  sed -n 2p "$results/$name.csv" | sed 's/^/   /'
}
rb redis_xadd_one_stream_p1 -n 100000 -P 1 XADD bench:raw '*' f v
rb redis_xadd_one_stream_p32 -n 1000000 -P 32 XADD bench:raw '*' f v
# -r: __rand_int__ is replaced by a random number below 10^9, so (nearly)
# every XADD creates a new stream.
rb redis_xadd_new_stream_p32 -n 200000 -P 32 -r 1000000000 \
  XADD 'bench:__rand_int__' '*' f v
flush_redis

# -- 5. throughput: closed loop ----------------------------------------------------
stage "throughput (closed loop, 3 steps, memory and Redis)"
common=(--steps 3 --duration "$duration" --warmup "$warmup" --inflight-probe 0)
for c in $levels; do
  saga_bench required "closed_memory_c$c" --journal memory --concurrency "$c" "${common[@]}"
done
for c in $levels; do
  flush_redis
  saga_bench required "closed_redis_c$c" --journal redis --redis "$SAGA_REDIS_URL" \
    --concurrency "$c" "${common[@]}"
done
read -r best_mem_rate best_mem_c <<<"$("$build/bench/bench_report" --results "$results" --best memory)"
read -r best_redis_rate best_redis_c <<<"$("$build/bench/bench_report" --results "$results" --best redis)"
echo "-- best: memory $best_mem_rate sagas/s at $best_mem_c in flight; redis $best_redis_rate sagas/s at $best_redis_c in flight"

# -- 6. failures -------------------------------------------------------------------
stage "failures (10%, best concurrency)"
saga_bench required failure_memory --journal memory --concurrency "$best_mem_c" \
  --failure-rate 0.1 "${common[@]}"
flush_redis
saga_bench required failure_redis --journal redis --redis "$SAGA_REDIS_URL" \
  --concurrency "$best_redis_c" --failure-rate 0.1 "${common[@]}"

# -- 7. latency: open loop on Redis ------------------------------------------------
stage "latency (open loop, Redis)"
for f in $fractions; do
  rate="$(awk -v r="$best_redis_rate" -v f="$f" 'BEGIN { x = r * f / 100; printf "%.0f", (x < 1 ? 1 : x) }')"
  flush_redis
  saga_bench required "open_redis_f$f" --journal redis --redis "$SAGA_REDIS_URL" \
    --rate "$rate" "${common[@]}"
done

# -- 8. in-flight memory -----------------------------------------------------------
stage "in-flight memory (memory journal)"
# --duration 0 means "the probe only" in newer saga_bench builds; older ones
# refuse it (exit 2) and get a 0.1 s load run after the probe instead.
probe_args=(--duration 0)
rc=0
"$build/bench/saga_bench" --journal memory --inflight-probe 10 --duration 0 \
  --warmup 0 >/dev/null 2>&1 || rc=$?
if [ "$rc" -eq 2 ]; then
  probe_args=(--duration 0.1 --concurrency 1)
  echo "-- this saga_bench has no probe-only mode (--duration 0): a 0.1 s load run follows each probe"
fi
# Each probe gets PROBE_TIMEOUT seconds; after one times out, the larger ones
# are not run (they would only take longer).
run_timeout="$probe_timeout"
too_slow=""
for n in $inflight_sizes; do
  if [ -n "$too_slow" ]; then
    echo "not run: the $too_slow probe timed out" | tee "$results/inflight_$n.skipped"
    continue
  fi
  saga_bench bounded "inflight_$n" --journal memory --steps 3 --warmup 0 \
    --inflight-probe "$n" "${probe_args[@]}"
  [ -f "$results/inflight_$n.skipped" ] && too_slow="$n"
done
run_timeout="$stage_timeout"

# -- 9. recovery -------------------------------------------------------------------
stage "recovery ($recover_sagas unfinished sagas, Redis)"
flush_redis
saga_bench optional recover --journal redis --redis "$SAGA_REDIS_URL" \
  --recover "$recover_sagas"

# -- 10. remote participants -------------------------------------------------------
stage "remote participants (Redis)"
flush_redis
saga_bench optional remote_redis --journal redis --redis "$SAGA_REDIS_URL" \
  --participants remote --concurrency "$best_redis_c" "${common[@]}"

# -- 11. participants over HTTP ----------------------------------------------------
stage "participants over HTTP (memory journal)"
# Next to stage 5's in-process runs at the same concurrency (1 and the
# best memory one): what an HTTP step adds.
for c in $(printf '%s\n' 1 "$best_mem_c" | sort -un); do
  saga_bench optional "http_memory_c$c" --journal memory --participants http \
    --concurrency "$c" "${common[@]}"
done

# -- 12. failover ------------------------------------------------------------------
stage "coordinator failover"
# Its own private redis-server per run (appendonly yes, everysec).
run required failover "$build/bench/cluster_failover" --runs "$failover_runs" \
  --sagas 50 --lease 1s --json "$results/failover.json"

# -- 13. restart latency, fan-out ------------------------------------------------
stage "restart latency, fan-out"
flush_redis
run required restart_latency_memory "$build/bench/restart_latency" --crashes 200
run required restart_latency_redis "$build/bench/restart_latency" \
  --journal "$SAGA_REDIS_URL" --crashes 200
run required fanout_memory "$build/bench/fanout_speedup"
run required fanout_redis "$build/bench/fanout_speedup" --journal "$SAGA_REDIS_URL"

# -- 14. micro benchmarks ----------------------------------------------------------
stage "micro benchmarks"
if [ "$has_micro" = 1 ] && [ -x "$build/bench/micro_bench" ]; then
  # shellcheck disable=SC2086 # MICRO_ARGS is a list of arguments
  run required micro "$build/bench/micro_bench" --benchmark_out_format=json \
    --benchmark_out="$results/micro.json" $micro_args
else
  echo "no micro_bench target in bench/CMakeLists.txt" | tee "$results/micro.skipped"
fi

# -- 15. report --------------------------------------------------------------------
stage "report"
stop_private_redis
end_stage
total="$(seconds_since "$suite_t0")"
"$build/bench/bench_report" --results "$results" --docs "$report_dir" \
  --total-seconds "$total" || fail "bench_report"
echo
echo "== done in $total s: $report_dir/benchmarks.md, $report_dir/bench/*.svg (results: $results)"
