#!/usr/bin/env bash
# Installs every Debian 12 package probed needs to build and run its tests.
# Idempotent; run as root (or with sudo available).
# --arm64: also what the arm64 suite needs (scripts/install-arm64-deps.sh:
# cross compiler, :arm64 libraries, qemu-system-aarch64, kernel, busybox).
# --fuzz: also clang and its libFuzzer/sanitizer runtimes (bench/fuzz/run-fuzz.sh).
set -euo pipefail

with_arm64=0
with_fuzz=0
for arg in "$@"; do
  case $arg in
    --arm64) with_arm64=1 ;;
    --fuzz) with_fuzz=1 ;;
    *) echo "usage: $0 [--arm64] [--fuzz]" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential g++ meson ninja-build pkgconf
  libelf-dev libdw-dev libcapstone-dev
  libspdlog-dev libfmt-dev nlohmann-json3-dev doctest-dev
  libc6-dev
  python3
  # the service: sd_notify/socket activation, units, the Debian package and
  # its test (systemd-analyze, systemd-socket-activate, completion)
  libsystemd-dev systemd debhelper dpkg-dev adduser bash-completion
  gdb  # the reference the stack tests compare with
)
if [ "$with_fuzz" = 1 ]; then
  packages+=(clang libclang-rt-14-dev)
fi

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
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ "$with_arm64" = 1 ]; then
  "$(dirname "$0")/install-arm64-deps.sh"
fi
