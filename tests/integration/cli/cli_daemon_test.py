#!/usr/bin/env python3
"""`sluice status`, `sluice streams ...` and `sluice cat` against a running daemon.

Usage: cli_daemon_test.py SLUICE_BIN [test ...]"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, run_tests, wait_until  # noqa: E402

CONFIG = """\
data_dir: ./data
plugin_dirs: [@PLUGINS@]
admin: {listen: "127.0.0.1:0"}
streams:
  - name: events
    shards: 2
sources:
  - name: app
    paths: ["./log/*.log"]
    stream: events
    initial_position: start_of_file
    rescan_interval: 200ms
    checkpoint_interval: 100ms
deliveries:
  - name: sink-a
    stream: events
    buffer: {size: 1MiB, interval: 0s}
    sink: {type: blackhole}
"""
LINES = 300


def started(sluice):
    d = Daemon(sluice, CONFIG)
    os.makedirs(d.path("log"))
    with open(d.path("log", "a.log"), "w") as f:
        for n in range(LINES):
            f.write("record seq=%d\n" % n)
    d.start()
    wait_until(lambda: json.loads(d.cli("status", "--json").stdout)["sources"][0]["records_put"]
               == LINES, what="lines put")
    return d


def test_status(sluice):
    d = started(sluice)
    try:
        st = json.loads(d.cli("status", "--json").stdout)
        assert st["streams"][0]["name"] == "events" and len(st["streams"][0]["shards"]) == 2
        table = d.cli("status").stdout.decode()
        for expected in ("STREAM", "events", "shardId-000000000001", "CONSUMER", "sink-a",
                         "blackhole", "a.log", str(LINES)):
            assert expected in table, "%r not in:\n%s" % (expected, table)
        # No daemon there: a clear error, exit 1.
        r = d.cli("status", admin="127.0.0.1:1", check=False)
        assert r.returncode == 1 and b"cannot reach" in r.stderr, r.stderr
        d.stop()
    finally:
        d.cleanup()


def test_streams(sluice):
    d = started(sluice)
    try:
        out = d.cli("streams", "create", "orders", "--shards", "3").stdout.decode()
        assert "created orders" in out, out
        names = d.cli("streams", "list").stdout.decode().split()
        assert names == ["events", "orders"], names
        desc = d.cli("streams", "describe", "orders").stdout.decode()
        assert desc.count("shardId-") == 3 and "ACTIVE" in desc, desc
        d.cli("streams", "reshard", "orders", "--shards", "4")
        desc = d.cli("streams", "describe", "orders").stdout.decode()
        assert "open shards 4" in desc, desc
        assert desc.count(" closed ") >= 1, desc
        r = d.cli("streams", "describe", "nope", check=False)
        assert r.returncode == 1 and b"ResourceNotFound" in r.stderr, r.stderr
        r = d.cli("streams", "create", "orders", check=False)
        assert r.returncode == 1 and b"ResourceInUse" in r.stderr, r.stderr
        d.stop()
    finally:
        d.cleanup()


def test_cat(sluice):
    d = started(sluice)
    try:
        lines = d.cli("cat", "events").stdout.decode().splitlines()
        assert sorted(lines) == sorted("record seq=%d" % n for n in range(LINES)), lines[:5]
        assert d.cli("cat", "events", "--from", "latest").stdout == b""
        future = str(int(time.time()) + 3600)
        assert d.cli("cat", "events", "--from", "timestamp", "--timestamp", future).stdout == b""
        past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
        n = len(d.cli("cat", "events", "--from", "timestamp", "--timestamp", past).stdout
                .splitlines())
        assert n == LINES, n
        assert len(d.cli("cat", "events", "-n", "7").stdout.splitlines()) == 7
        # Sequence numbers: unique in the stream, each naming its shard; starting after one reads
        # the rest of that shard only.
        rows = [l.split("\t", 1) for l in
                d.cli("cat", "events", "--sequence-numbers").stdout.decode().splitlines()]
        assert len(rows) == LINES and len({r[0] for r in rows}) == LINES, rows[:3]
        assert sorted(r[1] for r in rows) == sorted(lines)
        first = rows[0][0]
        shard_of_first = [r for r in rows if (int(r[0]) >> 64) == (int(first) >> 64)]
        after = d.cli("cat", "events", "--from", "after_sequence", "--sequence-number",
                      first).stdout.decode().splitlines()
        assert after == [r[1] for r in shard_of_first[1:]], (after[:3], len(shard_of_first))
        at = d.cli("cat", "events", "--from", "at_sequence", "--sequence-number", first,
                   "-n", "1").stdout.decode().splitlines()
        assert at == [rows[0][1]], at
        r = d.cli("cat", "events", "--from", "after_sequence", check=False)
        assert r.returncode != 0 and b"--sequence-number" in r.stderr, r.stderr
        r = d.cli("cat", "events", "--from", "after_sequence", "--sequence-number", "12x",
                  check=False)
        assert r.returncode != 0 and b"sequence" in r.stderr, r.stderr
        r = d.cli("cat", "missing", check=False)
        assert r.returncode == 1 and b"ResourceNotFound" in r.stderr, r.stderr
        d.stop()
    finally:
        d.cleanup()


if __name__ == "__main__":
    run_tests({"status": test_status, "streams": test_streams, "cat": test_cat})
