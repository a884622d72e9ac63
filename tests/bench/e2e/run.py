#!/usr/bin/env python3
"""End-to-end benchmark of the built daemon: log files -> tailer -> broker -> delivery -> sink.

  run.py --sluice BUILD/sluice --loggen BUILD/tests/bench/tools/sluice-loggen
         [--size 1GiB] [--sinks blackhole,file_gzip,http,http_gzip,http_raw_gzip,s3]
         [--latency-seconds 30] [--latency-rate 10MB] [--input mixed|nginx]
         [--partition-key file|random] [--fluent-bit PATH] [--other "CMD ..."] [--keep] [--smoke]

Data: nginx combined access logs (50 %), JSON application logs (30 %) and multi-line Java stack
traces (20 %, one record per event, framed by a start pattern), written by sluice-loggen into two
files per format before the daemon starts. Each sink run starts a fresh daemon (its own data
directory) that reads every file from its start; it is timed from the start of the process until
the delivery's record counter (the admin endpoint's /metrics) reaches the number of records
written. Reported per sink: MB/s and lines/s of input, CPU seconds per GB (utime + stime of the
daemon from /proc/PID/stat), peak RSS (VmHWM).

Latency: a writer appends combined lines carrying their write time (`ts_us=`) at a steady rate
(10 MB/s by default) for --latency-seconds while the daemon delivers to the file sink
(1 MiB / 1 s buffer, no compression); a watcher polls the sink directory every 10 ms and reads
each new object: latency = when the object was seen - when its line was written (p50, p99, max).

--input nginx: one nginx combined access log of --size instead (per-record costs dominate short
lines, so this is the fair test of an agent whose cost is per record). --partition-key: the
sources' partition_key (file by default; random spreads records over both shards).

Sinks: `blackhole`, `file_gzip` (file sink, gzip), `http` (the `http` sink, raw NDJSON, no codec,
to a local receiver that counts lines), `http_gzip` (the `http` sink, Firehose mode, gzip, to a
local receiver that counts records), `http_raw_gzip` (the `http` sink, raw NDJSON, gzip, to the
line-counting receiver; all three need the http plugin), `s3` (the `s3` sink to s3rver from
tests/node_modules; needs the s3 plugin). A sink whose plugin is not built is reported as skipped.
The http rows (sluice's and Fluent Bit's) deliver to sluice-bench-recv (tests/bench/tools/recv.cc)
when it is built beside sluice-loggen, as the Python receiver caps them near 200 MB/s, and to the
Python one otherwise.

--other "CMD": runs another agent on the same files for a side-by-side figure. CMD is a shell
command line with {logs} (directory of the input files, a glob `{logs}/*.log` matches them all),
{out} (a directory it must write its output files into, plain or .gz), {work} (a scratch
directory) and {config} (--other-config TEMPLATE, with the same placeholders replaced, written
there); rsyslog.conf.in beside this script is such a template for rsyslogd (imfile to omfile). It is timed until the
number of lines under {out} reaches the number of input lines (a Java event counts as its
4 lines), or it exits; CPU and peak RSS are summed over its session's processes.

--fluent-bit PATH: runs that Fluent Bit binary on the same files after each sluice row it has an
equivalent for (blackhole -> `null`, http -> `http` with `format json_lines` to the same kind of
receiver, http_raw_gzip -> the same with `compress gzip`), configured as fast as it goes on files
in the page cache (tail with `read_from_head`, `file_cache_advise false`, `threaded true`, no DB),
timed from its start until its output's `proc_records` (its /api/v1/metrics) or the receiver's
count reaches the input's lines, and prints the ratios of the two rows. Skipped, saying so, when
PATH does not exist.

--smoke: a few MB, short latency run, and it fails (exit 1) when a record is missing; used by the
`bench-smoke` ctest test so the script cannot rot.
"""
import argparse
import base64
import datetime
import glob
import gzip
import http.client
import http.server
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib

CLK_TCK = os.sysconf("SC_CLK_TCK")
TS = re.compile(rb"ts_us=(\d+)")
REQUEST_ID = re.compile(rb'"requestId"\s*:\s*"([^"]*)"')
FORMATS = (("combined", "access", 0.5), ("json", "app", 0.3), ("java", "java", 0.2))
JAVA_START = r"^\d{4}-\d\d-\d\d "


def parse_size(text):
    m = re.fullmatch(r"(\d+)\s*([KMG]i?B?|B)?", text.strip())
    if not m:
        raise argparse.ArgumentTypeError("not a size: " + text)
    unit = (m.group(2) or "B").rstrip("B") or "B"
    mult = {"B": 1, "K": 1000, "M": 10**6, "G": 10**9, "Ki": 1 << 10, "Mi": 1 << 20,
            "Gi": 1 << 30}[unit]
    return int(m.group(1)) * mult


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def proc_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def session_usage(sid):
    """CPU seconds and the sum of peak RSS (KiB) of every live process of session `sid`."""
    cpu = hwm = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[3]) != sid:  # field 6: session id
                continue
            cpu += (int(fields[11]) + int(fields[12])) / CLK_TCK
            hwm += proc_hwm_kib(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return cpu, hwm


def metric(port, name):
    """Sum of every sample of `name` on the admin endpoint's /metrics."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    total = 0.0
    for line in data.split(b"\n"):
        if line.startswith(name.encode()) and line[len(name):len(name) + 1] in (b"{", b" "):
            total += float(line.rsplit(b" ", 1)[1])
    return total


# ---------------------------------------------------------------------------------------------
# Input


def generate(loggen, log_dir, size, nginx=False):
    """Writes the input files; returns (records, lines, bytes)."""
    os.makedirs(log_dir, exist_ok=True)
    records = lines = total = 0
    if nginx:
        path = os.path.join(log_dir, "access.log")
        out = subprocess.run([loggen, "--out", path, "--format", "combined", "--bytes",
                              str(size)], check=True, capture_output=True, text=True).stdout
        n = int(out.split()[0])
        return n, n, os.path.getsize(path)
    for k, (fmt, stem, share) in enumerate(FORMATS):
        for i in range(2):
            path = os.path.join(log_dir, "%s-%d.log" % (stem, i))
            # Each file its own numbers: two files of the same lines would be one file copied,
            # which the tailer reads once.
            start = 1 + (2 * k + i) * 10**9
            out = subprocess.run([loggen, "--out", path, "--format", fmt, "--bytes",
                                  str(max(1, int(size * share / 2))), "--start", str(start)],
                                 check=True, capture_output=True, text=True).stdout
            n = int(out.split()[0])
            records += n
            lines += n * (4 if fmt == "java" else 1)
            total += os.path.getsize(path)
    return records, lines, total


# ---------------------------------------------------------------------------------------------
# The daemon

CONFIG = """\
data_dir: ./data
plugin_dirs: [{plugins}]
log: {{level: warn}}
admin: {{listen: "127.0.0.1:{admin_port}"}}
streams:
  - name: logs
    shards: 2
    fsync: interval
    fsync_interval: 100ms
sources:
{sources}
deliveries:
  - name: bench
    stream: logs
    buffer: {{size: {buffer_size}, interval: {buffer_interval}}}
{delivery_extra}    record_delimiter: "\\n"
    compression: {compression}
    retry_duration: 60s
    errors: {{path: ./errors}}
    sink:
{sink}
"""


def sources_yaml(log_dir, latency, nginx=False, partition_key="file", extra=""):
    if latency:
        return ("  - {name: live, paths: [\"%s/live.log\"], stream: logs, "
                "initial_position: start_of_file, partition_key: file}\n" % log_dir)
    if nginx:
        return ("  - {name: access, paths: [\"%s/access.log\"], stream: logs, "
                "initial_position: start_of_file, partition_key: %s%s}\n"
                % (log_dir, partition_key, ", " + extra if extra else ""))
    out = ""
    for fmt, stem, _ in FORMATS:
        out += ("  - name: %s\n    paths: [\"%s/%s-*.log\"]\n    stream: logs\n"
                "    initial_position: start_of_file\n    partition_key: %s\n"
                % (stem, log_dir, stem, partition_key))
        if fmt == "java":
            out += "    multiline: {start_pattern: '%s', flush_timeout: 200ms}\n" % JAVA_START
        if extra:
            out += "".join("    %s\n" % kv.strip() for kv in extra.split(","))
    return out


def terminate(proc, timeout):
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Daemon:
    def __init__(self, sluice, workdir, config):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        path = os.path.join(workdir, "sluice.yaml")
        with open(path, "w") as f:
            f.write(config)
        os.chmod(path, 0o600)
        self.log = open(os.path.join(workdir, "daemon.log"), "wb")
        self.proc = subprocess.Popen([sluice, "run", "-c", "sluice.yaml"], cwd=workdir,
                                     stdout=self.log, stderr=self.log)

    def stop(self):
        terminate(self.proc, 60)
        self.log.close()

    def log_tail(self):
        with open(os.path.join(self.dir, "daemon.log"), "rb") as f:
            return f.read()[-2000:].decode("utf-8", "replace")


# ---------------------------------------------------------------------------------------------
# Receivers


class HttpReceiver:
    """A Firehose HTTP endpoint delivery receiver on 127.0.0.1: counts records, answers 200."""

    def __init__(self, on_records=None, ndjson=False):
        self.records = 0
        self.bytes = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding", "") == "gzip":
                    body = gzip.decompress(body)
                # Counted without a JSON parse, so the receiver keeps up with the sink: every
                # record of a Firehose request body is one {"data":"..."} object.
                seen = time.time()
                if ndjson:  # one record a line (sluice's raw mode, Fluent Bit's json_lines)
                    with receiver.lock:
                        receiver.records += body.count(b"\n")
                        receiver.bytes += len(body)
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                count = body.count(b'{"data":')
                with receiver.lock:
                    receiver.records += count
                    receiver.bytes += len(body)
                if on_records:
                    doc = json.loads(body)
                    on_records([base64.b64decode(r["data"]) for r in doc["records"]], seen)
                m = REQUEST_ID.search(body)
                answer = json.dumps({"requestId": m.group(1).decode() if m else "",
                                     "timestamp": int(seen * 1000)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class NativeReceiver:
    """sluice-bench-recv: counts as HttpReceiver does (same .port, .records, .close())."""

    def __init__(self, binary, ndjson=False):
        self.dir = tempfile.mkdtemp(prefix="sluice-bench-recv-")
        port_file = os.path.join(self.dir, "port")
        self.proc = subprocess.Popen([binary, "--port-file", port_file,
                                      "--mode", "ndjson" if ndjson else "firehose"],
                                     stdout=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                self.close()
                raise RuntimeError("%s did not start" % binary)
            time.sleep(0.01)
        with open(port_file) as f:
            self.port = int(f.read())
        self.last = 0

    @property
    def records(self):
        # A count that cannot be read right now (the receiver busy past the timeout) is the last
        # one read: the callers poll, and counts only grow.
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                c.request("GET", "/__count")
                self.last = json.loads(c.getresponse().read())["records"]
            finally:
                c.close()
        except (OSError, ValueError, KeyError, http.client.HTTPException):
            pass
        return self.last

    def close(self):
        terminate(self.proc, 10)
        shutil.rmtree(self.dir, ignore_errors=True)


def counting_receiver(binary, ndjson=False):
    """The native receiver when `binary` is set (main() checks it is built), else HttpReceiver."""
    return NativeReceiver(binary, ndjson) if binary else HttpReceiver(ndjson=ndjson)


def plugin_exists(plugins, name):
    return os.path.exists(os.path.join(plugins, name + ".so"))


def sink_setup(name, plugins, workdir, tests_dir, recv=None):
    """(sink yaml, compression, cleanup, skip reason, counter of records at the destination).

    recv: the sluice-bench-recv binary for the http sinks (None: the Python receiver)."""
    r = _sink_setup(name, plugins, workdir, tests_dir, recv)
    return r if len(r) == 5 else r + (None,)


def _sink_setup(name, plugins, workdir, tests_dir, recv_binary):
    if name == "blackhole":
        return "      type: blackhole\n", "none", None, None
    if name in ("file", "file_gzip"):
        return ("      type: file\n      path: ./out\n      fsync: true\n",
                "gzip" if name == "file_gzip" else "none", None, None,
                lambda: count_file_records(os.path.join(workdir, "out")))
    if name in ("http", "http_raw_gzip"):
        if not plugin_exists(plugins, "http"):
            return None, None, None, "the http sink plugin is not built"
        recv = counting_receiver(recv_binary, ndjson=True)
        # The sink gzips request bodies itself (content_encoding); the delivery's compression is
        # the codec of objects, which the http sink does not write.
        gz = "      content_encoding: gzip\n" if name == "http_raw_gzip" else ""
        return ("      type: http\n      url: http://127.0.0.1:%d/\n      mode: raw\n"
                "      raw_format: ndjson\n%s" % (recv.port, gz), "none", recv.close, None,
                lambda: recv.records)
    if name == "http_gzip":
        if not plugin_exists(plugins, "http"):
            return None, None, None, "the http sink plugin is not built"
        recv = counting_receiver(recv_binary)
        return ("      type: http\n      url: http://127.0.0.1:%d/\n      mode: firehose\n"
                "      content_encoding: gzip\n" % recv.port, "none", recv.close, None,
                lambda: recv.records)
    if name == "s3":
        if not plugin_exists(plugins, "s3"):
            return None, None, None, "the s3 sink plugin is not built"
        s3rver = os.path.join(tests_dir, "node_modules", ".bin", "s3rver")
        if not os.path.exists(s3rver):
            return None, None, None, "s3rver is not installed (npm ci in tests/)"
        port = free_port()
        root = os.path.join(workdir, "s3rver")
        os.makedirs(root, exist_ok=True)
        proc = subprocess.Popen([s3rver, "-d", root, "-a", "127.0.0.1", "-p", str(port),
                                 "--configure-bucket", "bench", "--silent"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)

        def stop():
            proc.terminate()
            proc.wait()
        return ("      type: s3\n      bucket: bench\n      region: us-east-1\n"
                "      endpoint: http://127.0.0.1:%d\n      force_path_style: true\n"
                "      access_key_id: S3RVER\n      secret_access_key: S3RVER\n" % port,
                "gzip", stop, None, lambda: count_file_records(root))
    raise SystemExit("unknown sink " + name)


# ---------------------------------------------------------------------------------------------
# Runs


def warm(log_dir):
    """Reads the input once, so every row (sluice's and the peer's) starts on a hot page cache."""
    for path in glob.glob(os.path.join(log_dir, "*")):
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass


def throughput_run(args, name, log_dir, records, lines, in_bytes, workroot):
    os.sync()  # the previous row's broker data is written back before this row starts
    warm(log_dir)
    workdir = os.path.join(workroot, "run-" + name)
    sink, compression, cleanup, skip, verify = sink_setup(name, args.plugins, workdir,
                                                          args.tests_dir, args.recv)
    if skip:
        return {"sink": name, "skipped": skip}
    admin = free_port()
    config = CONFIG.format(plugins=args.plugins, admin_port=admin,
                           sources=sources_yaml(log_dir, False, args.input == "nginx",
                                                args.partition_key, args.source_options),
                           buffer_size="5MiB",
                           buffer_interval=args.buffer_interval, compression=compression,
                           sink=sink, delivery_extra="".join(
                               "    %s\n" % kv.strip()
                               for kv in args.delivery_options.split(",") if kv.strip()))
    start = time.time()
    d = Daemon(args.sluice, workdir, config)
    try:
        done = 0
        deadline = start + args.timeout
        while time.time() < deadline:
            if d.proc.poll() is not None:
                raise RuntimeError("daemon exited with %d:\n%s" % (d.proc.returncode, d.log_tail()))
            done = metric(admin, "sluice_delivery_records_total") or 0
            if done >= records:
                break
            time.sleep(0.02)
        elapsed = time.time() - start
        cpu = proc_cpu_seconds(d.proc.pid)
        hwm = proc_hwm_kib(d.proc.pid)
        if done < records:
            raise RuntimeError("%s: %d of %d records delivered in %.0fs:\n%s" %
                               (name, done, records, args.timeout, d.log_tail()))
    finally:
        d.stop()
        verified = verify() if verify else None
        if cleanup:
            cleanup()
    result = {"sink": name, "seconds": elapsed, "mb_s": in_bytes / elapsed / 1e6,
              "records_s": records / elapsed, "lines_s": lines / elapsed, "cpu_s_per_gb": cpu / (in_bytes / 1e9),
              "peak_rss_mib": hwm / 1024.0, "records": records}
    if verified is not None:
        result["verified_records"] = verified
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def count_file_records(out_dir):
    """Records in the objects under out_dir (file sink, or s3rver's store): lines that start a
    record (Java frames excluded)."""
    n = 0
    for path in glob.glob(os.path.join(out_dir, "**", "*"), recursive=True):
        base = os.path.basename(path)
        if not os.path.isfile(path) or base.startswith(".") or base.endswith(
                ("._S3rver_metadata.json", "._S3rver_tags.xml")):
            continue
        with open(path, "rb") as f:
            data = f.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        n += data.count(b"\n") - data.count(b"\n\tat ") - data.count(b"\njava.lang.")
    return n


class LatencyWatcher:
    """Polls the file sink's directory; for each new object, the latency of every line in it."""

    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.seen = set()
        self.latencies = []
        self.lines = 0
        self.stop_flag = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def scan(self):
        now = time.time()
        for root, _, files in os.walk(self.out_dir):
            for name in files:
                path = os.path.join(root, name)
                if name.startswith(".") or path in self.seen:
                    continue
                self.seen.add(path)
                with open(path, "rb") as f:
                    data = f.read()
                stamps = TS.findall(data)
                self.lines += len(stamps)
                now_us = now * 1e6
                self.latencies.extend((now_us - int(s)) / 1000.0 for s in stamps)

    def loop(self):
        while not self.stop_flag:
            self.scan()
            time.sleep(0.01)

    def close(self):
        self.stop_flag = True
        self.thread.join()
        self.scan()


def latency_run(args, workroot):
    workdir = os.path.join(workroot, "run-latency")
    log_dir = os.path.join(workdir, "log")
    os.makedirs(log_dir)
    admin = free_port()
    sink = "      type: file\n      path: ./out\n      fsync: true\n"
    config = CONFIG.format(plugins=args.plugins, admin_port=admin,
                           sources=sources_yaml(log_dir, True), buffer_size="1MiB",
                           buffer_interval=args.latency_interval, compression="none", sink=sink,
                           delivery_extra="")
    d = Daemon(args.sluice, workdir, config)
    watcher = LatencyWatcher(os.path.join(workdir, "out"))
    written = 0
    try:
        deadline = time.time() + 30
        while metric(admin, "sluice_delivery_records_total") is None:
            if time.time() > deadline or d.proc.poll() is not None:
                raise RuntimeError("daemon did not start:\n" + d.log_tail())
            time.sleep(0.05)
        # A combined line of about 200 bytes; 100 blocks a second.
        tmpl = ('10.0.%d.%d - - [22/Nov/2026:10:00:00 +0000] "GET /api/v1/orders HTTP/1.1" 200 '
                '%d "-" "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0" seq=%d ts_us=%d\n')
        step = 0.01
        per_step = args.latency_rate * step
        start = time.time()
        seq = 0
        carry = 0.0
        with open(os.path.join(log_dir, "live.log"), "ab", buffering=0) as f:
            while time.time() - start < args.latency_seconds:
                carry += per_step
                now_us = int(time.time() * 1e6)
                parts = []
                size = 0
                while size < carry:
                    line = tmpl % (seq // 256 % 256, seq % 256, 200 + seq % 5000, seq, now_us)
                    parts.append(line)
                    size += len(line)
                    seq += 1
                carry -= size
                blob = "".join(parts).encode()
                f.write(blob)
                written += len(blob)
                due = start + (int((time.time() - start) / step) + 1) * step
                time.sleep(max(0.0, due - time.time()))
        wall = time.time() - start
        deadline = time.time() + 60
        while watcher.lines < seq and time.time() < deadline:
            time.sleep(0.05)
        cpu = proc_cpu_seconds(d.proc.pid)
        hwm = proc_hwm_kib(d.proc.pid)
    finally:
        watcher.close()
        d.stop()
    lat = sorted(watcher.latencies)
    if not lat or watcher.lines < seq:
        raise RuntimeError("latency run: %d of %d lines seen:\n%s" %
                           (watcher.lines, seq, d.log_tail()))

    def pct(p):
        return lat[min(len(lat) - 1, int(p / 100.0 * len(lat)))]
    result = {"sink": "file (latency)", "rate_mb_s": written / wall / 1e6, "lines": seq,
              "p50_ms": pct(50), "p99_ms": pct(99), "max_ms": lat[-1],
              "cpu_percent": 100.0 * cpu / wall, "peak_rss_mib": hwm / 1024.0}
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def other_run(args, log_dir, lines, in_bytes, workroot):
    work = os.path.join(workroot, "run-other")
    out = os.path.join(work, "out")
    os.makedirs(out)
    subst = {"{logs}": log_dir, "{out}": out, "{work}": work,
             "{config}": os.path.join(work, "other.conf")}
    if args.other_config:
        with open(args.other_config) as f:
            text = f.read()
        for k, v in subst.items():
            text = text.replace(k, v)
        with open(subst["{config}"], "w") as f:
            f.write(text)
    cmd = args.other
    for k, v in subst.items():
        cmd = cmd.replace(k, shlex.quote(v))
    start = time.time()
    proc = subprocess.Popen(cmd, shell=True, cwd=work, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Polled by size only (cheap, so the measurement does not slow the agent down); once the
    # output has stopped growing for 2 s its lines are counted, and the run ends at its last
    # growth if every line is there.
    cpu = hwm = 0.0
    n = 0
    size, last_change = -1, time.time()
    elapsed = None
    try:
        while time.time() - start < args.timeout:
            tree_cpu, tree_hwm = session_usage(proc.pid)
            cpu = max(cpu, tree_cpu)
            hwm = max(hwm, tree_hwm)
            now_size = sum(os.path.getsize(p) for p in glob.glob(os.path.join(out, "**", "*"),
                                                                 recursive=True)
                           if os.path.isfile(p))
            if now_size != size:
                size, last_change = now_size, time.time()
            elif size > 0 and time.time() - last_change >= 2.0:
                n = count_lines(out)
                if n >= lines:
                    elapsed = last_change - start
                    break
                last_change = time.time()  # not there yet: look again after 2 s more
            if proc.poll() is not None:
                n = count_lines(out)
                elapsed = time.time() - start
                break
            time.sleep(0.2)
        if elapsed is None:
            elapsed = time.time() - start
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
    return {"sink": "other: " + args.other, "seconds": elapsed, "mb_s": in_bytes / elapsed / 1e6,
            "lines_seen": n, "cpu_s_per_gb": cpu / (in_bytes / 1e9), "peak_rss_mib": hwm / 1024.0}


FLUENT_BIT_CONFIG = """\
[SERVICE]
    flush        {flush}
    log_level    warn
    http_server  on
    http_listen  127.0.0.1
    http_port    {metrics_port}
[INPUT]
    name              tail
    path              {logs}/*.log
    read_from_head    true
    file_cache_advise false
    threaded          true
[OUTPUT]
    name   {output}
    match  *
{output_options}"""

# sluice sink -> (Fluent Bit output, its options); sinks without an equivalent are not compared.
FLUENT_BIT_OUTPUTS = {
    "blackhole": ("null", ""),
    "http": ("http", "    host   127.0.0.1\n    port   {port}\n    uri    /\n"
                     "    format json_lines\n"),
    "http_raw_gzip": ("http", "    host   127.0.0.1\n    port   {port}\n    uri    /\n"
                              "    format json_lines\n    compress gzip\n"),
}


def fluent_bit_flush(interval):
    """Fluent Bit's engine flush period for sluice's buffer.interval (it takes no 0: 50 ms)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)", interval)
    if not m:
        raise SystemExit("--buffer-interval: %r is not a duration like 1s or 200ms" % interval)
    seconds = float(m.group(1)) / (1000.0 if m.group(2) == "ms" else 1.0)
    return "%g" % max(seconds, 0.05)


def fluent_bit_output_records(port):
    """Records Fluent Bit's outputs have processed (its /api/v1/metrics), or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /api/v1/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Connection: close\r\n\r\n")
            # It keeps the connection open despite "Connection: close": read Content-Length bytes.
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    return None
                data += chunk
            head, body = data.split(b"\r\n\r\n", 1)
            m = re.search(rb"(?i)content-length:\s*(\d+)", head)
            while m and len(body) < int(m.group(1)):
                chunk = s.recv(65536)
                if not chunk:
                    break
                body += chunk
        doc = json.loads(body)
        return sum(o.get("proc_records", 0) for o in doc.get("output", {}).values())
    except (OSError, ValueError, IndexError):
        return None


def fluent_bit_run(args, name, log_dir, lines, in_bytes, workroot):
    """Fluent Bit on the same files, to the equivalent of sluice sink `name`; None if it has none."""
    if name not in FLUENT_BIT_OUTPUTS:
        return None
    work = os.path.join(workroot, "run-fluent-bit-" + name)
    os.makedirs(work)
    output, options = FLUENT_BIT_OUTPUTS[name]
    recv = counting_receiver(args.recv, ndjson=True) if output == "http" else None
    metrics_port = free_port()
    conf = os.path.join(work, "fluent-bit.conf")
    with open(conf, "w") as f:
        f.write(FLUENT_BIT_CONFIG.format(flush=fluent_bit_flush(args.buffer_interval),
                                         metrics_port=metrics_port, logs=log_dir, output=output,
                                         output_options=options.format(
                                             port=recv.port if recv else 0)))
    log = open(os.path.join(work, "fluent-bit.log"), "wb")
    os.sync()
    warm(log_dir)
    start = time.time()
    proc = subprocess.Popen([args.fluent_bit, "-c", conf], cwd=work, stdout=log, stderr=log)
    done = 0
    try:
        deadline = start + args.timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("fluent-bit exited with %d" % proc.returncode)
            done = (recv.records if recv else fluent_bit_output_records(metrics_port)) or 0
            if done >= lines:
                break
            time.sleep(0.02)
        elapsed = time.time() - start
        cpu = proc_cpu_seconds(proc.pid)
        hwm = proc_hwm_kib(proc.pid)
        if done < lines:
            raise RuntimeError("fluent-bit %s: %d of %d records in %.0fs" %
                               (name, done, lines, args.timeout))
    finally:
        terminate(proc, 30)
        log.close()
        if recv:
            recv.close()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return {"sink": "fluent-bit " + output, "seconds": elapsed, "mb_s": in_bytes / elapsed / 1e6,
            "records_s": lines / elapsed, "lines_s": lines / elapsed,
            "cpu_s_per_gb": cpu / (in_bytes / 1e9), "peak_rss_mib": hwm / 1024.0,
            "records": lines}


def show_ratio(ours, theirs, as_json):
    r = {"ratio": ours["sink"] + " / " + theirs["sink"],
         "throughput": ours["mb_s"] / theirs["mb_s"],
         "cpu_per_gb": ours["cpu_s_per_gb"] / theirs["cpu_s_per_gb"],
         "peak_rss": ours["peak_rss_mib"] / theirs["peak_rss_mib"]}
    if as_json:
        print(json.dumps(r))
    else:
        print("%-18s sluice / Fluent Bit: %.2fx the throughput at %.2fx its CPU per GB and "
              "%.2fx its peak RSS" % ("  ratio", r["throughput"], r["cpu_per_gb"], r["peak_rss"]))
    sys.stdout.flush()


def gunzip_partial(raw):
    """The bytes of every gzip member in `raw`, the last one possibly unfinished."""
    out = []
    while raw:
        d = zlib.decompressobj(31)
        try:
            out.append(d.decompress(raw))
        except zlib.error:
            break
        raw = d.unused_data
    return b"".join(out)


def count_lines(out_dir):
    n = 0
    for path in glob.glob(os.path.join(out_dir, "**", "*"), recursive=True):
        if os.path.isfile(path):
            with open(path, "rb") as f:
                data = f.read()
            n += (gunzip_partial(data) if data[:2] == b"\x1f\x8b" else data).count(b"\n")
    return n


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sluice", required=True)
    p.add_argument("--loggen", required=True)
    p.add_argument("--plugins", help="plugin directory (default: plugins/ beside sluice)")
    p.add_argument("--size", type=parse_size, default=parse_size("1GiB"))
    p.add_argument("--sinks", default="blackhole,file_gzip,http_gzip,s3")
    p.add_argument("--latency-seconds", type=float, default=30)
    p.add_argument("--latency-rate", type=parse_size, default=parse_size("10MB"))
    p.add_argument("--latency-interval", default="1s",
                   help="the latency row's buffer.interval (default 1s; 0s flushes as soon as "
                        "the delivery has read all there is)")
    p.add_argument("--input", choices=("mixed", "nginx"), default="mixed",
                   help="mixed formats (default) or one nginx access log")
    p.add_argument("--partition-key", choices=("file", "random"), default="file")
    p.add_argument("--fluent-bit", help="a Fluent Bit binary to run on the same input")
    p.add_argument("--source-options", default="",
                   help="more keys for the sources, as YAML flow-mapping items "
                        "(e.g. \"batch_max_bytes: 1MiB\")")
    p.add_argument("--delivery-options", default="",
                   help="more keys for the throughput rows' delivery, comma-separated "
                        "(e.g. \"concurrency: 2\")")
    p.add_argument("--buffer-interval", default="1s",
                   help="the deliveries' buffer.interval in the throughput rows (default 1s); "
                        "Fluent Bit's flush period is set to the same (at least 50 ms)")
    p.add_argument("--repeat", type=int, default=1,
                   help="run each throughput row (and its Fluent Bit row) this many times, "
                        "alternating, and print the medians")
    p.add_argument("--other", help="another agent's command line ({logs} {out} {work} {config})")
    p.add_argument("--other-config", help="a config template for --other, written to {config}")
    p.add_argument("--timeout", type=float, default=900)
    p.add_argument("--workdir", help="parent of the temporary directory (default $TMPDIR)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--json", action="store_true", help="print results as JSON lines")
    args = p.parse_args()
    args.sluice = os.path.abspath(args.sluice)
    args.loggen = os.path.abspath(args.loggen)
    args.plugins = os.path.abspath(args.plugins or os.path.join(os.path.dirname(args.sluice),
                                                                "plugins"))
    args.tests_dir = os.path.dirname(os.path.dirname(here))
    args.recv = os.path.join(os.path.dirname(args.loggen), "sluice-bench-recv")
    if args.smoke:
        args.size = min(args.size, 4 << 20)
        args.latency_seconds = min(args.latency_seconds, 2)
        args.timeout = min(args.timeout, 60)

    workroot = tempfile.mkdtemp(prefix="sluice-e2e-bench-", dir=args.workdir)
    ok = True
    try:
        log_dir = os.path.join(workroot, "logs")
        t = time.time()
        records, lines, in_bytes = generate(args.loggen, log_dir, args.size,
                                            args.input == "nginx")
        # Written back now, so that the first row does not share the disk with the input's own
        # writeback (it ran at about two thirds of its speed otherwise).
        os.sync()
        print("# %s, %s, %d cores, %s" % (datetime.datetime.now(datetime.timezone.utc)
                                           .strftime("%Y-%m-%d %H:%M UTC"), platform.node(),
                                           os.cpu_count(), platform.platform()))
        print("# input: %.1f MB, %d records (%d lines) in %d files, generated in %.1fs" %
              (in_bytes / 1e6, records, lines, len(os.listdir(log_dir)), time.time() - t))
        fluent_bit = args.fluent_bit
        if fluent_bit and not os.access(fluent_bit, os.X_OK):
            print("# fluent-bit skipped: %s is not an executable file" % fluent_bit)
            fluent_bit = None
        if not os.access(args.recv, os.X_OK):
            if {"http", "http_gzip", "http_raw_gzip"} & set(args.sinks.split(",")):
                print("# %s is not built: the http rows use the python receiver" % args.recv)
            args.recv = None
        results = []
        for name in [s for s in args.sinks.split(",") if s]:
            ours_runs, theirs_runs = [], []
            for _ in range(max(1, args.repeat)):
                r = throughput_run(args, name, log_dir, records, lines, in_bytes, workroot)
                results.append(r)
                show(r, args.json)
                if "skipped" in r:
                    break
                ours_runs.append(r)
                if "verified_records" in r and r["verified_records"] != records:
                    print("FAIL: %s holds %d records, %d written" % (name, r["verified_records"],
                                                                      records))
                    ok = False
                if fluent_bit:
                    theirs = fluent_bit_run(args, name, log_dir, lines, in_bytes, workroot)
                    if theirs:
                        theirs_runs.append(theirs)
                        show(theirs, args.json)
                        show_ratio(r, theirs, args.json)
            if len(ours_runs) > 1:
                ours = median_row(ours_runs)
                show(ours, args.json)
                if theirs_runs:
                    theirs = median_row(theirs_runs)
                    show(theirs, args.json)
                    show_ratio(ours, theirs, args.json)
        if args.latency_seconds > 0:
            r = latency_run(args, workroot)
            show(r, args.json)
        if args.other:
            r = other_run(args, log_dir, lines, in_bytes, workroot)
            show(r, args.json)
    except RuntimeError as e:
        print("FAIL:", e)
        ok = False
    finally:
        if not args.keep:
            shutil.rmtree(workroot, ignore_errors=True)
        else:
            print("# kept", workroot)
    return 0 if ok else 1


def median_row(rows):
    """The median of each figure over repeated runs of one row."""
    out = dict(rows[0])
    out["sink"] = "median of %d: %s" % (len(rows), rows[0]["sink"])
    for k in ("seconds", "mb_s", "records_s", "lines_s", "cpu_s_per_gb", "peak_rss_mib"):
        if k in rows[0]:
            out[k] = statistics.median(r[k] for r in rows)
    return out


def show(r, as_json):
    if as_json:
        print(json.dumps(r))
    elif "skipped" in r:
        print("%-18s skipped: %s" % (r["sink"], r["skipped"]))
    elif "p50_ms" in r:
        print("%-18s %.1f MB/s steady, %d lines: p50 %.0f ms, p99 %.0f ms, max %.0f ms; "
              "CPU %.1f %% of a core, peak RSS %.0f MiB" %
              (r["sink"], r["rate_mb_s"], r["lines"], r["p50_ms"], r["p99_ms"], r["max_ms"],
               r["cpu_percent"], r["peak_rss_mib"]))
    else:
        rate = ("%.0f lines/s (%.0f records/s)" % (r["lines_s"], r["records_s"])
                if "lines_s" in r else "%d lines seen" % r.get("lines_seen", 0))
        print("%-18s %.1f MB/s, %s, %.2f CPU s per GB, peak RSS %.0f MiB (%.1fs)" %
              (r["sink"], r["mb_s"], rate, r["cpu_s_per_gb"], r["peak_rss_mib"], r["seconds"]))
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
