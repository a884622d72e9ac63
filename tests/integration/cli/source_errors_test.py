#!/usr/bin/env python3
"""A source's error output: `on_unparsed: error_output` on log_to_json sends the lines it cannot
parse to `sources[].errors.path` (JSON lines in the delivery error output's shape), not into the
stream; the parsed lines reach the sink; the counts add up exactly, across a restart.

Usage: source_errors_test.py SLUICE_BIN [test ...]"""
import base64
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, run_tests, wait_until  # noqa: E402

CONFIG = """\
data_dir: ./data
plugin_dirs: [@PLUGINS@]
admin: {listen: "127.0.0.1:0"}
streams: [{name: web, shards: 2}]
sources:
  - name: access
    paths: ["./log/*.log"]
    stream: web
    initial_position: start_of_file
    rescan_interval: 200ms
    processing:
      - log_to_json: {format: common_apache, on_unparsed: error_output}
    errors: {path: ./source-errors}
deliveries:
  - name: out
    stream: web
    buffer: {size: 1MiB, interval: 0s}
    record_delimiter: "\\n"
    sink: {type: file, path: ./out}
"""
GOOD = '127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /p/%d HTTP/1.0" 200 2326\n'
BAD = "not an access log line %d\n"


def error_lines(d):
    out = []
    root = d.path("source-errors")
    for base, _, files in os.walk(root):
        for f in files:
            if f.startswith(".tmp-"):
                continue
            assert "/processing-failed/" in os.path.join(base, f), os.path.join(base, f)
            with open(os.path.join(base, f)) as fh:
                out += [json.loads(l) for l in fh if l.strip()]
    return out


def delivered(d):
    out = []
    for base, _, files in os.walk(d.path("out")):
        for f in files:
            if not f.startswith(".tmp-"):
                with open(os.path.join(base, f)) as fh:
                    out += [json.loads(l) for l in fh if l.strip()]
    return out


def write(d, start, n):
    with open(d.path("log", "access.log"), "a") as f:
        for i in range(start, start + n):
            f.write(GOOD % i)
            if i % 10 == 0:
                f.write(BAD % i)


def test_counts(sluice):
    d = Daemon(sluice, CONFIG)
    try:
        os.makedirs(d.path("log"))
        write(d, 0, 500)
        d.start()
        wait_until(lambda: len(delivered(d)) >= 500 and len(error_lines(d)) >= 50,
                   what="500 delivered, 50 in the error output")
        d.stop()
        write(d, 500, 500)  # more while stopped; then a restart reads on from the checkpoint
        first_log = d.log_text()
        os.rename(d.path("daemon.log"), d.path("daemon.1.log"))  # start() reads the new port
        d.start()
        wait_until(lambda: len(delivered(d)) >= 1000 and len(error_lines(d)) >= 100,
                   what="1000 delivered, 100 in the error output")
        m = d.metrics()
        assert m[("sluice_agent_error_output_records_total", '{source="access"}')] == 50, m
        d.stop()
        got = sorted(r["request"] for r in delivered(d))
        assert got == sorted("GET /p/%d HTTP/1.0" % i for i in range(1000)), got[:3]
        errs = error_lines(d)
        raw = sorted(base64.b64decode(e["rawData"]).decode() for e in errs)
        assert raw == sorted((BAD % i).rstrip("\n") for i in range(0, 1000, 10)), raw[:3]
        assert all(e["errorCode"] == "Processing.Unparsed" and "access.log" in e["errorMessage"]
                   for e in errs), errs[0]
        assert "unparsed lines sent to the source's error output" in first_log, first_log
    finally:
        d.cleanup()


if __name__ == "__main__":
    run_tests({"counts": test_counts})
