#!/usr/bin/env bash
# What the Redis deployment costs a saga: saga_bench (3-step sagas, barrier
# on, appendonly yes + everysec) on private servers of this machine, in
# turns within one run, so that ratios hold where absolute figures move
# between machines:
#
#   single   one redis-server over TCP (the reference)
#   tls      the same server through its TLS port (rediss://, a CA the
#            script makes with openssl)
#   wait     a server with one replica, --journal-replicas 1 (one WAIT per
#            pipeline)
#   cluster  a Redis Cluster of 3 masters without replicas
#            (redis+cluster://)
#
# Prints one line per run and a table of means with each variant's ratio to
# single at the same concurrency. Redis CPU is summed over every
# redis-server of the variant (/proc, whole run including warm-up).
#
# Usage: scripts/bench-redis.sh   (environment, defaults in brackets)
#   BUILD_DIR           a Release build with bench/saga_bench [build-bench]
#   VARIANTS            ["single tls wait cluster"]
#   CONCURRENCY_LEVELS  ["1 64"]
#   PAIRS               rounds over the variants [3]
#   DURATION, WARMUP    seconds per saga_bench run [5, 2]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${BUILD_DIR:-build-bench}"
bench="$build_dir/bench/saga_bench"
variants="${VARIANTS:-single tls wait cluster}"
levels="${CONCURRENCY_LEVELS:-1 64}"
pairs="${PAIRS:-3}"
duration="${DURATION:-5}"
warmup="${WARMUP:-2}"
if [ ! -x "$bench" ]; then
  echo "bench-redis: no $bench: build it first (cmake -B $build_dir" \
    "-DCMAKE_BUILD_TYPE=Release && cmake --build $build_dir --target" \
    "saga_bench)" >&2
  exit 2
fi

. scripts/private-redis.sh
persist=(--appendonly yes --appendfsync everysec)

# -- the servers -----------------------------------------------------------------
declare -A url pids flush_ports
certs="$redis_dir/certs"
mkdir -p "$certs"
make_certs() {
  local key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${key[@]}" -keyout "$certs/ca.key" -out "$certs/ca.crt" \
    -days 2 -subj "/CN=bench-redis ca" 2>/dev/null
  openssl req "${key[@]}" -keyout "$certs/server.key" \
    -out "$certs/server.csr" -subj "/CN=server" 2>/dev/null
  echo "subjectAltName=IP:127.0.0.1" >"$certs/server.ext"
  openssl x509 -req -in "$certs/server.csr" -CA "$certs/ca.crt" \
    -CAkey "$certs/ca.key" -set_serial 1 -days 2 \
    -extfile "$certs/server.ext" -out "$certs/server.crt" 2>/dev/null
}

start_single() {
  local tls_port
  tls_port="$(free_port)"
  make_certs
  start_private_redis "${persist[@]}" --tls-port "$tls_port" \
    --tls-cert-file "$certs/server.crt" --tls-key-file "$certs/server.key" \
    --tls-ca-cert-file "$certs/ca.crt" --tls-auth-clients no >/dev/null
  url[single]="$SAGA_REDIS_URL"
  url[tls]="rediss://127.0.0.1:$tls_port?ca_file=$certs/ca.crt"
  pids[single]="$redis_pid"
  pids[tls]="$redis_pid"
  flush_ports[single]="$redis_port"
  flush_ports[tls]="$redis_port"
}

# A master and its replica (no cluster: one master suffices for WAIT).
start_replicated() {
  local mport rport i
  mport="$(free_port)"
  rport="$(free_port)"
  mkdir -p "$redis_dir/wait-master" "$redis_dir/wait-replica"
  redis-server --port "$mport" --bind 127.0.0.1 --save '' \
    --dir "$redis_dir/wait-master" "${persist[@]}" \
    --repl-diskless-sync-delay 0 >"$redis_dir/wait-master.log" 2>&1 &
  cluster_pids+=($!) # stop_private_redis stops them
  pids[wait]="$!"
  redis-server --port "$rport" --bind 127.0.0.1 --save '' \
    --dir "$redis_dir/wait-replica" --replicaof 127.0.0.1 "$mport" \
    >"$redis_dir/wait-replica.log" 2>&1 &
  cluster_pids+=($!)
  pids[wait]+=" $!"
  # Process start-up and the first sync, bounded (about 10 s).
  for i in $(seq 1 100); do
    if redis-cli -p "$rport" info replication 2>/dev/null |
      grep -q master_link_status:up; then
      url[wait]="redis://127.0.0.1:$mport"
      flush_ports[wait]="$mport"
      return 0
    fi
    sleep 0.1
  done
  echo "bench-redis: the replica did not sync" >&2
  exit 1
}

start_cluster() {
  local before=${#cluster_pids[@]}
  start_private_redis_cluster 3 0 "${persist[@]}" >/dev/null
  url[cluster]="$SAGA_REDIS_CLUSTER_URL"
  pids[cluster]="${cluster_pids[*]:$before}"
  IFS=, read -ra seeds <<<"${SAGA_REDIS_CLUSTER_URL#redis+cluster://}"
  flush_ports[cluster]="${seeds[*]##*:}"
}

for v in $variants; do
  case "$v" in
    single | tls) [ -n "${url[single]:-}" ] || start_single ;;
    wait) start_replicated ;;
    cluster) start_cluster ;;
    *) echo "bench-redis: unknown variant '$v'" >&2; exit 2 ;;
  esac
done

# -- the runs --------------------------------------------------------------------
ticks() {
  local t=0 p
  for p in $1; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$t"
}
hz="$(getconf CLK_TCK)"
results="$redis_dir/results"
: >"$results"
run() { # variant concurrency
  local v="$1" c="$2" before after out extra=()
  [ "$v" != wait ] || extra=(--journal-replicas 1)
  before="$(ticks "${pids[$v]}")"
  out="$("$bench" --journal redis --redis "${url[$v]}" "${extra[@]}" \
    --concurrency "$c" --duration "$duration" --warmup "$warmup" 2>&1)"
  after="$(ticks "${pids[$v]}")"
  for p in ${flush_ports[$v]}; do
    redis-cli -p "$p" flushall >/dev/null 2>&1 || true
  done
  echo "$out" | awk -v v="$v" -v c="$c" -v ticks=$((after - before)) \
    -v hz="$hz" -v secs="$((duration + warmup))" '
    /throughput/ { t = $2 }
    /latency/ { p50 = $3; p99 = $9 }
    /process cpu/ { cpu = $3 }
    END {
      rcpu = t > 0 ? ticks / hz * 1e6 / (t * secs) : -1
      printf "%s %s %s %s %s %s %.0f\n", v, c, t, p50, p99, cpu, rcpu
    }' | tee -a "$results" | awk '{printf "%-8s c=%-4s %7s sagas/s  p50 %s ms  p99 %s ms  cpu %s us/saga  redis %s us/saga\n", $1, $2, $3, $4, $5, $6, $7}'
}
echo "bench-redis: $bench, variants: $variants, concurrency: $levels," \
  "$pairs rounds of ${duration}s (+${warmup}s warm-up); load $(cut -d' ' -f1-3 /proc/loadavg)"
for c in $levels; do
  for _ in $(seq 1 "$pairs"); do
    for v in $variants; do run "$v" "$c"; done
  done
done

# -- the table -------------------------------------------------------------------
echo
echo "| variant | in flight | sagas/s (mean) | ratio to single | p50 ms | p99 ms | client CPU us/saga | Redis CPU us/saga |"
echo "|---|---|---|---|---|---|---|---|"
awk '
  { k = $1 " " $2; n[k]++; t[k] += $3; p50[k] += $4; p99[k] += $5
    cpu[k] += $6; r[k] += $7; if (!(k in seen)) { seen[k] = 1; order[++m] = k } }
  END {
    for (i = 1; i <= m; i++) {
      k = order[i]; split(k, f, " ")
      ref = "single " f[2]
      ratio = (ref in t) && t[ref] > 0 ? sprintf("%.2f", (t[k] / n[k]) / (t[ref] / n[ref])) : "-"
      printf "| %s | %s | %.0f | %s | %.3f | %.3f | %.0f | %.0f |\n", f[1], f[2],
        t[k] / n[k], ratio, p50[k] / n[k], p99[k] / n[k], cpu[k] / n[k], r[k] / n[k]
    }
  }' "$results"
