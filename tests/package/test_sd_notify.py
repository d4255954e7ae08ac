"""The installed probed speaks sd_notify: with NOTIFY_SOCKET pointing at a
datagram socket we listen on, it sends READY=1 (with a STATUS line) once it
serves, and STOPPING=1 when SIGTERM stops it; then it exits 0.
    test_sd_notify.py PROBED_BINARY
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile


def main():
    probed = sys.argv[1]
    work = tempfile.mkdtemp(prefix="probed-notify-")
    notify_path = os.path.join(work, "notify")
    sock_path = os.path.join(work, "probed.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(notify_path)
    listener.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET=notify_path)
    # No --foreground: under a service manager probed must stay in the
    # foreground by itself, or the pid systemd watches would exit.
    proc = subprocess.Popen([probed, "--socket", sock_path], env=env)
    try:
        messages = []

        def receive_until(key):
            while True:
                msg = listener.recv(4096).decode()
                messages.append(msg)
                fields = msg.split("\n")
                if key in fields:
                    return fields

        ready = receive_until("READY=1")
        assert any(f.startswith("STATUS=serving on " + sock_path) for f in ready), ready
        assert proc.poll() is None, "probed left the foreground"
        # It really serves once it says so.
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(sock_path)
        client.sendall(b'{"jsonrpc":"2.0","id":1,"method":"daemon.status"}\n')
        reply = client.recv(65536).decode()
        assert '"pid":%d' % proc.pid in reply, reply
        client.close()

        proc.send_signal(signal.SIGTERM)
        stopping = receive_until("STOPPING=1")
        assert proc.wait(timeout=30) == 0, proc.returncode
        print("sd_notify: " + " | ".join(m.replace("\n", " ") for m in messages))
        print("ok: READY=1 after setup, STOPPING=1 on SIGTERM, exit 0")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
