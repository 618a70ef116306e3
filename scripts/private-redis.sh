# Sourced by test.sh and bench.sh: start_private_redis [redis-server args...]
# starts a redis-server on a free loopback port with its data in a temporary
# folder, exports SAGA_REDIS_URL, and stops it (removing the folder) on exit.
# start_private_redis_cluster MASTERS REPLICAS [redis-server args...] does
# the same for a Redis Cluster and exports SAGA_REDIS_CLUSTER_URL.

redis_dir="$(mktemp -d "${TMPDIR:-/tmp}/saga-redis.XXXXXX")"
redis_pid=""
redis_port=""
cluster_pids=()
stop_private_redis() {
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    redis_pid=""
  fi
  for pid in ${cluster_pids[@]+"${cluster_pids[@]}"}; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  cluster_pids=()
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

# Starts MASTERS * (1 + REPLICAS) redis-servers with cluster mode on free
# loopback ports (each with its bus on another free port: a port above
# 55535 has no +10000), joins them with redis-cli --cluster create and
# waits (bounded) until every node reports cluster_state:ok.
start_private_redis_cluster() {
  local masters="$1" replicas="$2"
  shift 2
  local total=$((masters * (1 + replicas))) seeds=() port bus dir i seed ok
  for i in $(seq 1 "$total"); do
    port="$(free_port)"
    bus="$(free_port)"
    [ "$bus" != "$port" ] || bus="$(free_port)"
    dir="$redis_dir/cluster-$i"
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --dir "$dir" \
      --cluster-enabled yes --cluster-port "$bus" \
      --cluster-config-file nodes.conf --daemonize no "$@" \
      >"$dir/redis.log" 2>&1 &
    cluster_pids+=($!)
    seeds+=("127.0.0.1:$port")
    ok=0
    for _ in $(seq 1 100); do
      if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = "PONG" ]; then
        ok=1
        break
      fi
      sleep 0.1
    done
    if [ "$ok" != 1 ]; then
      echo "redis-server (cluster node $i) did not start:" >&2
      cat "$dir/redis.log" >&2
      return 1
    fi
  done
  if ! redis-cli --cluster create "${seeds[@]}" --cluster-replicas "$replicas" \
         --cluster-yes >"$redis_dir/cluster-create.log" 2>&1; then
    echo "redis-cli --cluster create failed:" >&2
    cat "$redis_dir/cluster-create.log" >&2
    return 1
  fi
  for seed in "${seeds[@]}"; do
    ok=0
    for _ in $(seq 1 300); do
      if redis-cli -p "${seed##*:}" cluster info 2>/dev/null \
           | grep -q 'cluster_state:ok'; then
        ok=1
        break
      fi
      sleep 0.1
    done
    if [ "$ok" != 1 ]; then
      echo "redis cluster: $seed never reported cluster_state:ok" >&2
      return 1
    fi
  done
  SAGA_REDIS_CLUSTER_URL="redis+cluster://$(IFS=,; echo "${seeds[*]}")"
  export SAGA_REDIS_CLUSTER_URL
  echo "redis cluster of $masters masters ($replicas replicas each): $SAGA_REDIS_CLUSTER_URL"
}
