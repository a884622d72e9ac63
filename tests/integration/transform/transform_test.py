#!/usr/bin/env python3
"""The exec transform as docs/configuration.md describes it: the documented example script (taken
from the page itself) drops health checks and masks IPv4 addresses in a running daemon; what a
transform writes to its standard error reaches the daemon's log as warn lines naming the delivery.
A transform plugin gets its `transform.options` (the fixture upper_transform, from
$SLUICE_FIXTURE_DIR, appends its `suffix`). The lua transform's documented example drops, rewrites
and fails records: the failure reaches the error output with Lua's message.

Usage: transform_test.py SLUICE_BIN [test ...]"""
import base64
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "cli"))
from harness import Daemon, json_lines_under, run_tests, wait_until  # noqa: E402

DOC = os.path.join(here, "..", "..", "..", "docs", "configuration.md")
CONFIG = """\
data_dir: ./data
plugin_dirs: [@PLUGINS@]
admin: {listen: "127.0.0.1:0"}
streams: [{name: s}]
sources:
  - {name: a, paths: ["./log/*.log"], stream: s, initial_position: start_of_file,
     rescan_interval: 200ms}
deliveries:
  - name: web
    stream: s
    buffer: {size: 1MiB, interval: 0s}
    record_delimiter: "\\n"
    transform: {exec: [python3, ./t.py]}
    sink: {type: file, path: ./out}
"""
CHATTY = r"""
import base64, json, sys
for line in sys.stdin:
    event = json.loads(line)
    sys.stderr.write("hello from the child: %d records\n" % len(event["records"]))
    sys.stderr.flush()
    out = [{"recordId": r["recordId"], "result": "Ok", "data": r["data"]} for r in event["records"]]
    sys.stdout.write(json.dumps({"records": out}) + "\n")
    sys.stdout.flush()
"""


def delivered(d):
    out = []
    for root, _, files in os.walk(d.path("out")):
        for f in files:
            if f.startswith("."):  # still being written
                continue
            with open(os.path.join(root, f)) as fh:
                out += fh.read().splitlines()
    return out


def run_with(sluice, script, lines):
    d = Daemon(sluice, CONFIG)
    with open(d.path("t.py"), "w") as f:
        f.write(script)
    os.makedirs(d.path("log"))
    with open(d.path("log", "a.log"), "w") as f:
        f.write("".join(l + "\n" for l in lines))
    d.start()
    return d


PLUGIN_CONFIG = """\
data_dir: ./data
plugin_dirs: [@PLUGINS@, %s]
admin: {listen: "127.0.0.1:0"}
streams: [{name: s}]
sources:
  - {name: a, paths: ["./log/*.log"], stream: s, initial_position: start_of_file,
     rescan_interval: 200ms}
deliveries:
  - name: web
    stream: s
    buffer: {size: 1MiB, interval: 0s}
    record_delimiter: "\\n"
    transform:
      plugin: upper_transform
      options: {suffix: " [seen]"}
    sink: {type: file, path: ./out}
"""


def test_plugin_options(sluice):
    d = Daemon(sluice, PLUGIN_CONFIG % os.environ["SLUICE_FIXTURE_DIR"])
    os.makedirs(d.path("log"))
    with open(d.path("log", "a.log"), "w") as f:
        f.write("one\ntwo\nplease drop me\n")
    d.start()
    try:
        wait_until(lambda: len(delivered(d)) == 2, what="2 records through the transform")
        assert sorted(delivered(d)) == ["ONE [seen]", "TWO [seen]"], delivered(d)
        d.stop()
    finally:
        d.cleanup()


def test_documented_example(sluice):
    with open(DOC) as f:
        script = f.read().split("```python\n")[1].split("```")[0]
    d = run_with(sluice, script, ["10.1.2.3 GET /health", "10.1.2.3 GET /a", "192.168.7.9 GET /b"])
    try:
        wait_until(lambda: len(delivered(d)) == 2, what="2 records through the transform")
        assert sorted(delivered(d)) == ["10.1.x.x GET /a", "192.168.x.x GET /b"], delivered(d)
        d.stop()
    finally:
        d.cleanup()


LUA_CONFIG = """\
data_dir: ./data
plugin_dirs: [@PLUGINS@]
admin: {listen: "127.0.0.1:0"}
streams: [{name: s}]
sources:
  - {name: a, paths: ["./log/*.log"], stream: s, initial_position: start_of_file,
     rescan_interval: 200ms}
deliveries:
  - name: web
    stream: s
    buffer: {size: 1MiB, interval: 0s}
    record_delimiter: "\\n"
    transform: {lua: {script: ./enrich.lua, call: enrich}}
    errors: {path: ./errors}
    sink: {type: file, path: ./out}
"""


def test_lua_documented_example(sluice):
    with open(DOC) as f:
        script = f.read().split("```lua\n")[1].split("```")[0]
    d = Daemon(sluice, LUA_CONFIG)
    with open(d.path("enrich.lua"), "w") as f:
        f.write(script)
    os.makedirs(d.path("log"))
    lines = ['{"client":"10.1.2.3","path":"/health/live"}',
             '{"client":"10.1.2.3","path":"/a"}',
             '{"client":"192.168.7.9","path":"/b","status":200,"ms":1.5}',
             "not json at all"]
    with open(d.path("log", "a.log"), "w") as f:
        f.write("".join(l + "\n" for l in lines))
    d.start()
    try:
        wait_until(lambda: len(delivered(d)) == 2, what="2 records through the lua transform")
        assert sorted(delivered(d)) == [
            '{"client":"10.1.x.x","path":"/a","delivery":"web"}',
            '{"client":"192.168.x.x","path":"/b","status":200,"ms":1.5,"delivery":"web"}',
        ], delivered(d)
        failed = wait_until(lambda: json_lines_under(d.path("errors")), what="the error output")
        assert len(failed) == 1, failed
        assert base64.b64decode(failed[0]["rawData"]).decode().rstrip("\n") == "not json at all"
        assert failed[0]["errorCode"] == "Transform.ProcessingFailed", failed[0]
        assert "not a JSON object: not json at all" in failed[0]["errorMessage"], failed[0]
        assert "enrich.lua:" in failed[0]["errorMessage"], failed[0]
        d.stop()
    finally:
        d.cleanup()


def test_lua_script_edit_reloads(sluice):
    """An edited script is not a changed config entry, yet a reload restarts the delivery on it."""
    d = Daemon(sluice, LUA_CONFIG)
    with open(d.path("enrich.lua"), "w") as f:
        f.write('function enrich(tag, ts, r) r.v = 1 return 2, ts, r end\n')
    os.makedirs(d.path("log"))
    with open(d.path("log", "a.log"), "w") as f:
        f.write('{"n":1}\n')
    d.start()
    try:
        wait_until(lambda: delivered(d) == ['{"n":1,"v":1}'], what="the first script's record")
        with open(d.path("enrich.lua"), "w") as f:
            f.write('function enrich(tag, ts, r) r.v = 2 return 2, ts, r end\n')
        status, body = d.request("POST", "/reload")
        answer = json.loads(body)
        assert status == 200 and answer["changed"] == ["delivery/web"], (status, body)
        with open(d.path("log", "a.log"), "a") as f:
            f.write('{"n":2}\n')
        wait_until(lambda: sorted(delivered(d)) == ['{"n":1,"v":1}', '{"n":2,"v":2}'],
                   what="the edited script's record")
        d.stop()
    finally:
        d.cleanup()


def test_stderr_is_logged(sluice):
    d = run_with(sluice, CHATTY, ["one", "two"])
    try:
        wait_until(lambda: len(delivered(d)) == 2, what="2 records")
        wait_until(lambda: 'msg="transform stderr" delivery=web sink=file line="hello from the child: '
                   in d.log_text(), what="the child's stderr in the log")
        d.stop()
    finally:
        d.cleanup()


if __name__ == "__main__":
    run_tests({"documented_example": test_documented_example,
               "stderr_is_logged": test_stderr_is_logged,
               "plugin_options": test_plugin_options,
               "lua_documented_example": test_lua_documented_example,
               "lua_script_edit_reloads": test_lua_script_edit_reloads})
