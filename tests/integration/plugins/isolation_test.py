#!/usr/bin/env python3
"""isolation: process with the real daemon: a sink plugin (the fx_isolated_sink fixture) that
segfaults on a record holding "POISON" or hangs on "HANG" kills only its child process; the daemon
stays up, starts a new child, and a second delivery delivers every record.

Usage: isolation_test.py SLUICE_BIN [test ...]   (SLUICE_FIXTURE_DIR: the fixture plugins)"""
import base64
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import lines_in, run_tests, wait_until  # noqa: E402
import side_by_side  # noqa: E402
from side_by_side import healthy, write  # noqa: E402

NAME = "isolated"


def daemon(sluice, extra="", fixtures=None):
    return side_by_side.daemon(sluice, NAME, "fx_isolated_sink", "1s",
                               ", isolation: process" + extra, fixtures)


def spilled(d):
    return side_by_side.spilled(d, NAME)


def delivery_status(d, name=NAME):
    return side_by_side.delivery_status(d, name)


def plugin_children(pid):
    """The daemon's child processes running `plugin-host`."""
    out = []
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            continue
        for k in kids:
            try:
                with open("/proc/%d/cmdline" % k, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if b"plugin-host" in argv:
                out.append(k)
    return sorted(out)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open("/proc/%d/stat" % pid) as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def test_crash_kills_only_the_child(sluice):
    d = daemon(sluice)
    try:
        first = ["record %d" % i for i in range(300)]
        write(d, first)
        d.start()
        wait_until(lambda: len(lines_in(d.path("isolated.txt"))) >= 300 and len(healthy(d)) >= 300,
                   what="the first 300 records at both deliveries")
        assert sorted(lines_in(d.path("isolated.txt"))) == sorted(first)
        children = plugin_children(d.proc.pid)
        assert len(children) == 1, children
        second = ["record %d" % i if i != 450 else "POISON record 450" for i in range(300, 600)]
        write(d, second)
        wait_until(lambda: d.log_text().count("killed by SIGSEGV during on_deliver") >= 2,
                   timeout=60, what="two crashes of the isolated sink's child")
        assert d.proc.poll() is None, "the daemon died:\n" + d.log_text()
        log = d.log_text()
        assert "code=Plugin.Crashed" in log, log
        crash_lines = [l for l in log.splitlines() if "plugin child lost during a call" in l]
        assert crash_lines and all("delivery=isolated" in l and "plugin=fx_isolated_sink" in l
                                   for l in crash_lines), crash_lines
        assert not alive(children[0]), "the crashed child is still there"
        # Each retry ran in a new child (started again for the next call): the crashes name
        # different pids, none of them alive.
        pids = [int(l.split(" pid=")[1].split()[0]) for l in crash_lines]
        assert len(set(pids)) == len(pids) and children[0] in pids, (children, pids)
        assert not any(alive(p) for p in pids), pids
        # The other delivery is untouched: every record, once.
        wait_until(lambda: len(healthy(d)) >= 600, what="all 600 records at the healthy delivery")
        assert sorted(healthy(d)) == sorted(first + second), "healthy delivery lost or doubled"
        # The isolated sink delivered nothing twice and never the poison.
        got = lines_in(d.path("isolated.txt"))
        assert len(got) == len(set(got)), "duplicates at the isolated sink"
        assert "POISON record 450" not in got
        status, st = d.get_json("/status")
        assert status == 200, st
        iso = [x for x in st["deliveries"] if x["name"] == "isolated"][0]
        assert "Plugin.Crashed" in str(iso), iso
        # A batch that crashed its child 3 attempts in a row is spilled as Plugin.Crashed: every
        # record of the delivery is delivered or spilled, once.
        all_lines = first + second

        def settled():
            return len(lines_in(d.path("isolated.txt"))) + len(spilled(d)) >= len(all_lines)
        wait_until(settled, timeout=60, what="the poison batch spilled")
        errs = spilled(d)
        spilled_lines = [base64.b64decode(e["rawData"]).decode() for e in errs]
        got = lines_in(d.path("isolated.txt"))
        assert sorted(got + spilled_lines) == sorted(all_lines), (len(got), len(spilled_lines))
        assert "POISON record 450" in spilled_lines
        assert all(e["errorCode"] == "Plugin.Crashed" for e in errs), errs[:2]
        assert "killed by SIGSEGV during on_deliver" in errs[0]["errorMessage"], errs[0]
        m = d.metrics()
        label = '{delivery_stream="isolated"}'
        assert m[("sluice_delivery_plugin_child_crashes_total", label)] >= 3, m
        # A child is started again at the next call: after the third crash the batch is spilled,
        # so two restarts at least (a third once more records come).
        assert m[("sluice_delivery_plugin_child_restarts_total", label)] >= 2, m
        assert m[("sluice_delivery_plugin_child_timeouts_total", label)] == 0, m
        left = plugin_children(d.proc.pid)
        d.stop()
        for pid in left:
            assert not alive(pid), "plugin child %d outlived the daemon" % pid
    finally:
        d.cleanup()


def test_hang_is_killed_at_call_timeout(sluice):
    d = daemon(sluice, ", call_timeout: 1s")
    try:
        write(d, ["record 1", "HANG here", "record 3"])
        d.start()
        wait_until(lambda: len(healthy(d)) >= 3, what="the healthy delivery")
        wait_until(lambda: "code=Plugin.Timeout" in d.log_text(), timeout=30,
                   what="the hung call killed at call_timeout")
        assert "(call timeout 1000 ms)" in d.log_text(), d.log_text()
        assert d.proc.poll() is None, "the daemon died:\n" + d.log_text()
        m = d.metrics()
        assert m[("sluice_delivery_plugin_child_timeouts_total",
                  '{delivery_stream="isolated"}')] >= 1, m
        start = time.time()
        d.stop()
        assert time.time() - start < 15, "stop took %.1fs" % (time.time() - start)
    finally:
        d.cleanup()


def test_plugin_host_is_hidden(sluice):
    for args in (["help"], ["--help"]):
        r = subprocess.run([sluice] + args, capture_output=True, timeout=30)
        assert b"plugin-host" not in r.stdout + r.stderr, r.stdout
    # Started by hand, without a daemon on the other end, it refuses to serve.
    r = subprocess.run([sluice, "plugin-host", "--fd", "0"], capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    assert r.returncode != 0


if __name__ == "__main__":
    run_tests({
        "crash_kills_only_the_child": test_crash_kills_only_the_child,
        "hang_is_killed_at_call_timeout": test_hang_is_killed_at_call_timeout,
        "plugin_host_is_hidden": test_plugin_host_is_hidden,
    })
