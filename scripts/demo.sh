#!/usr/bin/env bash
# Builds the demo (Release) and runs it: purchases and cross-server trades
# between many players on four saga_node processes (account-server,
# inventory-server, log-server, orchestrator) while steps fail, steps hang
# past their timeouts, a server and the orchestrator are killed and
# restarted. Ends with a conservation check; exits non-zero if it fails.
#
#   scripts/demo.sh [demo options]     see scripts/demo.sh --help
#   scripts/demo.sh --journal memory   the same in one process, no Redis
#   scripts/demo.sh --http             the log server is an HTTP service:
#                                      demo/log_service.py, run by python3
#                                      (with either journal)
#
#   BUILD_DIR       build directory (default: build)
#   SAGA_REDIS_URL  use this Redis instead of a private redis-server
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-build}"
case "$build" in /*) ;; *) build="$repo/$build" ;; esac

"$repo/scripts/setup.sh" >/dev/null

cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DSAGA_BUILD_TESTS=OFF -DSAGA_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target purchase_demo saga_node >/dev/null

memory=no
for arg in "$@"; do
  case "$arg" in
    memory) memory=yes ;;
    --help|-h) exec "$build/demo/purchase_demo" --help ;;
  esac
done

logs="$(mktemp -d)"
if [ "$memory" = no ] && [ -z "${SAGA_REDIS_URL:-}" ]; then
  # shellcheck source=scripts/private-redis.sh
  . "$repo/scripts/private-redis.sh"
  start_private_redis --appendonly yes --appendfsync everysec >/dev/null
fi

status=0
"$build/demo/purchase_demo" --logs "$logs" "$@" || status=$?
# The nodes' logs are kept only when something went wrong.
if [ "$status" -eq 0 ]; then
  rm -rf "$logs"
else
  echo "node logs: $logs" >&2
fi
exit "$status"
