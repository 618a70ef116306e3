#!/usr/bin/env bash
# Installs the Debian packages caf-saga needs to build, test and benchmark.
# Idempotent: installs only what is missing, and touches apt only then.
set -euo pipefail

packages=(
  cmake g++ make pkg-config
  libcaf-dev libboost-dev nlohmann-json3-dev libhiredis-dev libssl-dev openssl
  libjemalloc-dev
  googletest libgtest-dev libbenchmark-dev
  redis-server chromium python3
  clang libclang-rt-14-dev
  clang-format clang-tidy
)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "setup: missing packages (${missing[*]}) and not root, no sudo" >&2
    exit 1
  fi
fi

echo "setup: installing ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"
echo "setup: installed ${missing[*]}"
