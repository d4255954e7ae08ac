#!/usr/bin/env python3
"""End-to-end figures for the daemon path (run by hand, not a test):

  1. events per second delivered to a `probectl --json` subscriber, and
  2. overhead per call of an entry+return probe traced through probed, against
     the same probe driven by the engine alone (probe_bench's same-CPU row).

Tracer and tracee share CPU 0 in both paths (`probed --tracer-cpu 0`; the
target it spawns inherits the tracer's CPU); the daemon's RPC thread, probectl
and this script run on the other CPUs.

usage: bench/daemon_bench.py [--build DIR] [--calls N]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time


def run_untraced(target, n):
    out = subprocess.run(["taskset", "-c", "0", target, "boosted", str(n)],
                         stdout=subprocess.PIPE, check=True).stdout.decode()
    return int(re.search(r"elapsed_ns (\d+)", out).group(1))


def engine_alone(build, n):
    out = subprocess.run([os.path.join(build, "bench", "probe_bench"), "--calls", str(n)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout.decode()
    for line in out.splitlines():
        words = line.split()
        if line.startswith("same-cpu") and "boosted" in words:
            return float(words[words.index("boosted") + 1])  # the ns/call column
    raise RuntimeError("no same-cpu boosted row in probe_bench output:\n" + out)


def through_daemon(build, target, n):
    # Everything but the tracer and its tracee stays off CPU 0 (this script
    # and probectl included), as the engine-alone row has CPU 0 to itself.
    cpus = sorted(os.sched_getaffinity(0))
    rest = [c for c in cpus if c != 0] or cpus
    os.sched_setaffinity(0, rest)
    others = ["taskset", "-c", ",".join(map(str, rest))]
    tmp = tempfile.mkdtemp(prefix="daemon-bench-")
    sock = os.path.join(tmp, "probed.sock")
    daemon = subprocess.Popen([os.path.join(build, "daemon", "probed"), "--tracer-cpu", "0",
                               "--socket", sock, "--foreground", "--log-level", "warn"])
    try:
        for _ in range(500):
            if os.path.exists(sock):
                break
            time.sleep(0.01)
        ctl = subprocess.Popen([*others, os.path.join(build, "client", "probectl"),
                                "--socket", sock, "--no-autostart", "--json", "run",
                                "-p", "bench_fn_boosted", "--", target, "boosted", str(n)],
                               stdout=subprocess.PIPE)
        # Counted in bulk, not parsed line by line: the reader must cost the
        # two CPUs as little as possible, or it measures itself.
        events = 0
        first = last = None
        tail = b""
        timing = b""
        while True:
            chunk = os.read(ctl.stdout.fileno(), 1 << 20)
            if not chunk:
                break
            now = time.monotonic()
            data = tail + chunk
            cut = data.rfind(b"\n") + 1
            whole, tail = data[:cut], data[cut:]
            n_ret = whole.count(b'"type":"return"')
            if n_ret:
                first = first or now
                last = now
                events += n_ret
            at = whole.find(b"elapsed_ns")
            if at >= 0:
                timing = whole[at:whole.find(b"\n", at)]
        loop_ns = int(timing.split()[1]) if timing else None
        rc = ctl.wait()
        if rc != 0:
            raise RuntimeError("probectl run exited %d" % rc)
        return loop_ns, events, (last - first) if first and last and last > first else None
    finally:
        daemon.terminate()
        daemon.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--calls", type=int, default=50000)
    args = ap.parse_args()
    target = os.path.join(args.build, "bench", "bench_target")
    n = args.calls

    untraced = run_untraced(target, n)
    loop_ns, events, span = through_daemon(args.build, target, n)
    if loop_ns is None:
        sys.exit("daemon_bench: the target printed no timing")
    daemon_per_call = (loop_ns - untraced) / n
    engine_per_call = engine_alone(args.build, n)

    print("probed daemon benchmark (x86_64, %d calls of a boosted entry+return probe)" % n)
    print("events delivered to probectl --json : %d of %d%s" % (events, n, "" if events == n else "  MISSING"))
    if span:
        print("delivery rate                       : %.0f events/s" % (events / span))
    print("overhead per call, engine alone     : %.0f ns" % engine_per_call)
    print("overhead per call, through probed   : %.0f ns" % daemon_per_call)
    ratio = daemon_per_call / engine_per_call
    print("daemon / engine                     : %.2f  (target <= 1.10: %s)" %
          (ratio, "ok" if ratio <= 1.10 else "MISS"))
    return 0 if events == n else 1


if __name__ == "__main__":
    sys.exit(main())
