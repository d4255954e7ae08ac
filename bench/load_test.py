#!/usr/bin/env python3
"""Load test of probed (run by hand; tests/e2e/test_load.py runs a short one).

probed on a temporary socket traces target programs (probe_target_pie_O2
loop N) with a call probe on work(), which the loop calls back to back, so
probes fire as fast as the tracer can take them. Meanwhile CLIENTS clients
work the daemon at once for SECONDS seconds:

  requesters  daemon.status, process.list, probe.list, probe.add/remove on the
              targets, stack.get, subscribe/unsubscribe, and bad requests
              (invalid JSON, unknown methods, bad params, notifications);
              every answer is checked, request latency is measured
  readers     subscribed to every event, reading as fast as they can
  sleepers    subscribed to every event, never reading (their backlog hits
              the per-client cap: events are dropped and counted)
  churners    connect, ask, and hang up, some in the middle of a request

The daemon's RSS and open fds are sampled throughout. At the end: the daemon
is alive and answers, its RSS stayed under a bound (its buffers are capped),
its fds are back to the baseline once the clients are gone, and every target,
detached, finishes with the right output and exit status 0.

usage: bench/load_test.py [--build DIR] [--clients N] [--seconds S] [--targets N]
Exit status 0 when every check holds; the figures are printed either way.
"""
import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

LOOP_CALLS = 300_000_000  # traced, the targets take ~10^3 s for it: they outlast the load
CLIENT_BACKLOG_CAP = 4 << 20  # ClientSession::kMaxPendingEvents


def loop_output(n):
    return "loop %d sum %d\n" % (n, 3 * n * (n - 1) // 2 + n)


class Failure(Exception):
    pass


class Conn:
    """One client connection; events that arrive while a response is awaited
    are counted and skipped."""

    def __init__(self, path, timeout=60):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 1
        self.skipped_events = 0

    def close(self):
        self.sock.close()

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise Failure("daemon closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method, params=None, raw=None):
        """The response to one request (raw: bytes sent instead, answered
        with id None)."""
        msg_id = None
        if raw is None:
            msg_id = self.next_id
            self.next_id += 1
            req = {"jsonrpc": "2.0", "id": msg_id, "method": method}
            if params is not None:
                req["params"] = params
            raw = (json.dumps(req) + "\n").encode()
        self.send(raw)
        while True:
            msg = self.line()
            if msg.get("method") == "event":
                self.skipped_events += 1
                continue
            if msg.get("id") != msg_id:
                raise Failure("response for id %r while waiting for %r" % (msg.get("id"), msg_id))
            return msg

    def call(self, method, params=None):
        msg = self.request(method, params)
        if "error" in msg:
            raise Failure("%s %r failed: %s" % (method, params, msg["error"]))
        return msg["result"]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = []
        self.requests = 0
        self.events = 0
        self.drop_notices = 0
        self.dropped = 0
        self.failures = []

    def fail(self, who, why):
        with self.lock:
            self.failures.append("%s: %s" % (who, why))


def expect_error(msg, code, what):
    if "error" not in msg or msg["error"].get("code") != code:
        raise Failure("%s: expected error %d, got %r" % (what, code, msg))


def requester(path, targets, stop, stats, seed):
    rng = random.Random(seed)
    conn = Conn(path)
    mine = []  # probe ids this client added
    lat = []
    try:
        while not stop.is_set():
            pid = rng.choice(targets)
            roll = rng.random()
            t0 = time.monotonic()
            if roll < 0.15:
                conn.call("daemon.status")
            elif roll < 0.25:
                got = {p["pid"] for p in conn.call("process.list")["processes"]}
                if not set(targets) <= got:
                    raise Failure("process.list lost a target: %r" % got)
            elif roll < 0.35:
                conn.call("probe.list")
            elif roll < 0.50 and len(mine) < 4:
                kind = rng.choice(["entry", "return", "call"])
                mine.append(conn.call("probe.add", {"pid": pid, "target": "work", "kind": kind,
                                                    "capture": {"args": 2, "retval": True}})["probe_id"])
            elif roll < 0.60 and mine:
                conn.call("probe.remove", {"probe_id": mine.pop(rng.randrange(len(mine)))})
            elif roll < 0.65:
                if not conn.call("stack.get", {"pid": pid})["frames"]:
                    raise Failure("stack.get: no frames")
            elif roll < 0.72:
                conn.call("events.subscribe", {"probe_ids": mine} if mine else {"pids": [pid]})
                conn.call("events.unsubscribe")
            elif roll < 0.76:
                expect_error(conn.request(None, raw=b"{oops\n"), -32700, "invalid JSON")
            elif roll < 0.80:
                expect_error(conn.request("no.such.method"), -32601, "unknown method")
            elif roll < 0.84:
                expect_error(conn.request("probe.add", {"pid": -1, "target": "work"}), -32602, "bad pid")
            elif roll < 0.88:
                expect_error(conn.request("probe.add", {"pid": pid, "target": "no_such_function"}),
                             -32000, "unknown symbol")
            elif roll < 0.92:
                expect_error(conn.request("probe.remove", {"probe_id": 10**12}), -32000, "unknown probe")
            elif roll < 0.96:
                expect_error(conn.request("daemon.status", [1]), -32602, "params not an object")
            else:
                # A notification is never answered: the status after it is.
                conn.send(b'{"jsonrpc":"2.0","method":"daemon.status"}\n')
                conn.call("daemon.status")
            lat.append(time.monotonic() - t0)
    except (Failure, OSError, ValueError) as e:
        stats.fail("requester %d" % seed, e)
    finally:
        conn.close()
        with stats.lock:
            stats.latencies += lat
            stats.requests += len(lat)
            stats.events += conn.skipped_events


def reader(path, stop, stats, who):
    conn = Conn(path)
    events = drops = notices = 0
    try:
        conn.call("events.subscribe", {})
        conn.sock.settimeout(0.5)
        tail = b""
        while not stop.is_set():
            try:
                chunk = conn.sock.recv(1 << 20)
            except socket.timeout:
                continue
            if not chunk:
                raise Failure("daemon closed the connection")
            data = tail + chunk
            cut = data.rfind(b"\n") + 1
            whole, tail = data[:cut], data[cut:]
            lines = whole.count(b"\n")
            n_drop = whole.count(b'"type":"dropped"')
            if n_drop:
                for line in whole.splitlines():
                    if b'"type":"dropped"' in line:
                        drops += json.loads(line)["params"]["count"]
            notices += n_drop
            events += lines - n_drop
    except (Failure, OSError, ValueError) as e:
        stats.fail(who, e)
    finally:
        conn.close()
        with stats.lock:
            stats.events += events
            stats.drop_notices += notices
            stats.dropped += drops


def sleeper(path, stop, stats, who):
    try:
        conn = Conn(path)
        # A small receive buffer: the backlog stays in the daemon.
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        conn.call("events.subscribe", {})
        stop.wait()
        conn.close()
    except (Failure, OSError, ValueError) as e:
        stats.fail(who, e)


def churner(path, stop, stats, seed):
    rng = random.Random(seed)
    n = 0
    try:
        while not stop.is_set():
            conn = Conn(path)
            if rng.random() < 0.3:
                conn.send(b'{"jsonrpc":"2.0","id":1,"method":"process.list"}\n')  # gone before the answer
            else:
                conn.call("daemon.status")
                if rng.random() < 0.5:
                    conn.call("events.subscribe", {})
                n += 1
            conn.close()
    except (Failure, OSError, ValueError) as e:
        stats.fail("churner %d" % seed, e)
    with stats.lock:
        stats.requests += n


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def fd_kinds(pid):
    """The daemon's fds that are not files, by kind ('socket', 'pipe',
    'anon_inode:[eventfd]'...): what clients and requests use. Open files are
    the traced processes' modules, which the unwinder keeps per process (and
    may open more of as stacks reach new code) until the process goes."""
    kinds = []
    for name in fd_names(pid):
        if not name.startswith("/"):
            kinds.append(name.split(":[")[0] if name.startswith(("socket", "pipe")) else name)
    return sorted(kinds)


def fd_names(pid):
    names = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            names.append(os.readlink("/proc/%d/fd/%s" % (pid, fd)))
        except OSError:
            pass
    return sorted(names)


def traced_files(pid):
    """The daemon's open files, less the /proc directory its periodic scan
    for configured processes holds for a moment (in the emulator, long
    enough to be seen)."""
    return [n for n in fd_names(pid) if n.startswith("/") and n != "/proc"]


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise Failure("timed out waiting for " + what)
        time.sleep(0.05)


def run(probed, target_prog, clients=50, seconds=30, ntargets=2, out=print):
    """Runs the load and its checks; returns (figures, failures)."""
    tmp = tempfile.mkdtemp(prefix="probed-load-")
    sock = os.path.join(tmp, "probed.sock")
    log = open(os.path.join(tmp, "probed.log"), "w")
    daemon = subprocess.Popen([probed, "--socket", sock, "--foreground", "--log-level", "warn",
                               "--state-dir", os.path.join(tmp, "state")], stderr=log)
    targets = []
    failures = []
    figures = {}
    try:
        wait_for(lambda: os.path.exists(sock) or daemon.poll() is not None, 30, "the socket")
        if daemon.poll() is not None:
            raise Failure("probed exited at start (log %s)" % log.name)
        holder = Conn(sock)
        # Files open before any process is traced (the log, /dev/null).
        start_files = traced_files(daemon.pid)
        for i in range(ntargets):
            outpath = os.path.join(tmp, "target%d.out" % i)
            with open(outpath, "w") as f:
                proc = subprocess.Popen([target_prog, "loop", str(LOOP_CALLS)], stdout=f)
            targets.append((proc, outpath))
            holder.call("process.attach", {"pid": proc.pid})
            holder.call("probe.add", {"pid": proc.pid, "target": "work", "kind": "call",
                                      "capture": {"args": 2, "retval": True}})
        pids = [p.pid for p, _ in targets]
        # What the daemon keeps open per traced process (its memory, the
        # unwinder's files) is opened once here, before the baseline.
        for pid in pids:
            holder.call("stack.get", {"pid": pid})
        base_fds = fd_count(daemon.pid)
        base_fd_names = fd_names(daemon.pid)
        base_fd_kinds = fd_kinds(daemon.pid)
        base_rss = rss_kib(daemon.pid)
        samples = []
        stop = threading.Event()

        def sample():
            while not stop.wait(0.1):
                samples.append((rss_kib(daemon.pid), fd_count(daemon.pid)))
        sampler = threading.Thread(target=sample)
        sampler.start()

        stats = Stats()
        n_readers = max(1, clients * 16 // 100)
        n_sleepers = max(1, clients * 12 // 100)
        n_churners = max(1, clients * 12 // 100)
        n_requesters = max(1, clients - n_readers - n_sleepers - n_churners)
        threads = []
        for i in range(n_requesters):
            threads.append(threading.Thread(target=requester, args=(sock, pids, stop, stats, i)))
        for i in range(n_readers):
            threads.append(threading.Thread(target=reader, args=(sock, stop, stats, "reader %d" % i)))
        for i in range(n_sleepers):
            threads.append(threading.Thread(target=sleeper, args=(sock, stop, stats, "sleeper %d" % i)))
        for i in range(n_churners):
            threads.append(threading.Thread(target=churner, args=(sock, stop, stats, 1000 + i)))
        status0 = holder.call("daemon.status")
        t0 = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in threads:
            t.join(120)
            if t.is_alive():
                failures.append("a client thread is stuck (daemon not answering?)")
        elapsed = time.monotonic() - t0
        sampler.join()
        failures += stats.failures

        # After the load: alive, answering, every client's fds closed (the
        # traced processes' module files may have grown; they are checked at
        # detach below).
        if daemon.poll() is not None:
            raise Failure("probed died during the load (exit %s, log %s)" % (daemon.returncode, log.name))
        status = holder.call("daemon.status")
        try:
            wait_for(lambda: fd_kinds(daemon.pid) == base_fd_kinds and
                     holder.call("daemon.status")["clients"] == 1, 60, "fds back to baseline")
        except Failure as e:
            extra = fd_names(daemon.pid)
            for name in base_fd_names:
                if name in extra:
                    extra.remove(name)
            failures.append("%s: %d fds, baseline %d; extra: %s" %
                            (e, fd_count(daemon.pid), base_fds, ", ".join(extra)))
        probes_left = holder.call("probe.list")["probes"]
        if len(probes_left) != ntargets:
            failures.append("%d probes left after clients left, want the holder's %d" %
                            (len(probes_left), ntargets))
        max_rss = max([base_rss] + [s[0] for s in samples])
        max_fds = max([base_fds] + [s[1] for s in samples])
        # Every client's backlog is capped, the queue is fixed: the bound is
        # the baseline plus a cap and some slack per client, plus the queue.
        rss_bound = base_rss + clients * (CLIENT_BACKLOG_CAP // 1024 + 1024) + 128 * 1024
        if max_rss > rss_bound:
            failures.append("RSS reached %d KiB, bound %d KiB" % (max_rss, rss_bound))

        # The targets, detached, finish their loops as if never traced.
        for pid in pids:
            holder.call("process.detach", {"pid": pid})
        for proc, outpath in targets:
            try:
                rc = proc.wait(timeout=300)
            except subprocess.TimeoutExpired:
                failures.append("target %d did not finish after detach" % proc.pid)
                continue
            with open(outpath) as f:
                got = f.read()
            if rc != 0 or got != loop_output(LOOP_CALLS):
                failures.append("target %d: exit %d, output %r, want %r" %
                                (proc.pid, rc, got, loop_output(LOOP_CALLS)))
        # Every traced process's files (its memory, the unwinder's modules
        # and debuginfo) go with it.
        def files_now():
            return traced_files(daemon.pid)
        try:
            wait_for(lambda: files_now() == start_files, 60, "files back to before the attach")
        except Failure as e:
            failures.append("%s: %s, before the attach: %s" %
                            (e, ", ".join(files_now()), ", ".join(start_files)))
        holder.close()

        lat = sorted(stats.latencies)
        pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: 0.0)
        delivered = status["events_delivered"] - status0["events_delivered"]
        figures = {
            "clients": len(threads), "requesters": n_requesters, "readers": n_readers,
            "sleepers": n_sleepers, "churners": n_churners, "targets": ntargets,
            "seconds": elapsed, "requests": stats.requests, "requests_per_s": stats.requests / elapsed,
            "latency_p50_ms": pct(0.50), "latency_p99_ms": pct(0.99),
            "events_read": stats.events, "events_read_per_s": stats.events / elapsed,
            "events_delivered_per_s": delivered / elapsed,
            "events_dropped": status["events_dropped"] - status0["events_dropped"],
            "drop_notices": stats.drop_notices, "drops_reported": stats.dropped,
            "rss_base_kib": base_rss, "rss_max_kib": max_rss, "rss_bound_kib": rss_bound,
            "fds_base": base_fds, "fds_max": max_fds, "fds_end": fd_count(daemon.pid),
        }
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            if daemon.wait(timeout=60) != 0:
                failures.append("probed exited %d on SIGTERM" % daemon.returncode)
    except Failure as e:
        failures.append(str(e))
    finally:
        for proc, _ in targets:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        log.close()
    if failures:
        out("probed log: " + log.name)
    return figures, failures


def print_figures(f, out=print):
    out("probed load test: %(clients)d clients (%(requesters)d requesters, %(readers)d readers, "
        "%(sleepers)d never reading, %(churners)d reconnecting), %(targets)d targets, %(seconds).0f s" % f)
    out("requests answered        : %(requests)d (%(requests_per_s).0f/s)" % f)
    out("request latency          : p50 %(latency_p50_ms).2f ms, p99 %(latency_p99_ms).2f ms" % f)
    out("events delivered (daemon): %(events_delivered_per_s).0f/s into client buffers" % f)
    out("events read by clients   : %(events_read)d (%(events_read_per_s).0f/s)" % f)
    out("events dropped           : %(events_dropped)d (at slow clients or the queue); readers were "
        "told of %(drops_reported)d missed in %(drop_notices)d notices (a queue drop counts at each)" % f)
    out("daemon RSS               : %(rss_base_kib)d KiB at start, max %(rss_max_kib)d KiB "
        "(bound %(rss_bound_kib)d KiB)" % f)
    out("daemon fds               : %(fds_base)d at start, max %(fds_max)d; %(fds_end)d once clients left and targets were detached" % f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--targets", type=int, default=2)
    args = ap.parse_args()
    figures, failures = run(os.path.join(args.build, "daemon", "probed"),
                            os.path.join(args.build, "tests", "targets", "probe_target_pie_O2"),
                            args.clients, args.seconds, args.targets)
    if figures:
        print_figures(figures)
    for f in failures:
        print("FAILED:", f)
    print("all checks passed" if not failures else "%d checks failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
