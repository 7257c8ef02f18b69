#!/usr/bin/env bash
# Installs every Debian package br needs to build, test and run. Idempotent: when all
# packages are present it returns in well under a second without touching apt.
set -euo pipefail

packages=(
  build-essential g++ cmake ninja-build ccache pkg-config
  libcaf-dev capnproto libcapnp-dev librocksdb-dev libgit2-dev git
  libfmt-dev libspdlog-dev libtomlplusplus-dev libcli11-dev catch2 nlohmann-json3-dev
  clang libclang-rt-14-dev clang-tidy cppcheck
  prometheus-cpp-dev prometheus
  iproute2 procps python3
  chromium graphviz
)

# One dpkg-query for all packages keeps the no-op case fast. It exits 1 when any package is
# unknown to dpkg (never installed), which is exactly the case to handle, not to stop on.
installed=$( (dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null || true) |
  awk '$NF == "installed" { print $1 }')
missing=()
for p in "${packages[@]}"; do
  if ! grep -qx "$p" <<< "$installed"; then missing+=("$p"); fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
