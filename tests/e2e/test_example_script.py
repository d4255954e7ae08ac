"""examples/watch_calls.py drives a real session over the socket."""
import os
import subprocess
import sys
import unittest

from e2e_support import EMULATED, Daemon, Target

EXAMPLE = os.path.join(os.environ.get("PROBED_EXAMPLES_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "examples")),
                       "watch_calls.py")


class ExampleScriptTest(unittest.TestCase):
    def test_watch_calls_prints_calls_and_lets_go(self):
        daemon = Daemon()
        # Long enough for the script (a Python start) to attach before the
        # target finishes on its own, short enough to wait for its end.
        t = Target("slow", 10000 if EMULATED else 1000)
        try:
            out = subprocess.run([sys.executable, EXAMPLE, "--socket", daemon.socket, "--count", "5",
                                  str(t.pid), "work"], stdout=subprocess.PIPE, check=True,
                                 timeout=60).stdout.decode()
            lines = out.splitlines()
            self.assertIn("probe 1 on work", lines[0])
            calls = [l for l in lines[1:] if l.startswith("work(")]
            self.assertEqual(len(calls), 5)
            for line in calls:
                a = int(line.split("(")[1].split(",")[0], 16)
                self.assertIn("= %d " % (a * 3 + 2), line)
            # Let go: the target is no longer traced and finishes normally.
            with open("/proc/%d/status" % t.pid) as f:
                self.assertIn("TracerPid:\t0", f.read())
            self.assertEqual(t.wait(), 0)
        finally:
            t.kill()
            daemon.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
