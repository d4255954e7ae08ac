#!/usr/bin/env python3
"""What SIGKILL of probed does to the programs it traces (run by hand, not a
test: it measures and prints; docs/daemon_crash.md records the figures).

Each scenario starts a daemon and a target, arms probes, waits until they
fire, SIGKILLs the daemon and watches the target: how it ended (exit status
or signal, core dump), how long after the kill, and what we left in it.

usage: bench/daemon_kill.py [--build DIR] [--repeat N] [--only SCENARIO]
"""
import argparse
import os
import platform
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))


def leaves():
    if platform.machine() == "x86_64":
        return ["kind_indirect_call", "kind_riprel", "kind_push"]
    return ["leaf_a", "leaf_b", "leaf_c"]


# name, target args, target program, [(function, kind)], description
SCENARIOS = [
    ("fire-return", ("fire", 8), "fire_target",
     [(f, "return") for f in ["level1", "level2", "level3"] + leaves()],
     "8 threads calling nested return-probed functions non-stop"),
    ("fire-entry", ("fire", 8), "fire_target",
     [(f, "entry") for f in ["level1", "level2", "level3"] + leaves()],
     "the same with entry probes only (no hijacked return address)"),
    ("nap-return", ("nap", 400), "probe_target_pie_O2", [("napper", "return")],
     "one thread, a return probe on a function that sleeps 20 ms"),
    ("slow-entry", ("slow", 3000), "probe_target_pie_O2", [("work", "entry")],
     "one thread, an entry probe on a function called every 2 ms"),
    ("idle-probe", ("slow", 2500), "probe_target_pie_O2", [("status_of", "return")],
     "a return probe on a function the program never calls again"),
]


def anon_exec_pages(pid):
    n = 0
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split()
            if parts[1][2] == "x" and parts[4] == "0" and len(parts) == 5:
                n += 1
    return n


def describe(raw):
    if os.WIFEXITED(raw):
        return "exit %d" % os.WEXITSTATUS(raw)
    core = " (core dumped)" if os.WCOREDUMP(raw) else ""
    return "killed by %s%s" % (signal.Signals(os.WTERMSIG(raw)).name, core)


def run(scenario, e2e):
    name, args, program, probes, _ = scenario
    daemon = e2e.Daemon()
    t = None
    try:
        t = e2e.Target(*args, name=program)
        c = e2e.Client(daemon.socket)
        c.call("process.attach", {"pid": t.pid})
        sites = []
        for fn, kind in probes:
            p = c.call("probe.add", {"pid": t.pid, "target": fn, "kind": kind, "owner": "daemon"})
            sites.append(int(str(p["address"]), 0))
        c.call("events.subscribe", {})
        if name != "idle-probe":
            c.wait_events(lambda e: len(e) >= 50, timeout=60)
        pages_before = anon_exec_pages(t.pid)
        killed_at = time.monotonic()
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait()
        raw = None
        deadline = killed_at + 3
        while time.monotonic() < deadline:
            pid, st = os.waitpid(t.pid, os.WNOHANG)
            if pid:
                raw = st
                break
            time.sleep(0.0005)
        after_ms = (time.monotonic() - killed_at) * 1000
        left = ""
        if raw is None:
            with open("/proc/%d/status" % t.pid) as f:
                tracer = [l.split()[1] for l in f if l.startswith("TracerPid")][0]
            with open("/proc/%d/mem" % t.pid, "rb") as mem:
                traps = 0
                for a in sites:
                    mem.seek(a)
                    traps += mem.read(1) in (b"\xcc", b"\x00")  # int3 / BRK's first byte
            left = ("; TracerPid %s, %d anonymous executable page(s) left (were %d), "
                    "breakpoint still in the code at %d of %d probe sites") % (
                tracer, anon_exec_pages(t.pid), pages_before, traps, len(sites))
            if args[0] == "fire":
                t.proc.send_signal(signal.SIGINT)
            _, raw = os.waitpid(t.pid, 0)
            t.proc.returncode = raw  # reaped here, not by Popen
            return "survived 3 s%s; then ended: %s" % (left, describe(raw))
        t.proc.returncode = raw
        return "%s, after %.1f ms" % (describe(raw), after_ms)
    finally:
        if t:
            t.kill()
        daemon.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", help="run only the scenario of this name")
    opts = ap.parse_args()
    os.environ.setdefault("PROBED_BIN", os.path.join(opts.build, "daemon", "probed"))
    os.environ.setdefault("PROBED_TARGETS_DIR", os.path.join(opts.build, "tests", "targets"))
    import e2e_support as e2e
    e2e.PROBED = os.environ["PROBED_BIN"]
    e2e.TARGETS = os.environ["PROBED_TARGETS_DIR"]
    for scenario in SCENARIOS:
        if opts.only and scenario[0] != opts.only:
            continue
        print("%s: %s" % (scenario[0], scenario[4]))
        for i in range(opts.repeat):
            print("  run %d: %s" % (i + 1, run(scenario, e2e)))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
