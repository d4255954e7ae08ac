"""probed as a separate process, driven over its socket with raw JSON-RPC."""
import json
import os
import platform
import signal
import socket
import time
import unittest

from e2e_support import Client, Daemon, RpcError, Target, target, untraced_output

# What this machine's instructions make of the probes below.
if platform.machine() == "aarch64":
    # An exclusive load opens a window no breakpoint may interrupt.
    REFUSED_TARGET, REFUSED_REASON = "kind_ldxr", "exclusive load/store"
    WORK_ENTRY_STRATEGY = "boosted"  # sub sp, sp, #0x10
else:
    # The bytes after a jmp's opcode decode as ud2.
    REFUSED_TARGET, REFUSED_REASON = "kind_jmp+0x2", "ud2"
    WORK_ENTRY_STRATEGY = "simulate"  # push rbp


def returns(events, probe_id=None):
    return [e for e in events if e["type"] == "return" and (probe_id is None or e["probe_id"] == probe_id)]


class BadInputTest(unittest.TestCase):
    """Every kind of bad input gets an error and nothing else changes."""

    def setUp(self):
        self.daemon = Daemon()
        self.target = Target("slow", 1500)
        self.c = Client(self.daemon.socket)
        self.c.call("process.attach", {"pid": self.target.pid})
        self.probe = self.c.call("probe.add", {"pid": self.target.pid, "target": "work", "owner": "daemon"})

    def tearDown(self):
        self.c.close()
        self.daemon.stop()
        self.target.kill()

    def expect_error(self, code, method, params=None):
        with self.assertRaises(RpcError) as cm:
            self.c.call(method, params)
        self.assertEqual(cm.exception.code, code, cm.exception.error)
        self.assertTrue(cm.exception.error["message"])
        return cm.exception

    def raw_error(self, line):
        self.c.send_raw(line)
        while True:
            msg = self.c.read_message()
            if msg.get("method") == "event":
                continue
            self.assertIn("error", msg)
            return msg["error"]

    def test_barrage_leaves_daemon_and_target_intact(self):
        pid = self.target.pid
        self.assertEqual(self.raw_error(b"this is not json\n")["code"], -32700)
        self.assertEqual(self.raw_error(b'{"jsonrpc":"2.0","id":1,"method":\n')["code"], -32700)
        self.assertEqual(self.raw_error(b"[1,2,3]\n")["code"], -32600)
        self.assertEqual(self.raw_error(b'{"id":5,"method":"daemon.status"}\n')["code"], -32600)
        self.assertEqual(self.raw_error(b'{"jsonrpc":"2.0","id":5,"method":7}\n')["code"], -32600)
        self.assertEqual(self.raw_error(b'{"jsonrpc":"2.0","id":5,"method":"probe.list","params":[1]}\n')["code"], -32602)
        big = b'{"jsonrpc":"2.0","id":9,"method":"daemon.status","params":{"x":"' + b"a" * (2 << 20) + b'"}}\n'
        err = self.raw_error(big)
        self.assertEqual(err["code"], -32600)
        self.assertIn("1 MiB", err["message"])
        self.expect_error(-32601, "no.such.method")
        self.expect_error(-32602, "process.attach", {"pid": "twelve"})
        self.expect_error(-32602, "process.attach", {})
        self.expect_error(-32602, "probe.add", {"pid": pid, "target": 5})
        self.expect_error(-32602, "probe.add", {"pid": pid, "target": "work", "kind": "sideways"})
        self.expect_error(-32602, "probe.add", {"pid": pid, "target": "work", "capture": {"args": 9}})
        self.expect_error(-32602, "probe.remove", {"probe_id": -1})
        self.expect_error(-32602, "events.subscribe", {"pids": "all"})
        e = self.expect_error(-32000, "process.attach", {"pid": 4000000})
        self.assertIn("no such process", str(e))
        self.expect_error(-32000, "process.detach", {"pid": 4000000})
        self.expect_error(-32000, "probe.remove", {"probe_id": 987654})
        self.expect_error(-32000, "probe.add", {"pid": 4000000, "target": "work"})
        e = self.expect_error(-32000, "probe.add", {"pid": pid, "target": "no_such_function_xyz"})
        self.assertIn("not found", str(e))
        self.expect_error(-32602, "probe.add", {"pid": pid, "target": "work+0x1"})  # inside an insn
        self.expect_error(-32602, "probe.add", {"pid": pid, "target": "lib:"})
        self.expect_error(-32602, "process.attach", {"pid": pid})  # already traced
        self.expect_error(-32602, "process.attach", {"pid": self.daemon.proc.pid})  # itself
        self.expect_error(-32602, "stack.get", {"pid": pid, "tid": -3})
        self.expect_error(-32000, "stats.get", {"probe_id": 987654})  # no such collected probe
        self.expect_error(-32000, "stats.get", {"name": "no.such.collection"})
        self.expect_error(-32602, "stats.get", {"probe_id": "x"})
        e = self.expect_error(-32602, "probe.add", {"pid": pid, "target": "work", "collect": {"error_if": "=< 0"}})
        self.assertEqual(e.data["field"], "collect.error_if")
        self.expect_error(-32602, "probe.add", {"pid": pid, "target": "work", "kind": "entry", "collect": {}})
        self.expect_error(-32000, "process.spawn", {"argv": ["/nonexistent/program"]})
        self.expect_error(-32602, "process.spawn", {"argv": []})

        # A process someone else traces: the kernel says EPERM.
        other = Daemon()
        try:
            victim = Target("slow", 1500)
            oc = Client(other.socket)
            oc.call("process.attach", {"pid": victim.pid})
            e = self.expect_error(-32002, "process.attach", {"pid": victim.pid})
            self.assertEqual(e.data.get("errno"), 1)
            oc.close()
        finally:
            other.stop()
            victim.kill()

        # Still serving, still tracing correctly.
        status = self.c.call("daemon.status")
        self.assertEqual(status["processes"], 1)
        self.c.call("events.subscribe", {"probe_ids": [self.probe["probe_id"]]})
        evs = self.c.wait_events(lambda evs: len(returns(evs)) >= 20)
        for ev in returns(evs):
            self.assertEqual(ev["retval"], ev["args"][0] * 3 + 2)
        self.assertTrue(self.daemon.alive())

    def test_refused_instruction_has_a_reason(self):
        kinds = Target(100000000, name="insn_kinds")
        try:
            time.sleep(0.05)
            self.c.call("process.attach", {"pid": kinds.pid})
            with self.assertRaises(RpcError) as cm:
                self.c.call("probe.add", {"pid": kinds.pid, "target": REFUSED_TARGET})
            self.assertEqual(cm.exception.code, -32001)
            self.assertIn(REFUSED_REASON, str(cm.exception))
            self.c.call("process.detach", {"pid": kinds.pid})
        finally:
            kinds.kill()


class SessionTest(unittest.TestCase):
    def setUp(self):
        self.daemon = Daemon()

    def tearDown(self):
        self.assertEqual(self.daemon.stop(), 0)

    def test_two_clients_see_only_their_subscriptions(self):
        t = Target("signals", 2000)
        try:
            a, b = Client(self.daemon.socket), Client(self.daemon.socket)
            a.call("process.attach", {"pid": t.pid})
            pa = a.call("probe.add", {"pid": t.pid, "target": "work", "kind": "return"})
            pb = b.call("probe.add", {"pid": t.pid, "target": "work", "kind": "entry"})
            a.call("events.subscribe", {"probe_ids": [pa["probe_id"]]})
            b.call("events.subscribe", {"probe_ids": [pb["probe_id"]]})
            a.wait_events(lambda e: len(e) >= 10)
            b.wait_events(lambda e: len(e) >= 10)
            self.assertTrue(all(e["probe_id"] == pa["probe_id"] and e["type"] == "return" for e in a.events))
            self.assertTrue(all(e["probe_id"] == pb["probe_id"] and e["type"] == "entry" for e in b.events))
            # b goes away: its client-owned probe goes with it, a's stays.
            b.close()
            time.sleep(0.2)
            probes = a.call("probe.list")["probes"]
            self.assertEqual([p["probe_id"] for p in probes], [pa["probe_id"]])
            a.call("process.detach", {"pid": t.pid})
            a.close()
        finally:
            t.kill()

    def test_spawn_resume_and_exit_event(self):
        c = Client(self.daemon.socket)
        out = os.path.join(self.daemon.dir, "out.txt")
        r = c.call("process.spawn", {"argv": [target("probe_target_pie_O0"), "loop", "300"], "stdout": out})
        pid = r["pid"]
        self.assertTrue(r["held"])
        listed = c.call("process.list")["processes"]
        self.assertEqual(listed[0]["pid"], pid)
        self.assertTrue(listed[0]["held"])
        p = c.call("probe.add", {"pid": pid, "target": "work", "capture": {"args": 2}})
        self.assertEqual(p["strategy"], WORK_ENTRY_STRATEGY)
        c.call("events.subscribe", {"pids": [pid]})
        c.call("process.resume", {"pid": pid})
        evs = c.wait_events(lambda e: any(x["type"] == "exit" for x in e))
        rets = returns(evs)
        self.assertEqual(len(rets), 300)
        for i, ev in enumerate(rets):
            self.assertEqual(ev["args"], [i, 1])
            self.assertEqual(ev["retval"], i * 3 + 1)
            self.assertEqual(ev["exit"], "return")
            self.assertEqual(ev["function"], "work")
            self.assertTrue(ev["address"].startswith("0x"))
        exit_ev = [e for e in evs if e["type"] == "exit"][0]
        self.assertEqual(exit_ev["exit_code"], 0)
        with open(out) as f:
            self.assertEqual(f.read(), untraced_output("loop", 300, name="probe_target_pie_O0"))
        self.assertEqual(c.call("process.list")["processes"], [])
        c.close()

    def test_spawned_program_runs_when_its_client_leaves(self):
        c = Client(self.daemon.socket)
        out = os.path.join(self.daemon.dir, "left.txt")
        pid = c.call("process.spawn", {"argv": [target("probe_target_pie_O2"), "loop", "50"],
                                       "stdout": out})["pid"]
        c.call("probe.add", {"pid": pid, "target": "work"})
        c.close()  # never resumed: the daemon must let it run, not keep it held
        watcher = Client(self.daemon.socket)
        deadline = time.time() + 20
        while time.time() < deadline and watcher.call("process.list")["processes"]:
            time.sleep(0.05)
        self.assertEqual(watcher.call("process.list")["processes"], [])
        with open(out) as f:
            self.assertEqual(f.read(), untraced_output("loop", 50))
        watcher.close()

    def test_subscriber_that_does_not_read(self):
        t = Target("loop", 100000000)
        try:
            time.sleep(0.05)
            reader = Client(self.daemon.socket)
            sleeper = Client(self.daemon.socket, rcvbuf=4096)
            reader.call("process.attach", {"pid": t.pid})
            p = reader.call("probe.add", {"pid": t.pid, "target": "work", "owner": "daemon"})
            sleeper.call("events.subscribe", {})
            reader.call("events.subscribe", {})
            # The reader keeps receiving while the sleeper's buffer fills up
            # and then overflows (how soon depends on the machine's load).
            deadline = time.time() + 60
            listed = {"dropped": 0}
            while time.time() < deadline and listed["dropped"] == 0:
                for _ in range(20):
                    reader.wait_events(lambda e: len(e) > 0, timeout=5)
                    reader.events.clear()
                listed = reader.call("probe.list")["probes"][0]
            self.assertGreater(listed["dropped"], 0)
            rss_kb = int([l for l in open("/proc/%d/status" % self.daemon.proc.pid)
                          if l.startswith("VmRSS")][0].split()[1])
            self.assertLess(rss_kb, 200 * 1024)
            # When the sleeper finally reads, it is told what it missed. The
            # calls stop first, so a slow (loaded) machine cannot keep the
            # sleeper's backlog full for ever.
            reader.call("process.detach", {"pid": t.pid})
            dropped = sleeper.skip_to_event("dropped", timeout=120)
            self.assertEqual(dropped["probe_id"], p["probe_id"])
            self.assertGreater(dropped["count"], 0)
            reader.close()
            sleeper.close()
        finally:
            t.kill()


class ShutdownTest(unittest.TestCase):
    def test_sigterm_restores_targets_and_removes_socket(self):
        expected = untraced_output("slow", 600)
        daemon = Daemon()
        t = Target("slow", 600)
        try:
            c = Client(daemon.socket)
            c.call("process.attach", {"pid": t.pid})
            c.call("probe.add", {"pid": t.pid, "target": "work", "owner": "daemon"})
            c.call("probe.add", {"pid": t.pid, "target": "libc:nanosleep", "owner": "daemon"})
            c.call("events.subscribe", {})
            c.wait_events(lambda e: len(e) >= 20)
            self.assertEqual(daemon.stop(signal.SIGTERM), 0)
            self.assertFalse(os.path.exists(daemon.socket))
            self.assertEqual(t.wait(), 0)
            self.assertEqual(t.body(), expected)
            self.assertIn("detached from pid %d" % t.pid, daemon.log_text())
        finally:
            t.kill()
            daemon.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
