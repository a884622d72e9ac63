#!/usr/bin/env python3
"""systemd notifications (Type=notify): with NOTIFY_SOCKET set, the daemon sends READY=1 once
started, RELOADING=1 then READY=1 around a SIGHUP reload, and STOPPING=1 on SIGTERM.

Usage: notify_test.py SLUICE_BIN"""
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, run_tests  # noqa: E402

CONFIG = """\
data_dir: ./data
plugin_dirs: [@PLUGINS@]
admin: {listen: "127.0.0.1:0"}
streams: [{name: s, shards: 1}]
"""


def test_notify(sluice):
    d = Daemon(sluice, CONFIG)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = d.path("notify.sock")
    sock.bind(path)
    sock.settimeout(15)
    try:
        d.start(env={"NOTIFY_SOCKET": path})
        assert sock.recv(4096).split(b"\n")[0] == b"READY=1"
        d.proc.send_signal(signal.SIGHUP)
        assert sock.recv(4096) == b"RELOADING=1"
        assert sock.recv(4096).split(b"\n")[0] == b"READY=1"
        d.stop()
        assert sock.recv(4096) == b"STOPPING=1"
    finally:
        sock.close()
        d.cleanup()


if __name__ == "__main__":
    run_tests({"notify": test_notify})
