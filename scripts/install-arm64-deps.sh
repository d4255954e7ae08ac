#!/usr/bin/env bash
# Installs what the arm64 test stage needs on a Debian 12 x86_64 machine:
# the aarch64 cross compiler, the :arm64 builds of the libraries probed links
# (multiarch, installed next to the amd64 ones), qemu-system-aarch64 and cpio;
# then fetches the Debian arm64 kernel and busybox the test VM boots (see
# tests/arm64/fetch-vm-files). Idempotent; run as root (or with sudo).
# Run scripts/install-deps.sh first: the native build tools come from there.
set -euo pipefail
cd "$(dirname "$0")/.."

# qemu-system-arm's Recommends pull ~200 packages of GUI and firmware that a
# -kernel boot never uses, hence --no-install-recommends below.
packages=(
  g++-aarch64-linux-gnu
  qemu-system-arm cpio
  libelf-dev:arm64 libdw-dev:arm64 libcapstone-dev:arm64
  libspdlog-dev:arm64 libfmt-dev:arm64
  # what the VM's Python (tests/arm64/fetch-vm-files) links beyond those:
  # the interpreter, and the ctypes/hashlib/uuid modules the tests' imports pull in
  libexpat1:arm64 libffi8:arm64 libuuid1:arm64
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi

need_update=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "install-arm64-deps: enabling the arm64 architecture in dpkg"
  "${sudo_cmd[@]}" dpkg --add-architecture arm64
  need_update=1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ] || [ "$need_update" = 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-arm64-deps: installing ${missing[*]}"
  # A multiarch -dev package must have exactly the version of its amd64
  # twin; apt upgrades the amd64 side where needed.
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-arm64-deps: all ${#packages[@]} packages already installed"
fi

# The kernel and busybox go to a per-user cache, not the system: no sudo.
tests/arm64/fetch-vm-files
