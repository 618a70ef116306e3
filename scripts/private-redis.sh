# Sourced by test.sh and bench.sh: start_private_redis [redis-server args...]
# starts a redis-server on a free loopback port with its data in a temporary
# folder, exports SAGA_REDIS_URL, and stops it (removing the folder) on exit.

redis_dir="$(mktemp -d "${TMPDIR:-/tmp}/saga-redis.XXXXXX")"
redis_pid=""
redis_port=""
stop_private_redis() {
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    redis_pid=""
  fi
  rm -rf "$redis_dir"
}
trap stop_private_redis EXIT
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
  echo "no free loopback port found" >&2
  return 1
}

# Starts it on a free port; retries with another port if one was taken
# between the probe and the bind. Waiting for PONG is bounded (about 10 s
# per try): this is process start-up, not test synchronization.
start_private_redis() {
  for _attempt in 1 2 3; do
    redis_port="$(free_port)"
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' \
      --dir "$redis_dir" --daemonize no "$@" >"$redis_dir/redis.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 1 100); do
      if [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = "PONG" ]; then
        echo "redis-server listening on 127.0.0.1:$redis_port $*"
        export SAGA_REDIS_URL="redis://127.0.0.1:$redis_port"
        return 0
      fi
      kill -0 "$redis_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    redis_pid=""
  done
  echo "redis-server did not start:" >&2
  cat "$redis_dir/redis.log" >&2 || true
  return 1
}
