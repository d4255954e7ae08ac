#!/usr/bin/env bash
# Builds probed (if needed) and watches live calls with probectl.
#   scripts/demo.sh              trace work() in a bundled example program
#   scripts/demo.sh PID FUNC...  trace FUNC in a process of yours
# probectl starts a private daemon for the session when none is running.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
  meson setup build >/dev/null
fi
meson compile -C build >/dev/null
if [ $# -ge 2 ]; then
  exec ./build/client/probectl attach "$@"
fi
# The example calls work(i, 2) every 2 ms and prints each result.
./build/tests/targets/probe_target_pie_O2 slow 100000 >/dev/null &
target=$!
trap 'kill $target 2>/dev/null' EXIT
sleep 0.2
echo "tracing work() in example program pid $target (20 calls):"
./build/client/probectl attach "$target" work --args 2 --count 20
