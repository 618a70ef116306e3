#!/usr/bin/env bash
# Formatting and lint checks (.clang-format, .clang-tidy at the top).
#
#   scripts/lint.sh format [--fix]
#       Checks that every tracked C++ file is formatted; lists the ones that
#       are not and exits 1. --fix formats them in place.
#   scripts/lint.sh tidy [BASE-REF]
#       Runs clang-tidy on the C++ files changed since BASE-REF (committed or
#       not), or on every file without BASE-REF. A changed header is checked
#       through one translation unit that includes it (its own .cpp when
#       there is one): clang-tidy reports a header's findings from any unit.
#       Needs a configured build directory with compile_commands.json
#       (cmake -DCMAKE_EXPORT_COMPILE_COMMANDS=ON) whose generated sources
#       exist: BUILD_DIR (default: build-test). Runs on nproc cores (JOBS
#       overrides); any finding is an error. TIDY_UNITS_MAX (default: no
#       limit) caps the units checked: changed .cpp files first, then the
#       headers' units; the ones left out are listed.
#
# A unit takes clang-tidy 10-15 s on a quiet 2-core machine (CAF's headers;
# 30-110 s under load): all ~106 take 10-12 minutes, more than CI can spare
# beside the tests. scripts/test.sh checks the files of the last commit
# (TIDY_BASE, default HEAD~1) within a budget of 16 units.
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
    local f inc u own
    declare -A pick=()
    local sources=() headers=()
    while IFS= read -r f; do
      [ -n "$f" ] || continue
      case "$f" in
        *.hpp|*.h)
          # One unit that includes it, as "dir/name.hpp" or "saga/name.hpp":
          # its own .cpp if the build has one, else the first includer.
          own="${f%.*}.cpp"
          if printf '%s\n' "${units[@]}" | grep -qxF "$own"; then
            u="$own"
          else
            inc="${f#include/}"
            u="$(grep -lF "$inc\"" "${units[@]}" 2>/dev/null | head -n 1 || true)"
          fi
          if [ -n "$u" ] && [ -z "${pick[$u]:-}" ]; then
            pick["$u"]=1
            headers+=("$u")
          fi
          ;;
        *)
          if printf '%s\n' "${units[@]}" | grep -qxF "$f" \
            && [ -z "${pick[$f]:-}" ]; then
            pick["$f"]=1
            sources+=("$f")
          fi
          ;;
      esac
    done <<<"$changed"
    files=("${sources[@]}" "${headers[@]}")
  fi
  local max="${TIDY_UNITS_MAX:-0}"
  if [ "$max" -gt 0 ] && [ "${#files[@]}" -gt "$max" ]; then
    echo "lint: tidy: ${#files[@]} units changed, checking the first $max" \
      "(TIDY_UNITS_MAX); not checked:" >&2
    printf '  %s\n' "${files[@]:$max}" >&2
    files=("${files[@]:0:$max}")
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
