"""stack.get over the socket and `probectl stack`, against a recursion
stopped 20 levels deep with a return probe pending on every level."""
import json
import os
import re
import signal
import subprocess
import time
import unittest

from e2e_support import PROBECTL, Client, Daemon, RpcError, target

DEPTH = 20  # deep::dive(20) .. deep::dive(0): 21 frames


def probectl(*args):
    return subprocess.run([PROBECTL, *map(str, args)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)


def bare(name):
    return name.split("(")[0]


class StackTest(unittest.TestCase):
    def setUp(self):
        self.daemon = Daemon()
        self.c = Client(self.daemon.socket)
        self.out = os.path.join(self.daemon.dir, "out.txt")
        r = self.c.call("process.spawn", {"argv": [target("stack_target_fp"), str(DEPTH)],
                                          "stdout": self.out})
        self.pid = r["pid"]
        self.ended = False
        self.probe = self.c.call("probe.add", {"pid": self.pid, "target": "deep::dive",
                                               "kind": "call", "capture": {"stack": True}})
        self.c.call("events.subscribe", {"pids": [self.pid]})
        self.c.call("process.resume", {"pid": self.pid})
        deadline = time.time() + 30
        while "bottom" not in self.output():
            self.assertLess(time.time(), deadline, "the target never reached the bottom")
            time.sleep(0.01)
        # "bottom" is in the file once write() put it there, maybe before the
        # thread is back from libc: wait until it waits in nap.
        while bare(self.c.call("stack.get", {"pid": self.pid})["frames"][0]["function"]) != "nap":
            self.assertLess(time.time(), deadline, "the target never waited in nap")
            time.sleep(0.01)

    def tearDown(self):
        self.c.close()
        if not self.ended:
            # Failed halfway: the target would wait at its bottom forever.
            os.kill(self.pid, signal.SIGKILL)
        self.assertEqual(self.daemon.stop(), 0)

    def output(self):
        with open(self.out) as f:
            return f.read()

    def finish(self):
        """Lets the target unwind and end; returns every event it produced."""
        os.kill(self.pid, signal.SIGUSR1)
        evs = self.c.wait_events(lambda e: any(x["type"] == "exit" for x in e), timeout=30)
        exit_ev = [e for e in evs if e["type"] == "exit"][0]
        self.ended = True
        self.assertEqual(exit_ev["exit_code"], 0)
        self.assertEqual(self.output(), "bottom\nsum %d\n" % (DEPTH * (DEPTH + 1) // 2))
        return evs

    def check_frames(self, frames):
        names = [bare(f["function"]) for f in frames]
        self.assertEqual(names[:DEPTH + 4],
                         ["nap", "wait_at_bottom"] + ["deep::dive"] * (DEPTH + 1) + ["main"])
        for i, f in enumerate(frames):
            self.assertRegex(f["pc"], r"^0x[0-9a-f]+$")
            hijacked = i > 0 and bare(frames[i - 1]["function"]) == "deep::dive"
            self.assertEqual(f.get("via_trampoline", False), hijacked, "frame %d" % i)
        for f in frames[2:DEPTH + 3]:
            self.assertEqual(f["module"], target("stack_target_fp"))
            self.assertTrue(f["file"].endswith("stack_target.cpp"))
            self.assertGreater(f["line"], 0)

    def test_stack_get_and_probectl_stack(self):
        r = self.c.call("stack.get", {"pid": self.pid})
        self.assertEqual(r["pid"], self.pid)
        self.assertEqual(r["tid"], self.pid)
        self.check_frames(r["frames"])
        by_tid = self.c.call("stack.get", {"pid": self.pid, "tid": self.pid})
        self.assertEqual(bare(by_tid["frames"][0]["function"]), "nap")

        # Bad input: errors, and the target is unharmed (checked by finish()).
        for params, code in (({"pid": 4000000}, -32000), ({"pid": self.pid, "tid": 1}, -32000),
                             ({"pid": self.pid, "tid": "x"}, -32602), ({}, -32602)):
            with self.assertRaises(RpcError) as cm:
                self.c.call("stack.get", params)
            self.assertEqual(cm.exception.code, code, params)

        text = probectl("--socket", self.daemon.socket, "stack", self.pid)
        self.assertEqual(text.returncode, 0, text.stderr)
        lines = text.stdout.decode().splitlines()
        self.assertRegex(lines[0], r"^#0  0x[0-9a-f]{16} in nap\(\)(\+0x[0-9a-f]+)? \(.*stack_target_fp\) "
                                   r"at .*stack_target.cpp:\d+$")
        self.assertRegex(lines[3], r"^#3  0x[0-9a-f]{16} in deep::dive\(long\)\+0x[0-9a-f]+ "
                                   r"\(.*\) at .*stack_target.cpp:\d+ \[via trampoline\]$")
        self.assertEqual(sum("[via trampoline]" in l for l in lines), DEPTH + 1)
        for i, line in enumerate(lines):
            self.assertTrue(line.startswith("#%d " % i), line)

        js = probectl("--socket", self.daemon.socket, "--json", "stack", self.pid, self.pid)
        self.assertEqual(js.returncode, 0, js.stderr)
        self.check_frames(json.loads(js.stdout)["frames"])

        bad = probectl("--socket", self.daemon.socket, "stack", self.pid, 1)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("not a thread", bad.stderr.decode())

        evs = self.finish()
        # capture.stack: each entry event carries its stack, the return the same one.
        entries = [e for e in evs if e["type"] == "entry"]
        rets = [e for e in evs if e["type"] == "return"]
        self.assertEqual(len(entries), DEPTH + 1)
        self.assertEqual(len(rets), DEPTH + 1)
        for e in entries:
            level = DEPTH - e["args"][0]
            names = [bare(f["function"]) for f in e["stack"]]
            self.assertEqual(names[:level + 2], ["deep::dive"] * (level + 1) + ["main"])
            self.assertEqual(e["stack"][0]["pc"], e["address"])
        by_arg = {e["args"][0]: e["stack"] for e in entries}
        for r in rets:
            self.assertEqual(r["exit"], "return")
            self.assertEqual(r["stack"], by_arg[r["args"][0]])


if __name__ == "__main__":
    unittest.main(verbosity=2)
