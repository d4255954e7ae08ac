"""Daemon shutdown under fire: SIGTERM to probed while 8 threads of a traced
program are inside probed functions (some in slots, some with hijacked
return addresses pending). The program must run on with exactly its
untraced output, probed must exit 0 and remove its socket."""
import os
import platform
import re
import signal
import unittest

from e2e_support import Client, Daemon, Target

THREADS = 8
if platform.machine() == "x86_64":
    LEAVES = ["kind_indirect_call", "kind_riprel", "kind_push"]  # stepped, boosted, simulated
else:
    LEAVES = ["leaf_a", "leaf_b", "leaf_c"]
FUNCTIONS = ["level1", "level2", "level3"] + LEAVES


def untraced_fire_output():
    t = Target("fire", THREADS, name="fire_target")
    try:
        t.proc.send_signal(signal.SIGINT)
        assert t.wait() == 0
        return t.body()
    finally:
        t.kill()


def task_states(pid):
    """tid: state (and where it sleeps) of each thread, for a failure message."""
    out = []
    for tid in sorted(os.listdir("/proc/%d/task" % pid), key=int):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            with open("/proc/%d/task/%s/wchan" % (pid, tid)) as f:
                wchan = f.read().strip()
        except OSError:
            continue
        out.append("%s:%s/%s" % (tid, state, wchan))
    return " ".join(out)


class ShutdownUnderFireTest(unittest.TestCase):
    def test_sigterm_with_calls_in_flight(self):
        expected = untraced_fire_output()
        restored = in_page = 0
        # A few daemons in a row: each SIGTERM lands at another moment.
        for attempt in range(4):
            with self.subTest(attempt=attempt):
                daemon = Daemon()
                t = Target("fire", THREADS, name="fire_target")
                try:
                    c = Client(daemon.socket)
                    c.call("process.attach", {"pid": t.pid})
                    for name in FUNCTIONS:
                        c.call("probe.add", {"pid": t.pid, "target": name, "owner": "daemon"})
                    c.call("events.subscribe", {})
                    # Every thread is calling through the probes (tids
                    # collected as events arrive: rescanning thousands of
                    # events per message is minutes on an emulated CPU).
                    tids, scanned = set(), [0]

                    def every_thread_seen(events):
                        tids.update(x["tid"] for x in events[scanned[0]:])
                        scanned[0] = len(events)
                        return len(tids) >= THREADS
                    try:
                        c.wait_events(every_thread_seen, timeout=60)
                    except AssertionError as e:
                        raise AssertionError("%s; calls from %d of %d threads; tasks: %s"
                                             % (e, len(tids), THREADS, task_states(t.pid)))
                    self.assertEqual(daemon.stop(signal.SIGTERM), 0)
                    self.assertFalse(os.path.exists(daemon.socket))
                    log = daemon.log_text()
                    self.assertIn("detached from pid %d" % t.pid, log)
                    restored += sum(int(n) for n in
                                    re.findall(r"restoring (\d+) hijacked return addresses", log))
                    in_page += len(re.findall(r"(in a slot|on the return trampoline) .*at detach", log))
                    # The program goes on, untraced, until told to stop.
                    with open("/proc/%d/status" % t.pid) as f:
                        self.assertIn("TracerPid:\t0\n", f.read())
                    t.proc.send_signal(signal.SIGINT)
                    self.assertEqual(t.wait(), 0)
                    self.assertEqual(t.body(), expected)
                finally:
                    t.kill()
                    daemon.stop()
        print("hijacked return addresses restored: %d, threads moved out of our page: %d"
              % (restored, in_page))
        # The shutdowns happened with calls in flight, not between calls.
        self.assertGreater(restored, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
