"""The setup both misbehaving-plugin tests use: a daemon tailing ./log/*.log into one stream read
by two deliveries side by side, the plugin under test (`name`, its records appended to
./<name>.txt, its error output under ./<name>-errors) and a healthy file sink (./out), so that
what the first one does to the daemon shows in the second one's counts."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from harness import Daemon, append_lines, json_lines_under, lines_under  # noqa: E402

CONFIG = """\
data_dir: ./data
plugin_dirs: [@PLUGINS@, @FIXTURES@]
admin: {listen: "127.0.0.1:0"}
streams: [{name: app, shards: 1}]
sources:
  - name: app
    paths: ["./log/*.log"]
    stream: app
    initial_position: start_of_file
    rescan_interval: 200ms
    checkpoint_interval: 0s
deliveries:
  - name: @NAME@
    stream: app
    buffer: {size: 1MiB, interval: @INTERVAL@}
    errors: {path: ./@NAME@-errors}
    sink: {type: @SINK@, path: ./@NAME@.txt@EXTRA@}
  - name: healthy
    stream: app
    buffer: {size: 1MiB, interval: 1s}
    record_delimiter: "\\n"
    sink: {type: file, path: ./out}
"""


def daemon(sluice, name, sink, interval="1s", extra="", fixtures=None):
    """`extra`: more keys of the sink section (", key: value"); `fixtures`: the plugin directory
    beside the built-in one (default: the fixture plugins of the build)."""
    config = (CONFIG.replace("@FIXTURES@", fixtures or os.environ["SLUICE_FIXTURE_DIR"])
              .replace("@NAME@", name).replace("@SINK@", sink).replace("@INTERVAL@", interval)
              .replace("@EXTRA@", extra))
    d = Daemon(sluice, config)
    os.makedirs(d.path("log"), exist_ok=True)
    return d


def healthy(d):
    """The records the healthy delivery's file sink holds."""
    return lines_under(d.path("out"))


def spilled(d, name):
    """The error-output records of the delivery under test."""
    return json_lines_under(d.path(name + "-errors"))


def write(d, lines):
    append_lines(d.path("log", "app.log"), lines)


def delivery_status(d, name):
    _, st = d.get_json("/status")
    return [x for x in st["deliveries"] if x["name"] == name][0]
