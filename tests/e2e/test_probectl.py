"""probectl and probed as separate processes, the way a person uses them."""
import json
import os
import signal
import subprocess
import unittest

from e2e_support import PROBECTL, Client, Daemon, Target, processes_matching, target, untraced_output, wait_until


def probectl(*args, **kw):
    return subprocess.run([PROBECTL, *map(str, args)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=kw.pop("timeout", 60), **kw)


class AttachTest(unittest.TestCase):
    def setUp(self):
        self.daemon = Daemon()

    def tearDown(self):
        self.assertEqual(self.daemon.stop(), 0)

    def test_attach_streams_calls_and_ctrl_c_leaves_target_unchanged(self):
        expected = untraced_output("slow", 800)
        t = Target("slow", 800)
        try:
            ctl = subprocess.Popen([PROBECTL, "--socket", self.daemon.socket, "attach", str(t.pid), "work"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            lines = []
            while len(lines) < 10:
                line = ctl.stdout.readline().decode()
                if not line:
                    self.fail("probectl stopped early: " + ctl.stderr.read().decode())
                lines.append(line)
            ctl.send_signal(signal.SIGINT)
            self.assertEqual(ctl.wait(timeout=20), 0)
            # "PID comm[TID] work(0xN, 0x2, ...) = RET  <DURATION>"
            for line in lines:
                self.assertIn("%d " % t.pid, line)
                self.assertIn("[%d] work(" % t.pid, line)
                arg = int(line.split("work(")[1].split(",")[0], 16)
                self.assertIn(") = %d  <" % (arg * 3 + 2), line)
                self.assertRegex(line.strip(), r"<[0-9.]+ (ns|µs|ms|s)>$")
            # Ctrl-C took the probes away and let go of the process.
            c = Client(self.daemon.socket)
            self.assertEqual(c.call("probe.list")["probes"], [])
            self.assertEqual(c.call("process.list")["processes"], [])
            c.close()
            with open("/proc/%d/status" % t.pid) as f:
                self.assertIn("TracerPid:\t0", f.read())
            self.assertEqual(t.wait(), 0)
            self.assertEqual(t.body(), expected)
        finally:
            t.kill()

    def test_attach_json_count(self):
        t = Target("slow", 1000)
        try:
            r = probectl("--socket", self.daemon.socket, "--json", "attach", t.pid, "work", "--count", "7",
                         "--args", "2")
            self.assertEqual(r.returncode, 0, r.stderr)
            events = [json.loads(l) for l in r.stdout.decode().splitlines()]
            self.assertEqual(len(events), 7)
            for ev in events:
                self.assertEqual(ev["type"], "return")
                self.assertEqual(ev["retval"], ev["args"][0] * 3 + 2)
                self.assertEqual(ev["pid"], t.pid)
        finally:
            t.kill()

    def test_errors_and_exit_codes(self):
        r = probectl("--socket", self.daemon.socket, "attach", 4000000, "work")
        self.assertEqual(r.returncode, 2)
        self.assertIn("no such process", r.stderr.decode())
        t = Target("slow", 1000)
        try:
            r = probectl("--socket", self.daemon.socket, "attach", t.pid, "no_such_function_here")
            self.assertEqual(r.returncode, 2)
            self.assertIn("not found", r.stderr.decode())
            # Nothing left behind by the failed attempt.
            c = Client(self.daemon.socket)
            self.assertEqual(c.call("process.list")["processes"], [])
            c.close()
        finally:
            t.kill()
        self.assertEqual(probectl("--socket", self.daemon.socket, "attach").returncode, 1)
        self.assertEqual(probectl("--socket", self.daemon.socket, "frobnicate").returncode, 1)
        self.assertEqual(probectl("--socket", self.daemon.socket, "call", "daemon.status", "{nope").returncode, 1)
        r = probectl("--socket", self.daemon.socket, "call", "daemon.status")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(json.loads(r.stdout)["socket"], self.daemon.socket)
        r = probectl("--socket", self.daemon.socket, "stack", os.getpid())
        self.assertEqual(r.returncode, 2)
        self.assertIn("not traced", r.stderr.decode())
        r = probectl("--socket", os.path.join(self.daemon.dir, "nothing.sock"), "--no-autostart", "status")
        self.assertEqual(r.returncode, 2)
        self.assertIn("no probed daemon", r.stderr.decode())

    def test_run_reports_calls_and_exit_code(self):
        r = probectl("--socket", self.daemon.socket, "--json", "run", "-p", "work", "--",
                     target("probe_target_pie_O0"), "loop", "25")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.decode().splitlines()
        self.assertIn("loop 25 sum 925", lines)  # the target's own output
        events = [json.loads(l) for l in lines if l.startswith("{")]
        rets = [e for e in events if e["type"] == "return"]
        self.assertEqual([e["args"][0] for e in rets], list(range(25)))
        self.assertTrue(all(e["retval"] == e["args"][0] * 3 + 1 for e in rets))
        bad = probectl("--socket", self.daemon.socket, "run", "--", target("probe_target_pie_O0"), "bogus-mode")
        self.assertEqual(bad.returncode, 2)  # the target's own exit code passes through


class AutostartTest(unittest.TestCase):
    def test_private_daemon_when_none_is_running(self):
        env = dict(os.environ)
        env["PROBED_SOCKET"] = "/nonexistent-dir/probed.sock"
        t = Target("slow", 1000)
        try:
            r = subprocess.run([PROBECTL, "attach", str(t.pid), "work", "--count", "3"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(r.stdout.decode().splitlines()), 3)
            with open("/proc/%d/status" % t.pid) as f:
                self.assertIn("TracerPid:\t0", f.read())
            # The private daemon is gone with the session (it may take a
            # moment to exit after detaching).
            wait_until(lambda: not processes_matching("probed --socket /tmp/probectl-"),
                       what="the private daemon to exit")
        finally:
            t.kill()


if __name__ == "__main__":
    unittest.main(verbosity=2)
