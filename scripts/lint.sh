#!/usr/bin/env bash
# Formatting and lint checks (.clang-format, .clang-tidy at the top).
#
#   scripts/lint.sh format [--fix]
#       Checks that every tracked C++ file is formatted; lists the ones that
#       are not and exits 1. --fix formats them in place.
#   scripts/lint.sh tidy [BASE-REF]
#       Runs clang-tidy on the C++ files changed since BASE-REF (committed or
#       not), or on every file without BASE-REF; a changed header brings in
#       the .cpp files that include it. Needs a configured build directory
#       with compile_commands.json (cmake -DCMAKE_EXPORT_COMPILE_COMMANDS=ON):
#       BUILD_DIR (default: build-test); nothing needs to be built. Runs on
#       nproc cores (JOBS overrides); any finding is an error.
#
# Every file takes clang-tidy about 30-110 s (CAF's headers): all of them
# (~105 translation units) take 25-70 minutes on 2 cores, more than CI can
# spare; CI checks the files a change touches.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

CLANG_FORMAT="${CLANG_FORMAT:-clang-format}"
CLANG_TIDY="${CLANG_TIDY:-clang-tidy}"

need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "lint: $1 not found (scripts/setup.sh installs it)" >&2
    exit 2
  fi
}

# Tracked C++ sources; the fuzz corpora are data, not code.
cxx_files() {
  git ls-files -- '*.cpp' '*.hpp' '*.h' '*.cc' | grep -v '^tests/fuzz-' || true
}

cmd_format() {
  need "$CLANG_FORMAT"
  local fix=0
  case "${1:-}" in
    --fix) fix=1 ;;
    "") ;;
    *) echo "usage: scripts/lint.sh format [--fix]" >&2; exit 2 ;;
  esac
  local files bad=()
  mapfile -t files < <(cxx_files)
  if [ "$fix" -eq 1 ]; then
    printf '%s\0' "${files[@]}" | xargs -0 -n 16 "$CLANG_FORMAT" -i
    echo "lint: formatted ${#files[@]} files"
    return 0
  fi
  # shellcheck disable=SC2016 # $0, $1: the inner shell's
  mapfile -t bad < <(printf '%s\0' "${files[@]}" |
    xargs -0 -P "${JOBS:-$(nproc)}" -I{} sh -c \
      '"$0" --dry-run -Werror "$1" >/dev/null 2>&1 || echo "$1"' \
      "$CLANG_FORMAT" {} | sort)
  if [ "${#bad[@]}" -gt 0 ]; then
    echo "lint: ${#bad[@]} of ${#files[@]} files are not formatted" \
      "(scripts/lint.sh format --fix):" >&2
    printf '  %s\n' "${bad[@]}" >&2
    exit 1
  fi
  echo "lint: ${#files[@]} files formatted"
}

cmd_tidy() {
  need "$CLANG_TIDY"
  local base="${1:-}"
  local build="${BUILD_DIR:-build-test}"
  case "$build" in /*) ;; *) build="$repo/$build" ;; esac
  if [ ! -f "$build/compile_commands.json" ]; then
    echo "lint: no $build/compile_commands.json; configure with" \
      "cmake -S . -B $build -DCMAKE_EXPORT_COMPILE_COMMANDS=ON" >&2
    exit 2
  fi
  # The translation units the build knows (not the generated ones).
  local units=()
  mapfile -t units < <(python3 - "$build/compile_commands.json" "$repo" <<'PY'
import json, os, sys
db, repo = sys.argv[1], sys.argv[2]
seen = set()
for e in json.load(open(db)):
    f = os.path.normpath(os.path.join(e["directory"], e["file"]))
    if f.startswith(repo + "/") and f not in seen:
        rel = os.path.relpath(f, repo)
        if not rel.startswith("build"):
            seen.add(f)
            print(rel)
PY
)
  local files=()
  if [ -z "$base" ]; then
    files=("${units[@]}")
  else
    if ! git rev-parse -q --verify "$base^{commit}" >/dev/null; then
      echo "lint: tidy: no commit '$base' here (a shallow clone?)" >&2
      exit 2
    fi
    local changed
    changed="$(git diff --name-only --diff-filter=d "$base" -- \
      '*.cpp' '*.hpp' '*.h' '*.cc')"
    changed+=$'\n'"$(git ls-files --others --exclude-standard -- '*.cpp' '*.hpp')"
    local f inc
    declare -A pick=()
    while IFS= read -r f; do
      [ -n "$f" ] || continue
      case "$f" in
        *.hpp|*.h)
          # The units that include it, as "dir/name.hpp" or "saga/name.hpp".
          inc="${f#include/}"
          while IFS= read -r u; do
            [ -n "$u" ] && pick["$u"]=1
          done < <(grep -lF "$inc\"" "${units[@]}" 2>/dev/null || true)
          ;;
        *)
          printf '%s\n' "${units[@]}" | grep -qxF "$f" && pick["$f"]=1
          ;;
      esac
    done <<<"$changed"
    files=("${!pick[@]}")
  fi
  if [ "${#files[@]}" -eq 0 ] || [ -z "${files[0]}" ]; then
    echo "lint: tidy: no C++ file changed since ${base:-(all)}"
    return 0
  fi
  local jobs="${JOBS:-$(nproc)}"
  echo "lint: clang-tidy on ${#files[@]} files, $jobs at a time"
  # --header-filter: our headers only (the build directory has none);
  # -Wno-unknown-warning-option: g++-only flags in the compile commands.
  local log="$build/clang-tidy.log"
  local status=0
  printf '%s\0' "${files[@]}" | xargs -0 -P "$jobs" -n 1 \
    "$CLANG_TIDY" -p "$build" --quiet --header-filter="^$repo/" \
    --extra-arg=-Wno-unknown-warning-option >"$log" 2>&1 || status=$?
  grep -E '(warning|error):' "$log" | sort -u >&2 || true
  if [ "$status" -ne 0 ]; then
    echo "lint: clang-tidy found problems (full output: $log)" >&2
    exit 1
  fi
  echo "lint: clang-tidy clean on ${#files[@]} files"
}

case "${1:-}" in
  format) shift; cmd_format "$@" ;;
  tidy) shift; cmd_tidy "$@" ;;
  *)
    echo "usage: scripts/lint.sh format [--fix] | tidy [BASE-REF]" >&2
    exit 2
    ;;
esac
