#!/usr/bin/env bash
# Builds probed in build/ (set up on first use) and runs the whole test
# suite: meson's (unit, integration, e2e) on this machine, then the arm64
# suite on an emulated arm64 machine (tests/arm64/run, cross-built in
# build-arm64/) when the aarch64 toolchain is installed
# (scripts/install-arm64-deps.sh). Integration tests trace real processes
# with ptrace: run as root, or where /proc/sys/kernel/yama/ptrace_scope is 0.
#
# Arguments go to `meson test` (e.g. --suite unit); with arguments only that
# native selection runs. PROBED_ARM64=0 leaves the arm64 suite out, =1
# requires it (CI: missing tools are then an error). PROBED_JOBS limits the
# build jobs of both builds.
# The last line adds both suites up: `N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/.."

arm64=${PROBED_ARM64:-auto}
if [ "$arm64" = auto ]; then
  arm64=0
  if [ $# -eq 0 ] && command -v aarch64-linux-gnu-g++ > /dev/null && command -v qemu-system-aarch64 > /dev/null; then
    arm64=1
  fi
fi

if [ ! -f build/build.ninja ]; then
  meson setup build
fi
meson compile -C build ${PROBED_JOBS:+-j "$PROBED_JOBS"}
native_rc=0
meson test -C build --print-errorlogs "$@" || native_rc=$?
# meson's summary counts kinds of results; the totals line needs two numbers.
read -r native_passed native_failed native_skipped < <(python3 - build/meson-logs/testlog.json <<'EOF'
import json, sys
counts = {"pass": 0, "fail": 0, "skip": 0}
kind = {"OK": "pass", "EXPECTEDFAIL": "pass", "SKIP": "skip"}
with open(sys.argv[1]) as log:
    for line in log:
        if line.strip():
            counts[kind.get(json.loads(line)["result"], "fail")] += 1
print(counts["pass"], counts["fail"], counts["skip"])
EOF
)

arm64_passed=0 arm64_failed=0 arm64_rc=0
# Runs tests/arm64/run with "$@" and adds its counts to the arm64 totals.
run_arm64() {
  local log counts passed failed rc
  log=$(mktemp)
  set +e
  tests/arm64/run "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  counts=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$log" | tail -n1)
  rm -f "$log"
  if [ -n "$counts" ]; then
    read -r passed failed <<< "$counts"
  else
    passed=0 failed=1 # set-up error: no tests ran
  fi
  arm64_passed=$((arm64_passed + passed))
  arm64_failed=$((arm64_failed + failed))
  [ "$rc" = 0 ] || arm64_rc=$rc
}
if [ "$arm64" = 1 ]; then
  echo
  echo "arm64 suite (tests/arm64/run):"
  run_arm64
  # The VM's CPU runs without pointer authentication (emulating it costs
  # every test); the tests whose targets sign return addresses run again on
  # a CPU that checks them, and must find it checking (PROBED_ARM64_EXPECT_PAC).
  echo
  echo "arm64 with pointer authentication (PROBED_ARM64_CPU=max,pauth-impdef=on):"
  PROBED_ARM64_EXPECT_PAC=1 PROBED_ARM64_CPU=max,pauth-impdef=on \
    run_arm64 engine_basic engine_kinds engine_detach_signed engine_unwind engine_unwind_signed \
      arm64_cpu_agreement
fi

echo
echo "native ($(uname -m), meson test): $native_passed passed, $native_failed failed, $native_skipped skipped"
if [ "$arm64" = 1 ]; then
  echo "arm64 (qemu-system-aarch64): $arm64_passed passed, $arm64_failed failed"
else
  echo "arm64: not run (PROBED_ARM64=1 or scripts/install-arm64-deps.sh to include it)"
fi
echo "$((native_passed + arm64_passed)) passed, $((native_failed + arm64_failed)) failed"
[ "$native_rc" = 0 ] && [ "$arm64_rc" = 0 ]
