#!/usr/bin/env bash
# Fuzzes probed's request path (bench/fuzz/rpc_fuzzer.cpp) for SECONDS:
# configures a clang build with -Dfuzz=true (ASan, UBSan, libFuzzer
# coverage) in build-fuzz/ on first use, builds the fuzzer, runs it from the
# checked-in seeds (bench/fuzz/corpus) plus what earlier runs found
# (build-fuzz/fuzz-corpus), and prints executions, coverage and any crash.
# Runs as root (the fuzzer traces a program it starts with ptrace).
#
# usage: bench/fuzz/run-fuzz.sh SECONDS [extra libFuzzer flags...]
#   FUZZ_BUILD=DIR   build directory (default build-fuzz)
#   PROBED_JOBS=N    build jobs (default 2)
# Reproduce a crash: build-fuzz/bench/fuzz/rpc_fuzzer build-fuzz/fuzz-artifacts/crash-...
# Exit status: 0 when the run ended without a finding.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ $# -lt 1 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 SECONDS [libFuzzer flags...]" >&2
  exit 2
fi
seconds=$1
shift
build=${FUZZ_BUILD:-build-fuzz}

if [ ! -f "$build/build.ninja" ]; then
  # Warnings are gcc's to police (-Werror in the normal build); clang only
  # has to build it. The test suite is not needed here.
  CC=clang CXX=clang++ meson setup "$build" -Dfuzz=true -Dtests=false -Dsystemd=disabled \
    -Dwerror=false -Dbuildtype=debugoptimized
fi
ninja -C "$build" -j "${PROBED_JOBS:-2}" bench/fuzz/rpc_fuzzer bench/fuzz/fuzz_probe_target

work="$build/fuzz-corpus"
artifacts="$build/fuzz-artifacts/"
log="$build/fuzz-last.log"
mkdir -p "$work" "$artifacts"
before=$(find "$artifacts" -type f | wc -l)

echo "fuzzing the request path for ${seconds}s (log: $log)"
set +e
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
"$build/bench/fuzz/rpc_fuzzer" -max_total_time="$seconds" -max_len=8192 -timeout=20 \
  -rss_limit_mb=2048 -dict=bench/fuzz/rpc.dict -artifact_prefix="$artifacts" \
  -print_final_stats=1 "$@" "$work" bench/fuzz/corpus > "$log" 2>&1
rc=$?
set -e

echo
grep -E '^#[0-9]+ +(INITED|DONE)' "$log" | tail -n 2 || true
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" || true
echo "corpus: $(find "$work" -type f | wc -l) inputs in $work (plus $(find bench/fuzz/corpus -type f | wc -l) seeds)"
after=$(find "$artifacts" -type f | wc -l)
if [ "$rc" -ne 0 ] || [ "$after" -gt "$before" ]; then
  echo "FINDING (exit $rc): new artifacts in $artifacts:"
  find "$artifacts" -type f -newer "$log" -o -type f -cnewer "$work" | sort -u | head
  grep -E 'ERROR: |runtime error|SUMMARY|rpc_fuzzer: ' "$log" | head -n 20
  exit 1
fi
echo "no crash, leak or undefined behaviour found"
