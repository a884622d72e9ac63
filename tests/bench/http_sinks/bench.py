#!/usr/bin/env python3
"""Broker-to-sink throughput of the http, opensearch and splunk sinks on loopback.

The built daemon tails a pre-written log of JSON lines (about 200 bytes each) into a one-shard
stream and delivers it through the sink .so to its receiver (tests/integration/http_sinks/
receivers.py, running in this process). Reported per sink: records, payload MB, wall-clock
seconds from daemon start until the receiver holds every record, MB/s, and the daemon's CPU
seconds (user + system, from /proc) per GB of payload. The receivers are Python and validate
every request, so MB/s is bounded by them; CPU s/GB is the daemon's own cost.

Usage: bench.py SLUICE_BIN [MiB] [sink ...]
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "integration", "http_sinks"))
import receivers  # noqa: E402

TOKEN = "11111111-2222-3333-4444-555555555555"

CONFIG = """\
data_dir: ./data
plugin_dirs: [{plugins}]
streams:
  - name: logs
    shards: 1
    fsync: interval
sources:
  - name: app
    paths: ["./log/*.log"]
    stream: logs
    initial_position: start_of_file
    partition_key: file
deliveries:
  - name: out
    stream: logs
    buffer: {{interval: 1s}}
    errors: {{path: ./errors}}
    sink:
{sink}
"""


def sinks():
    return {
        "http": (lambda: receivers.FirehoseEndpoint(access_key="k"),
                 "type: http\nurl: {url}/\naccess_key: k\ncontent_encoding: gzip",
                 lambda r: len(r.records)),
        "opensearch": (lambda: receivers.BulkCluster(),
                       "type: opensearch\nendpoint: {url}\nindex: bench\ncontent_encoding: gzip",
                       lambda r: sum(len(d) for d in list(r.indices.values()))),
        "splunk": (lambda: receivers.HecCollector(tokens=[TOKEN]),
                   "type: splunk\nendpoint: {url}\ntoken: " + TOKEN +
                   "\nendpoint_type: event\nack_poll_interval: 50ms\ncontent_encoding: gzip",
                   lambda r: len(r.events)),
    }


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(sluice, name, mib):
    make, sink_yaml, count = sinks()[name]
    r = make()
    d = tempfile.mkdtemp(prefix="sluice-bench-")
    try:
        plugins = os.path.join(os.path.dirname(os.path.abspath(sluice)), "plugins")
        sink = "\n".join("      " + l for l in sink_yaml.format(url=r.url).splitlines())
        with open(os.path.join(d, "sluice.yaml"), "w") as f:
            f.write(CONFIG.format(plugins=plugins, sink=sink))
        os.chmod(os.path.join(d, "sluice.yaml"), 0o600)
        os.makedirs(os.path.join(d, "log"))
        pad = "x" * 120
        n, size = 0, 0
        with open(os.path.join(d, "log", "app.log"), "w") as f:
            while size < mib << 20:
                line = json.dumps({"seq": n, "level": "info", "msg": pad, "status": 200}) + "\n"
                f.write(line)
                size += len(line) - 1
                n += 1
        t0 = time.time()
        p = subprocess.Popen([sluice, "run", "-c", "sluice.yaml"], cwd=d,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while count(r) < n:
                if p.poll() is not None:
                    raise RuntimeError("daemon exited with %d" % p.returncode)
                if time.time() - t0 > 600:
                    raise RuntimeError("timed out with %d of %d records" % (count(r), n))
                time.sleep(0.05)
            wall = time.time() - t0
            cpu = cpu_seconds(p.pid)
        finally:
            p.terminate()
            p.wait()
        mb = size / 1e6
        print("| %s | %d | %.1f | %.1f | %.1f | %.1f |" % (name, n, mb, wall, mb / wall,
                                                           cpu / (size / 1e9)))
    finally:
        r.close()
        shutil.rmtree(d, ignore_errors=True)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    mib = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    print("| sink | records | payload MB | seconds | MB/s | daemon CPU s/GB |")
    print("|---|---|---|---|---|---|")
    for name in sys.argv[3:] or ["http", "opensearch", "splunk"]:
        run(os.path.abspath(sys.argv[1]), name, mib)
    return 0


if __name__ == "__main__":
    sys.exit(main())
