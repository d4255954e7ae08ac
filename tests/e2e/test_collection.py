"""Collection as a service uses it: probes.d selects a program started after
the daemon, its calls land in JSON Lines files and aggregates that survive a
restart, SIGHUP applies a changed config without disturbing unchanged probes,
and a broken config file is reported by file and line."""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from e2e_support import PROBECTL, Client, Daemon, Target, target


def status_of(i):
    """What the target's status_of(i) returns (tests/targets/probe_target.c)."""
    return (i % 7) * 3 - 9


def wait_for(pred, what, timeout=20):
    deadline = time.time() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def jsonl_records(state, name):
    """Every record of a collection, oldest file first.

    The daemon may rotate while we read: calls.jsonl becomes calls.N.jsonl
    after we listed the rotated files, and the calls.jsonl we then open holds
    only what came after. So read until the list of rotated files is the same
    before and after the read (a rotation always adds a file)."""
    d = os.path.join(state, name)

    def rotated():
        return sorted(glob.glob(os.path.join(d, "calls.[0-9]*.jsonl")))

    for _ in range(100):
        before = rotated()
        out = []
        try:
            for path in before + [os.path.join(d, "calls.jsonl")]:
                if path in before or os.path.exists(path):
                    with open(path) as f:
                        text = f.read()
                    # A line still being written is not a record yet.
                    out += [json.loads(l) for l in text.split("\n")[:-1] if l.strip()]
        except FileNotFoundError:
            continue  # rotated or retired while we read
        if rotated() == before:
            return out
    raise AssertionError("the collection kept rotating while it was read")


def probectl(sock, *args):
    return subprocess.run([PROBECTL, "--socket", sock, "--no-autostart", *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)


class CollectionServiceTest(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            raise unittest.SkipTest("attaching to a process that is not our child and the proc connector need root")
        self.dir = tempfile.mkdtemp(prefix="probed-collect-")
        self.probes_d = os.path.join(self.dir, "probes.d")
        self.state = os.path.join(self.dir, "state")
        self.conf = os.path.join(self.dir, "probed.conf")
        os.mkdir(self.probes_d)
        # A scan interval longer than the test: a program found quickly was
        # found by its exec notice.
        with open(self.conf, "w") as f:
            f.write("# e2e\nrotate_size = 32K\nretain_files = 50\nscan_interval = 600s\n")
        # A private copy of the target: selectors must not reach the
        # targets of other tests running at the same time.
        self.comm = "coll%d" % os.getpid()
        self.exe = os.path.join(self.dir, self.comm)
        shutil.copy(target("probe_target_pie_O2"), self.exe)
        self.write("status.json", {"select": {"exe": self.exe},
                                   "probes": [{"name": "rc", "target": "status_of",
                                               "capture": {"args": 1},
                                               "collect": {"error_if": "< 0"}}]})
        self.write("work.json", {"select": {"comm": self.comm},
                                 "probes": [{"name": "work", "target": "work",
                                             "collect": {"error_if": ">= 300"}}]})
        self.daemons = []
        self.target = None

    def tearDown(self):
        if self.target:
            self.target.kill()
        for d in self.daemons:
            if d.alive():
                d.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name, doc_or_text):
        text = doc_or_text if isinstance(doc_or_text, str) else json.dumps(doc_or_text, indent=2)
        with open(os.path.join(self.probes_d, name), "w") as f:
            f.write(text)

    def start_daemon(self):
        d = Daemon(extra=["--config", self.conf, "--probes-dir", self.probes_d, "--state-dir", self.state])
        self.daemons.append(d)
        if "no exec notices" in d.log_text():
            d.stop()
            raise unittest.SkipTest("no proc connector here: " + d.log_text())
        return d

    def stats(self, d, name):
        c = Client(d.socket)
        try:
            return c.call("stats.get", {"name": name})["collections"][0]
        finally:
            c.close()

    def wait_calls(self, d, name, at_least):
        def enough():
            try:
                s = self.stats(d, name)
            except Exception:
                return None
            return s if s["calls"] >= at_least else None
        return wait_for(enough, "%d calls in %s" % (at_least, name))

    def check_records(self, records, pid):
        for r in records:
            self.assertEqual(r["pid"], pid)
            self.assertEqual(r["exit"], "return")
            self.assertEqual(r["retval"], status_of(r["args"][0]), r)
            self.assertEqual(r["error"], r["retval"] < 0, r)

    def assert_no_gap(self, records):
        idx = [r["args"][0] for r in records]
        self.assertEqual(idx, list(range(idx[0], idx[0] + len(idx))), "calls missing from the log")

    def test_collect_restart_reload_and_bad_config(self):
        d = self.start_daemon()
        # Started after the daemon: found through its exec.
        self.target = Target("status", 100000, name=self.exe)
        s = self.wait_calls(d, "status.rc", 200)
        self.assertIn("exec of pid %d" % self.target.pid, d.log_text())

        # The log: every call's return value is the target's, errors follow
        # the predicate, nothing missing between the first and last line.
        records = jsonl_records(self.state, "status.rc")
        self.assertGreaterEqual(len(records), s["calls"])
        self.check_records(records, self.target.pid)
        self.assert_no_gap(records)
        counted = records[:s["calls"]]  # written in the order they were counted
        self.assertEqual(s["errors"], sum(1 for r in counted if r["retval"] < 0))
        self.assertEqual(s["returns"], s["calls"])
        self.assertEqual(s["dropped"], 0)
        self.assertEqual(s["error_if"], "< 0")
        top = {e["value"]: e["count"] for e in s["top_values"]}
        self.assertEqual(set(top), {status_of(i) for i in range(7)})
        for v, n in top.items():
            self.assertEqual(n, sum(1 for r in counted if r["retval"] == v))
        lat = s["latency_ns"]
        self.assertEqual(lat["histogram"]["count"], s["calls"])
        self.assertLessEqual(lat["min"], lat["p50"])
        self.assertLessEqual(lat["p50"], lat["p99"])
        self.assertLessEqual(lat["p99"], lat["max"])
        # Rotation happened (32K files) and every file respects the size.
        files = glob.glob(os.path.join(self.state, "status.rc", "calls*.jsonl"))
        self.assertGreater(len(files), 1)
        for f in files:
            self.assertLessEqual(os.path.getsize(f), 32 * 1024)
        work = self.stats(d, "work.work")
        wrec = jsonl_records(self.state, "work.work")[:work["calls"]]
        self.assertEqual(work["errors"], sum(1 for r in wrec if r["retval"] >= 300))
        self.assertTrue(all(r["retval"] == r["args"][0] * 3 + 2 for r in wrec))

        # probectl stats, for people and for scripts.
        out = probectl(d.socket, "stats", "status.rc")
        self.assertEqual(out.returncode, 0, out.stderr)
        text = out.stdout.decode()
        self.assertIn("status.rc  (error if retval < 0", text)
        self.assertIn("latency histogram:", text)
        self.assertIn("█", text)
        for v in top:
            self.assertIn(" %d " % v, text)
        out = probectl(d.socket, "--json", "stats")
        self.assertEqual(out.returncode, 0, out.stderr)
        names = {c["name"] for c in json.loads(out.stdout)["collections"]}
        self.assertEqual(names, {"status.rc", "work.work"})
        self.assertEqual(probectl(d.socket, "stats", "nosuch").returncode, 2)

        # Restart: the aggregates come back, and counting goes on from them.
        self.assertEqual(d.stop(), 0)
        with open(os.path.join(self.state, "status.rc", "stats.json")) as f:
            saved = json.load(f)["aggregates"]["calls"]
        self.assertGreaterEqual(saved, s["calls"])
        restarted = time.time_ns()
        d = self.start_daemon()
        after = self.stats(d, "status.rc")
        self.assertGreaterEqual(after["calls"], saved)
        self.wait_calls(d, "status.rc", saved + 100)
        self.assertTrue(self.target.proc.poll() is None, "target must survive the restart")

        # Reload: work.json changes, status.json does not, bad.json is broken.
        rc_probe = wait_for(lambda: self.stats(d, "status.rc")["probe_ids"], "status.rc probe")
        work_probe = self.stats(d, "work.work")["probe_ids"]
        self.write("work.json", {"select": {"comm": self.comm},
                                 "probes": [{"name": "work", "target": "work",
                                             "collect": {"error_if": ">= 600"}}]})
        self.write("bad.json", '{\n  "select": {"comm": "x"},\n  "probes": [\n    {"target": "f",}\n  ]\n}\n')
        before_reload = time.time_ns()
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: self.stats(d, "work.work")["error_if"] == ">= 600", "the reload")
        self.assertIn("bad.json:4:20: invalid JSON", d.log_text())
        now = self.stats(d, "status.rc")["calls"]
        self.wait_calls(d, "status.rc", now + 100)
        self.assertEqual(self.stats(d, "status.rc")["probe_ids"], rc_probe, "unchanged probe was replaced")
        self.assertNotEqual(self.stats(d, "work.work")["probe_ids"], work_probe, "changed probe was kept")
        # Probe ids start over with the daemon: the restart's records only.
        mine = [r for r in jsonl_records(self.state, "status.rc")
                if r["probe_id"] == rc_probe[0] and r["time_ns"] > restarted]
        self.check_records(mine, self.target.pid)
        self.assert_no_gap(mine)
        self.assertLess(mine[0]["time_ns"], before_reload)
        self.assertGreater(mine[-1]["time_ns"], before_reload)
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
