#!/usr/bin/env bash
# Builds probed in build/ (set up on first use) and runs the whole test
# suite. Integration tests trace real processes with ptrace: run as root, or
# where /proc/sys/kernel/yama/ptrace_scope is 0.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
  meson setup build
fi
meson compile -C build
meson test -C build --print-errorlogs "$@"
