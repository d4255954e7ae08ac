#!/usr/bin/env bash
# Installs every Debian 12 package probed needs to build and run its tests.
# Idempotent; run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential g++ meson ninja-build pkgconf
  libelf-dev libdw-dev libcapstone-dev
  libspdlog-dev libfmt-dev nlohmann-json3-dev doctest-dev
  libc6-dev
  python3
  gdb  # the reference the stack tests compare with
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
