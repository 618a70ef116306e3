#!/usr/bin/env bash
# A seeded chaos campaign (issue 11, docs/chaos.md): builds in Release (in
# its own build directory), then runs chaos_campaign: a private redis-server
# (appendonly yes, appendfsync always), two coordinating saga_node
# processes and two nodes per game server on 127.0.0.1; purchases and trades
# at a steady rate while participants fail and time out, step commands are
# duplicated and delayed, nodes are killed (SIGKILL) and paused
# (SIGSTOP/SIGCONT) and Redis is killed and restarted from its AOF. Then the
# checker verifies the invariants and prints the report. Exits with the
# campaign's status: 0 pass, 1 an invariant was violated (the report names
# the seed that reproduces it), 2 the cluster could not be run.
#
#   scripts/chaos.sh [--seed N] [--duration 120s] [--long] [campaign options]
#
#   --seed N        the seed (default: a random one, printed)
#   --duration D    how long sagas are started (default 120s; 90s, 5m, ...)
#   --long          a 30-minute campaign (--duration 30m)
#   other options go to chaos_campaign (scripts/chaos.sh --help lists them)
#
#   BUILD_DIR       build directory [build-chaos]
#   CHAOS_LOGS      where the node and Redis logs go [$BUILD_DIR/chaos-logs/
#                   <seed>-<time>]; kept when the campaign fails
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-build-chaos}"
case "$build" in /*) ;; *) build="$repo/$build" ;; esac

seed=""
duration="120s"
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) seed="${2:?--seed needs a value}"; shift 2 ;;
    --seed=*) seed="${1#--seed=}"; shift ;;
    --duration) duration="${2:?--duration needs a value}"; shift 2 ;;
    --duration=*) duration="${1#--duration=}"; shift ;;
    --long) duration="30m"; shift ;;
    --help|-h) help=1; shift ;;
    *) extra+=("$1"); shift ;;
  esac
done
if [ -z "$seed" ]; then
  seed="$(( (RANDOM << 15 | RANDOM) % 1000000 ))"
fi

"$repo/scripts/setup.sh" >/dev/null

cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DSAGA_BUILD_TESTS=OFF -DSAGA_BUILD_BENCH=OFF -DSAGA_BUILD_DEMO=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target chaos_campaign saga_node sagactl \
  >/dev/null

if [ "${help:-0}" = 1 ]; then
  exec "$build/demo/chaos_campaign" --help
fi

logs="${CHAOS_LOGS:-$build/chaos-logs/$seed-$(date +%Y%m%d-%H%M%S)}"
exec "$build/demo/chaos_campaign" --seed "$seed" --duration "$duration" \
  --logs "$logs" ${extra[@]+"${extra[@]}"}
