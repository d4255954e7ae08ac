#!/usr/bin/env python3
"""A scripted probed session with nothing but the standard library: attach to
a process, probe a function, print its next N calls with return values, and
let go. The whole protocol is in docs/protocol.md.

usage: watch_calls.py [--socket PATH] [--count N] PID FUNCTION
"""
import argparse
import json
import os
import socket
import sys


def default_socket():
    if os.environ.get("PROBED_SOCKET"):
        return os.environ["PROBED_SOCKET"]
    if os.geteuid() == 0:
        return "/run/probed/probed.sock"
    return os.path.join(os.environ.get("XDG_RUNTIME_DIR", "/tmp"), "probed.sock")


class Session:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.reader = self.sock.makefile("r", encoding="utf-8")
        self.next_id = 0
        self.pending_events = []

    def call(self, method, **params):
        self.next_id += 1
        request = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        self.sock.sendall((json.dumps(request) + "\n").encode())
        while True:
            message = json.loads(self.reader.readline())
            if message.get("method") == "event":  # interleaved notification
                self.pending_events.append(message["params"])
            elif message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(message["error"]["message"])
                return message["result"]

    def events(self):
        while self.pending_events:
            yield self.pending_events.pop(0)
        for line in self.reader:
            message = json.loads(line)
            if message.get("method") == "event":
                yield message["params"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", default=default_socket())
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("pid", type=int)
    parser.add_argument("function")
    args = parser.parse_args()

    session = Session(args.socket)
    attached = False
    try:
        session.call("process.attach", pid=args.pid)
        attached = True
    except RuntimeError as e:
        if "already traced" not in str(e):
            sys.exit("watch_calls: %s" % e)
    probe = session.call("probe.add", pid=args.pid, target=args.function)
    print("probe %d on %s at %s (%s '%s')" % (probe["probe_id"], probe["symbol"], probe["address"],
                                             probe["strategy"], probe["instruction"]))
    session.call("events.subscribe", probe_ids=[probe["probe_id"]])
    seen = 0
    for event in session.events():
        if event["type"] == "return":
            args_text = ", ".join(hex(a) for a in event["args"][:2])
            result = event.get("retval", event["exit"])
            print("%s(%s) = %s  <%d ns>" % (event["function"], args_text, result, event["duration_ns"]))
            seen += 1
        elif event["type"] == "exit":
            print("process %d exited" % event["pid"])
            break
        if seen >= args.count:
            break
    session.call("probe.remove", probe_id=probe["probe_id"])
    if attached:
        session.call("process.detach", pid=args.pid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
