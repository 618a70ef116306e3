#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a while, one
# after the other, on a copy of its checked-in seeds (docs/fuzzing.md).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
#   SECONDS_PER_TARGET  default 60
#   TARGET              default: every target (tests/fuzz-seeds/*):
#                       stream_codec, definition, redis_url, wire
#
# Reports the executions of each target (libFuzzer's final
# stat::number_of_executed_units) and exits non-zero when a target crashed
# or broke one of its checks; the input that did it is left in
# build-fuzz/crashes/<target>/ (replay it: build-fuzz/<target>_fuzz FILE).
# Each run uses one process on one core (no -jobs/-workers), niced.
#
#   BUILD_DIR    build directory (default: build-fuzz)
#   FUZZ_KEEP    1: go on from the corpus of the last run instead of the
#                seeds (build-fuzz/corpus/<target>/)
#   FUZZ_FLAGS   more libFuzzer flags, e.g. "-max_len=65536"
#   FUZZ_BUILD_ONLY  1: build the targets, run nothing (scripts/test.sh
#                builds them while the tests run)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-build-fuzz}"
case "$build" in /*) ;; *) build="$repo/$build" ;; esac

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2
  exit 2
fi
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  for d in "$repo"/tests/fuzz-seeds/*/; do
    targets+=("$(basename "$d")")
  done
fi
for t in "${targets[@]}"; do
  if [ ! -d "$repo/tests/fuzz-seeds/$t" ]; then
    echo "fuzz: unknown target '$t' (no tests/fuzz-seeds/$t)" >&2
    exit 2
  fi
done

# -- clang with the libFuzzer runtime -------------------------------------------
cc="$(command -v clang || true)"
cxx="$(command -v clang++ || true)"
if [ -z "$cxx" ] || [ -z "$cc" ]; then
  echo "fuzz: clang++ not found (apt-get install -y clang libclang-rt-14-dev)" >&2
  exit 2
fi
probe="$(mktemp -d)"
trap 'rm -rf "$probe"' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' \
  > "$probe/probe.cpp"
if ! "$cxx" -fsanitize=fuzzer,address,undefined "$probe/probe.cpp" \
       -o "$probe/probe" 2> "$probe/err"; then
  cat "$probe/err" >&2
  echo "fuzz: clang cannot link libFuzzer (apt-get install -y libclang-rt-14-dev)" >&2
  exit 2
fi

# -- build ---------------------------------------------------------------------------
# -O1 and line tables: fast enough to fuzz, symbolized reports; no NDEBUG,
# so assertions (nlohmann's among them) stay on.
if [ ! -f "$build/CMakeCache.txt" ]; then
  CC="$cc" CXX="$cxx" cmake -S "$repo" -B "$build" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
    -DSAGA_FUZZ=ON -DSAGA_BUILD_TESTS=OFF -DSAGA_BUILD_DEMO=OFF \
    -DSAGA_BUILD_BENCH=OFF > "$build.configure.log" 2>&1 \
    || { cat "$build.configure.log" >&2; exit 1; }
  rm -f "$build.configure.log"
fi
build_targets=()
for t in "${targets[@]}"; do build_targets+=(--target "${t}_fuzz"); done
echo "fuzz: building ${targets[*]} in $build"
nice -n 10 cmake --build "$build" -j"$(nproc)" "${build_targets[@]}"
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

# -- run -----------------------------------------------------------------------------
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1"
export UBSAN_OPTIONS="suppressions=$repo/scripts/ubsan.supp:halt_on_error=1:print_stacktrace=1"
if command -v llvm-symbolizer >/dev/null 2>&1; then
  ASAN_SYMBOLIZER_PATH="$(command -v llvm-symbolizer)"
  export ASAN_SYMBOLIZER_PATH
fi

status=0
summary=()
for t in "${targets[@]}"; do
  exe="$build/${t}_fuzz"
  corpus="$build/corpus/$t"
  crashes="$build/crashes/$t"
  log="$build/logs/$t.log"
  mkdir -p "$crashes" "$build/logs"
  if [ "${FUZZ_KEEP:-0}" != 1 ] || [ ! -d "$corpus" ]; then
    rm -rf "$corpus"
    mkdir -p "$corpus"
    cp "$repo/tests/fuzz-seeds/$t"/* "$corpus"/
  fi
  # The inputs of crashes found before run first: a regression shows at once.
  if [ -d "$repo/tests/fuzz-regressions/$t" ]; then
    find "$repo/tests/fuzz-regressions/$t" -type f -exec cp {} "$corpus"/ \;
  fi
  echo "fuzz: $t for ${seconds}s (log: $log)"
  touch "$probe/start-$t" # what this run leaves in $crashes is newer
  rc=0
  # shellcheck disable=SC2086
  nice -n 10 "$exe" -max_total_time="$seconds" -print_final_stats=1 \
    -timeout=10 -artifact_prefix="$crashes/" ${FUZZ_FLAGS:-} \
    "$corpus" > "$log" 2>&1 || rc=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  if [ -z "$execs" ]; then # no final stats after a crash: the last status line
    execs="$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')"
  fi
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  units="$(find "$corpus" -type f | wc -l)"
  if [ "$rc" -eq 0 ]; then
    result="ok"
  else
    status=1
    artifact="$(find "$crashes" -type f -newer "$probe/start-$t" | head -1)"
    result="FAILED (exit $rc): ${artifact:-$crashes/?}"
    grep -m1 -E 'ERROR: |runtime error: |_fuzz: |deadly signal' "$log" >&2 || true
  fi
  summary+=("$(printf '%-14s %6ss %14s executions %8s/s %6s corpus  %s' \
    "$t" "$seconds" "${execs:-?}" "${rate:-?}" "$units" "$result")")
done

echo
echo "fuzz: summary"
for line in "${summary[@]}"; do echo "  $line"; done
exit "$status"
