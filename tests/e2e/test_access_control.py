"""Access control on a root daemon: clients of another uid act only on their
own processes and probes, see only their own events, and stay within the
per-client limits; root may do anything. Runs as root (it switches uids);
skips otherwise."""
import os
import socket
import sys
import time
import unittest

from e2e_support import Client, Daemon, RpcError, Target

NOBODY = (65534, 65534)   # the client under test
OTHER = (4242, 4242)      # another unprivileged user; needs no passwd entry
PERMISSION, REFUSED = -32002, -32001


def connect_as(user, path):
    """A Client whose connection was made by a process running as user, so
    the daemon's SO_PEERCRED sees that uid. The helper process stays alive
    until the daemon has answered once (it reads the peer's /proc status when
    it accepts)."""
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            ours.close()
            os.setgroups([])
            os.setresgid(user[1], user[1], user[1])
            os.setresuid(user[0], user[0], user[0])
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            socket.send_fds(theirs, [b"c"], [s.fileno()])
            theirs.recv(1)  # until the parent is done with us
            code = 0
        finally:
            os._exit(code)
    theirs.close()
    _, fds, _, _ = socket.recv_fds(ours, 1, 1)
    if not fds:
        raise RuntimeError("helper running as uid %d could not connect" % user[0])
    client = Client(None, sock=socket.socket(fileno=fds[0]))
    client.call("daemon.status")  # accepted, credentials taken
    ours.close()
    os.waitpid(pid, 0)
    return client


def returns(events, probe_id):
    return [e for e in events if e.get("type") == "return" and e.get("probe_id") == probe_id]


class AccessControlTest(unittest.TestCase):
    def setUp(self):
        self.daemon = Daemon(["--max-probes-per-client", "2", "--max-subscriptions-per-client", "1"])
        # The socket's directory and file let anyone in, as the system
        # socket does for group "probed".
        os.chmod(self.daemon.dir, 0o755)
        os.chmod(self.daemon.socket, 0o666)
        self.targets = []
        self.clients = []
        self.root = self.client(None)
        self.nobody = self.client(NOBODY)

    def tearDown(self):
        for c in self.clients:
            c.close()
        self.daemon.stop()
        for t in self.targets:
            t.kill()

    def client(self, user):
        c = Client(self.daemon.socket) if user is None else connect_as(user, self.daemon.socket)
        self.clients.append(c)
        return c

    def start(self, user=None):
        t = Target("slow", 100000, user=user)
        self.targets.append(t)
        return t

    def denied(self, client, code, method, params):
        with self.assertRaises(RpcError) as cm:
            client.call(method, params)
        self.assertEqual(cm.exception.code, code, cm.exception.error)
        return cm.exception

    def test_cannot_attach_to_root_or_other_users_processes(self):
        mine, roots, others = self.start(NOBODY), self.start(), self.start(OTHER)
        e = self.denied(self.nobody, PERMISSION, "process.attach", {"pid": roots.pid})
        self.assertIn("belongs to uid 0", e.error["message"])
        self.assertEqual(e.data["kind"], "permission")
        e = self.denied(self.nobody, PERMISSION, "process.attach", {"pid": others.pid})
        self.assertIn("belongs to uid 4242", e.error["message"])
        self.denied(self.nobody, PERMISSION, "probe.add", {"pid": roots.pid, "target": "work"})
        self.assertEqual(self.nobody.call("process.attach", {"pid": mine.pid})["pid"], mine.pid)
        # Root may attach to anyone's process.
        self.assertEqual(self.root.call("process.attach", {"pid": others.pid})["pid"], others.pid)
        self.assertEqual(self.root.call("process.attach", {"pid": roots.pid})["pid"], roots.pid)
        # Each user sees only what it may act on; root sees all.
        listed = [p["pid"] for p in self.nobody.call("process.list")["processes"]]
        self.assertEqual(listed, [mine.pid])
        self.assertEqual(len(self.root.call("process.list")["processes"]), 3)
        # Detaching someone else's process is acting on it too.
        self.denied(self.nobody, PERMISSION, "process.detach", {"pid": others.pid})
        log = self.daemon.log_text()
        self.assertIn("process.attach pid %d: denied (pid %d belongs to uid 0" % (roots.pid, roots.pid), log)
        self.assertIn("process.attach pid %d: allowed (same uid and gid, dumpable)" % mine.pid, log)

    def test_events_and_probes_of_others_stay_hidden(self):
        mine, roots = self.start(NOBODY), self.start()
        self.root.call("process.attach", {"pid": roots.pid})
        root_probe = self.root.call("probe.add", {"pid": roots.pid, "target": "work"})["probe_id"]
        self.nobody.call("process.attach", {"pid": mine.pid})
        my_probe = self.nobody.call("probe.add", {"pid": mine.pid, "target": "work"})["probe_id"]

        self.nobody.call("events.subscribe", {})  # everything it may see
        self.denied(self.client(NOBODY), PERMISSION, "events.subscribe", {"probe_ids": [root_probe]})
        self.root.call("events.subscribe", {})
        # Root hears both probes; by then nobody's stream has run as long.
        self.root.wait_events(lambda ev: len(returns(ev, root_probe)) >= 20 and len(returns(ev, my_probe)) >= 20)
        self.nobody.wait_events(lambda ev: len(returns(ev, my_probe)) >= 40)
        self.assertEqual([e for e in self.nobody.events if e.get("probe_id") == root_probe], [])
        self.assertEqual([e for e in self.nobody.events if e.get("pid") == roots.pid], [])

        self.assertEqual([p["probe_id"] for p in self.nobody.call("probe.list")["probes"]], [my_probe])
        self.assertEqual(sorted(p["probe_id"] for p in self.root.call("probe.list")["probes"]),
                         sorted([root_probe, my_probe]))
        e = self.denied(self.nobody, PERMISSION, "probe.remove", {"probe_id": root_probe})
        self.assertIn("probe belongs to uid 0", e.error["message"])
        self.assertEqual(self.root.call("probe.remove", {"probe_id": my_probe})["probe_id"], my_probe)

    def test_limits_bind_unprivileged_clients(self):
        mine, roots = self.start(NOBODY), self.start()
        self.nobody.call("process.attach", {"pid": mine.pid})
        for fn in ("work", "libc:nanosleep"):
            self.nobody.call("probe.add", {"pid": mine.pid, "target": fn})
        # The limit is per user: a second connection of the same uid shares it.
        second = self.client(NOBODY)
        e = self.denied(second, REFUSED, "probe.add", {"pid": mine.pid, "target": "libc:getpid"})
        self.assertEqual(e.data["kind"], "limit")
        self.assertEqual(e.data["limit"], 2)
        self.nobody.call("events.subscribe", {})
        self.nobody.call("events.subscribe", {"pids": [mine.pid]})  # replacing is not a second one
        e = self.denied(second, REFUSED, "events.subscribe", {})
        self.assertEqual(e.data["kind"], "limit")
        self.nobody.call("events.unsubscribe")
        self.assertTrue(second.call("events.subscribe", {})["subscribed"])
        # Root is not limited.
        self.root.call("process.attach", {"pid": roots.pid})
        for fn in ("work", "libc:nanosleep", "libc:getpid"):
            self.root.call("probe.add", {"pid": roots.pid, "target": fn})
        for c in (self.root, self.client(None)):
            self.assertTrue(c.call("events.subscribe", {})["subscribed"])
        self.assertIn("denied (uid 65534 already holds 2 probes (limit 2))", self.daemon.log_text())

    def test_spawned_programs_run_as_the_client(self):
        out = os.path.join(self.daemon.dir, "spawned.out")
        spawned = self.nobody.call("process.spawn", {"argv": [self.targets_bin(), "slow", "100000"]})
        pid = spawned["pid"]
        try:
            with open("/proc/%d/status" % pid) as f:
                uids = next(l for l in f if l.startswith("Uid:")).split()[1:]
            self.assertEqual(uids, ["65534"] * 4)
            self.nobody.call("process.resume", {"pid": pid})
            # It may not write where its user may not, even though the daemon could.
            e = self.denied(self.nobody, -32000, "process.spawn",
                            {"argv": [self.targets_bin(), "slow", "1"], "stdout": out})
            self.assertIn("Permission denied", e.error["message"])
            self.assertFalse(os.path.exists(out))
        finally:
            os.kill(pid, 9)

    def targets_bin(self):
        from e2e_support import target
        return target("probe_target_pie_O2")


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("skip: switching users needs root")
        sys.exit(77)
    unittest.main(verbosity=2)
