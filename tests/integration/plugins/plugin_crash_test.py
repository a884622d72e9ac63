#!/usr/bin/env python3
"""A plugin that crashes or hangs in the daemon's process (the fx_poison fixture sink) cannot take
the daemon into a crash loop or hold its stop: a batch that crashed the daemon three times is
spilled with errorCode Plugin.Crashed at the next start, the other delivery keeps every record,
nothing is counted twice; a call that outlives stop's grace is abandoned and stop stays bounded;
on_healthcheck is called at start and its answer shows in /status and /health.

Usage: plugin_crash_test.py SLUICE_BIN [test ...]   (SLUICE_FIXTURE_DIR: the fixture plugins)"""
import base64
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ADMIN, lines_in, run_tests, wait_until  # noqa: E402
import side_by_side  # noqa: E402
from side_by_side import healthy, write  # noqa: E402

NAME = "poisoned"


def daemon(sluice, extra="", fixtures=None):
    return side_by_side.daemon(sluice, NAME, "fx_poison", "2s", extra, fixtures)


def spilled(d):
    return side_by_side.spilled(d, NAME)


def delivery_status(d, name=NAME):
    return side_by_side.delivery_status(d, name)


def restart(d, earlier_logs, wait=True):
    """Starts the daemon again; the log of the run that ended moves to `earlier_logs` (start()
    reads the admin port from the log file). Without `wait`, the new process may die before its
    admin endpoint is up (a replay that crashes at once): the caller watches it."""
    earlier_logs.append(d.log_text())
    os.remove(d.path("daemon.log"))
    if wait:
        d.start()
        return
    log = open(d.path("daemon.log"), "ab")
    d.proc = subprocess.Popen([d.bin, "run", "-c", "sluice.yaml"], cwd=d.dir, stdout=log,
                              stderr=log)


def admin_port(d):
    m = ADMIN.search(d.log_text().encode())
    if m:
        d.port = int(m.group(1))
    return m


def test_poison_batch_spilled_after_three_crashes(sluice):
    d = daemon(sluice)
    try:
        first = ["record %d" % i for i in range(300)]
        write(d, first)
        d.start()
        wait_until(lambda: len(lines_in(d.path("poisoned.txt"))) >= 300 and len(healthy(d)) >= 300,
                   what="the first 300 records at both deliveries")
        second = ["record %d" % i if i != 450 else "POISON record 450" for i in range(300, 600)]
        write(d, second)
        # Restarted whenever it dies, as systemd's Restart=always would.
        crashes, logs = 0, []
        deadline = time.time() + 90
        while time.time() < deadline:
            if d.proc.poll() is not None:
                assert d.proc.returncode != 0, "the daemon exited cleanly after a crash?"
                crashes += 1
                assert crashes <= 3, "a crash loop: %d crashes\n%s" % (crashes, d.log_text())
                restart(d, logs, wait=False)
            got = lines_in(d.path("poisoned.txt"))
            errs = spilled(d)
            if len(healthy(d)) >= 600 and len(got) + len(errs) >= 600:
                break
            time.sleep(0.1)
        wait_until(lambda: admin_port(d), what="the admin endpoint of the last start")
        got, errs, all_lines = lines_in(d.path("poisoned.txt")), spilled(d), first + second
        assert crashes == 3, "expected 3 crashes before the spill, saw %d" % crashes
        assert sorted(healthy(d)) == sorted(all_lines), "healthy delivery lost or doubled records"
        spilled_lines = [base64.b64decode(e["rawData"]).decode() for e in errs]
        assert sorted(got + spilled_lines) == sorted(all_lines), \
            "poisoned delivery: %d delivered + %d spilled, want each of 600 once" % (
                len(got), len(spilled_lines))
        assert "POISON record 450" in spilled_lines
        assert all(e["errorCode"] == "Plugin.Crashed" for e in errs), errs[:2]
        log = "".join(logs) + d.log_text()
        assert "fatal SIGSEGV in plugin fx_poison (on_deliver) of delivery poisoned" in log, log
        assert "spilling a batch that crashed the daemon" in log, log
        assert delivery_status(d)["batches_crashed"] == 1, delivery_status(d)
        # The rest flows: new records reach the poisoned delivery's sink again.
        write(d, ["after %d" % i for i in range(50)])
        wait_until(lambda: len(lines_in(d.path("poisoned.txt"))) >= len(got) + 50,
                   what="records after the spill")
        d.stop()
    finally:
        d.cleanup()


def test_hung_call_is_visible_and_stop_is_bounded(sluice):
    d = daemon(sluice, ", call_timeout: 1s")
    try:
        write(d, ["record 1", "HANG here", "record 3"])
        d.start()
        wait_until(lambda: len(healthy(d)) >= 3, what="the healthy delivery")

        def stuck():
            st = delivery_status(d)
            return st.get("call_age_s", 0) >= 1.5 and st
        st = wait_until(stuck, what="the hung call's age in /status")
        assert st["call_timeout_s"] == 1, st
        assert st["health"] == "call_stuck", st
        status, health = d.get_json("/health")
        assert health["components"]["delivery/poisoned"]["status"] == "call_stuck", health
        assert health["status"] == "degraded", health
        m = d.metrics()
        age = m[("sluice_delivery_plugin_call_age_seconds", '{delivery_stream="poisoned"}')]
        assert age >= 1.5, m
        start = time.time()
        d.stop()  # kDeliveryGrace (10 s) plus a second, not the hour the call sleeps
        took = time.time() - start
        assert took < 20, "stop took %.1fs" % took
        assert "abandoned" in d.log_text()
        # The abandoned call is not a crash: the next start replays the batch without counting.
        restart(d, [])
        time.sleep(1)
        assert "the previous run ended inside a plugin call" not in d.log_text()
        d.proc.kill()
        d.proc.wait()
    finally:
        d.cleanup()


def test_healthcheck_is_called_and_shown(sluice):
    d = daemon(sluice, ', unhealthy: "token expired", healthy_file: ./healthy')
    try:
        d.start()

        def unhealthy():
            st = delivery_status(d)
            return "token expired" in st.get("plugin_health", "") and st
        st = wait_until(unhealthy, what="the plugin's healthcheck answer in /status")
        assert st["health"] == "plugin_unhealthy", st
        _, health = d.get_json("/health")
        assert health["status"] == "degraded", health
        component = health["components"]["delivery/poisoned"]
        assert component["plugin_health"] == "plugin fx_poison unhealthy: token expired", health
        assert "the sink plugin reports itself unhealthy" in d.log_text()
        # A delivery that gets through clears it.
        open(d.path("healthy"), "w").close()
        write(d, ["record %d" % i for i in range(10)])
        wait_until(lambda: delivery_status(d).get("plugin_health") == "ok",
                   what="plugin_health back to ok after a delivery")
        _, health = d.get_json("/health")
        assert health["status"] == "ok", health
        d.stop()
    finally:
        d.cleanup()


def test_plugin_file_overwritten_then_reloaded(sluice):
    """The daemon runs a private copy of each plugin: a new build copied over the file (here
    first junk, truncating it) cannot crash it with SIGBUS; a reload restarts the deliveries whose
    plugin file changed, with the new file, and a broken file is refused by the reload."""
    d = daemon(sluice, fixtures="./myplugins")
    try:
        os.makedirs(d.path("myplugins"))
        so = d.path("myplugins", "fx_poison.so")
        shutil.copy(os.path.join(os.environ["SLUICE_FIXTURE_DIR"], "fx_poison.so"), so)
        d.start()
        write(d, ["record %d" % i for i in range(100)])
        wait_until(lambda: len(lines_in(d.path("poisoned.txt"))) >= 100, what="100 records")
        with open(so, "wb") as f:  # in place: the old mapping's pages would be gone
            f.write(b"not an ELF file")
        write(d, ["more %d" % i for i in range(100)])
        wait_until(lambda: len(lines_in(d.path("poisoned.txt"))) >= 200,
                   what="records delivered after the file was overwritten")
        assert d.proc.poll() is None, "the daemon died:\n" + d.log_text()
        status, body = d.request("POST", "/reload")
        answer = json.loads(body)
        assert not answer["ok"] and "fx_poison.so" in " ".join(answer["errors"]), answer
        os.remove(so)
        shutil.copy(os.path.join(os.environ["SLUICE_FIXTURE_DIR"], "fx_poison.so"), so)
        status, body = d.request("POST", "/reload")
        answer = json.loads(body)
        assert answer["ok"] and "delivery/poisoned" in answer["changed"], answer
        assert "delivery/healthy" not in answer["changed"], answer
        write(d, ["last %d" % i for i in range(100)])
        wait_until(lambda: len(lines_in(d.path("poisoned.txt"))) >= 300, what="300 records")
        assert sorted(lines_in(d.path("poisoned.txt"))) == sorted(
            ["record %d" % i for i in range(100)] + ["more %d" % i for i in range(100)] +
            ["last %d" % i for i in range(100)])
        d.stop()
    finally:
        d.cleanup()


if __name__ == "__main__":
    run_tests({
        "poison_batch_spilled_after_three_crashes": test_poison_batch_spilled_after_three_crashes,
        "hung_call_is_visible_and_stop_is_bounded": test_hung_call_is_visible_and_stop_is_bounded,
        "healthcheck_is_called_and_shown": test_healthcheck_is_called_and_shown,
        "plugin_file_overwritten_then_reloaded": test_plugin_file_overwritten_then_reloaded,
    })
