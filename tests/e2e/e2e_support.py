"""Helpers for end-to-end tests: a real probed daemon on a private socket,
real target programs, and a minimal JSON-RPC client over the Unix socket."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

PROBED = os.environ.get("PROBED_BIN", "build/daemon/probed")
PROBECTL = os.environ.get("PROBECTL_BIN", "build/client/probectl")
TARGETS = os.environ.get("PROBED_TARGETS_DIR", "build/tests/targets")


# Set by the arm64 test VM (tests/arm64/vm_init): the CPU is emulated, so
# everything, Python above all, runs many times slower. Tests that race a
# target's own run time against ours give the target more to do there.
EMULATED = os.environ.get("PROBED_EMULATED") == "1"


def processes_matching(text):
    """Pids whose command line (arguments joined by spaces) contains text."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry))
    return found


def wait_until(pred, timeout=30, what="a condition"):
    deadline = time.time() + timeout
    while not pred():
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.01)


def target(name):
    return os.path.join(TARGETS, name)


class Daemon:
    """probed --foreground on a fresh socket; stopped (SIGTERM) by stop()."""

    def __init__(self, extra=()):
        self.dir = tempfile.mkdtemp(prefix="probed-e2e-")
        self.socket = os.path.join(self.dir, "probed.sock")
        self.log = open(os.path.join(self.dir, "probed.log"), "w+")
        # Collected calls stay in the test's own directory, never /var/lib/probed.
        if "--state-dir" not in extra:
            extra = [*extra, "--state-dir", os.path.join(self.dir, "state")]
        self.proc = subprocess.Popen(
            [PROBED, "--socket", self.socket, "--foreground", "--log-level", "debug", *extra],
            stderr=self.log)
        deadline = time.time() + 10
        while time.time() < deadline:
            if os.path.exists(self.socket):
                try:
                    Client(self.socket).close()
                    return
                except OSError:
                    pass
            if self.proc.poll() is not None:
                raise RuntimeError("probed exited early: " + self.log_text())
            time.sleep(0.02)
        raise RuntimeError("probed did not start")

    def log_text(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=timeout)
        return self.proc.returncode

    def alive(self):
        return self.proc.poll() is None


class RpcError(Exception):
    def __init__(self, error):
        super().__init__(error.get("message"))
        self.code = error.get("code")
        self.data = error.get("data", {})
        self.error = error


class Client:
    """Blocking JSON-RPC client; notifications received while waiting for a
    response are kept in self.events."""

    def __init__(self, path, rcvbuf=None, sock=None):
        """Connects to path, or talks over sock, an already connected socket."""
        self.sock = sock or socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if sock is None:
            self.sock.connect(path)
        self.buf = bytearray()
        self.pos = 0
        self.next_id = 1
        self.events = []

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def read_message(self, timeout=10):
        self.sock.settimeout(timeout)
        while True:
            nl = self.buf.find(b"\n", self.pos)
            if nl >= 0:
                line = bytes(self.buf[self.pos:nl])
                self.pos = nl + 1
                if self.pos > (1 << 20):  # compact now and then, not per line
                    del self.buf[:self.pos]
                    self.pos = 0
                return json.loads(line)
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError("daemon closed the connection")
            self.buf += chunk

    def skip_to_event(self, event_type, timeout=10):
        """Reads notifications until one of event_type arrives and returns
        it, decoding only that one: a backlog of thousands of events takes
        minutes to decode on an emulated CPU. The events skipped are not
        kept."""
        marker = ('"type":"%s"' % event_type).encode()
        deadline = time.time() + timeout
        while True:
            at = self.buf.find(marker, self.pos)
            end = self.buf.find(b"\n", at) if at >= 0 else -1
            if end >= 0:
                start = max(self.buf.rfind(b"\n", self.pos, at) + 1, self.pos)
                msg = json.loads(bytes(self.buf[start:end]))
                self.pos = end + 1
                self.events.append(msg["params"])
                return msg["params"]
            if at < 0:  # no line so far has it: keep only a partial last line
                last = self.buf.rfind(b"\n", self.pos)
                if last >= 0:
                    del self.buf[:last + 1]
                    self.pos = 0
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("timed out waiting for a %s event" % event_type)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            if not chunk:
                raise EOFError("daemon closed the connection")
            self.buf += chunk

    def response(self, want_id, timeout=30):
        while True:
            msg = self.read_message(timeout)
            if msg.get("method") == "event":
                self.events.append(msg["params"])
                continue
            if msg.get("id") == want_id:
                return msg
            raise AssertionError("unexpected message %r" % msg)

    def call(self, method, params=None):
        msg_id = self.next_id
        self.next_id += 1
        req = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            req["params"] = params
        self.sock.sendall((json.dumps(req) + "\n").encode())
        resp = self.response(msg_id)
        if "error" in resp:
            raise RpcError(resp["error"])
        return resp["result"]

    def wait_events(self, pred, timeout=10):
        """Reads notifications until pred(list of events so far) holds."""
        deadline = time.time() + timeout
        while not pred(self.events):
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("timed out waiting for events; have %d" % len(self.events))
            try:
                msg = self.read_message(left)
            except socket.timeout:
                continue
            if msg.get("method") == "event":
                self.events.append(msg["params"])
        return self.events


class Target:
    """A target program running untraced, stdout to a file."""

    def __init__(self, *args, name="probe_target_pie_O2", user=None):
        """user: run as this (uid, gid) instead of as ourselves."""
        fd, self.out = tempfile.mkstemp(prefix="probed-target-")
        ids = {"user": user[0], "group": user[1], "extra_groups": []} if user else {}
        self.proc = subprocess.Popen([target(name), *map(str, args)], stdout=fd, **ids)
        os.close(fd)
        self.pid = self.proc.pid
        deadline = time.time() + 60  # a loaded machine can take seconds
        while time.time() < deadline and args and args[0] in ("slow", "signals", "nap", "fire"):
            if "ready" in self.output():
                break
            time.sleep(0.01)

    def output(self):
        with open(self.out) as f:
            return f.read()

    def body(self):
        """Output without the 'ready PID' line, which differs between runs."""
        return "".join(l for l in self.output().splitlines(True) if not l.startswith("ready"))

    def wait(self, timeout=60):
        return self.proc.wait(timeout=timeout)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def untraced_output(*args, name="probe_target_pie_O2"):
    out = subprocess.run([target(name), *map(str, args)], stdout=subprocess.PIPE, check=True).stdout
    return "".join(l for l in out.decode().splitlines(True) if not l.startswith("ready"))
