#!/usr/bin/env python3
"""Torture scenarios for the built daemon, under continuous load.

Usage: torture_test.py SLUICE_BIN LOGGEN_BIN [--duration SECONDS] [--seed N] [scenario ...]

A writer thread appends numbered lines ("seq=N") to log files at a steady rate while a scenario
hurts the daemon: kill -9 at random moments, sink outages (the file sink's directory replaced by
a plain file, so every write fails, then restored), outages longer than retry_duration (records
spill to the error output), http receiver outages (503, hung, refused), reloads, the data
directory's disk filling up (the broker's disk_quota; and a
real ENOSPC on a small tmpfs when running as root), rotation storms. Each scenario then lets the
daemon catch up and counts lines written, delivered (file sink objects), spilled (error output,
rawData decoded) and duplicated; it fails when a line is missing or duplicates exceed the bound
the design allows. Peak RSS (VmHWM) is checked against MEMORY_BUDGET_MIB through every outage.

--duration scales each scenario's loaded phase (default: short, for ctest); hours work too.
Prints one PASS/FAIL line per scenario with its counts; exit status non-zero on any failure.
The http sink's outages (503, a hung receiver, refused connections) and reloads (SIGHUP with a
changed source or delivery) run under load too, and so do wall-clock jumps (libfaketime).
"""
import argparse
import array
import base64
import glob
import http.server
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipeline_test import Daemon  # noqa: E402

SEQ = re.compile(rb"seq=(\d+) ")
MEMORY_BUDGET_MIB = 192  # peak RSS allowed through an outage at full input rate

CONFIG = """\
data_dir: ./data
plugin_dirs: [{plugins}]
admin: {{listen: "127.0.0.1:{admin_port}"}}
broker: {{disk_quota: {quota}}}
streams:
  - name: logs
    shards: 2
    fsync: interval
    fsync_interval: 50ms
sources:
  - name: app
    paths: ["./log/*.log"]
    stream: logs
    initial_position: start_of_file
    partition_key: file
    multiline: {{flush_timeout: 200ms}}
    rotate_wait: 30s
    rescan_interval: 200ms
    checkpoint_interval: 100ms
deliveries:
  - name: archive
    stream: logs
    buffer: {{size: 1MiB, interval: 1s}}
    record_delimiter: "\\n"
    compression: none
    retry_duration: {retry}
    retry_backoff: {{base: 100ms, cap: 1s}}
    errors: {{path: ./errors}}
    sink:
      type: file
      path: ./out
      fsync: false
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hwm_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def metric(port, name):
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


class SeqCounts:
    """How often each seq number was seen: one byte per number (saturating at 255), so hours of
    lines fit in memory; set operations run at C speed over indicator integers."""

    def __init__(self):
        self.c = bytearray(1)  # seq numbers start at 1
        self.total = 0

    def add(self, seqs, sign=1):
        c = self.c
        for n in seqs:
            if n >= len(c):
                c.extend(bytes(max(n + 1 - len(c), len(c))))
            v = c[n] + sign
            c[n] = min(255, max(0, v))
        self.total += sign * len(seqs)

    def __contains__(self, n):
        return n < len(self.c) and self.c[n] > 0

    def __len__(self):  # distinct numbers seen
        return len(self.c) - self.c.count(0)

    def __bool__(self):
        return len(self) > 0

    def dupes(self):
        return self.total - len(self)

    def indicator(self, n):
        """An int whose bit i is set when seq i (1 <= i <= n) was seen."""
        b = bytes(self.c[:n + 1]).ljust(n + 1, b"\0").translate(ONE_IF_SEEN)
        return int.from_bytes(b, "little")


ONE_IF_SEEN = bytes([0] + [1] * 255)


def missing_and_overlap(delivered, spilled, n):
    """(seq numbers in 1..n seen in neither, numbers seen in both)."""
    d, s = delivered.indicator(n), spilled.indicator(n)
    # Bytes 0/1 per number: OR and AND of the indicators, byte by byte.
    either = (d | s).to_bytes(n + 1, "little")
    both = (d & s).to_bytes(n + 1, "little")
    missing = [i for i in range(1, n + 1) if not either[i]] if either.count(0) > 1 else []
    return missing, both.count(1)


class Counter:
    """Counts seq numbers in the sink's objects and in the error output, reading each file again
    only when its size or mtime changed (the file sink rewrites a replayed object in place)."""

    def __init__(self, workdir):
        self.dir = workdir
        self.cache = {}  # path -> ((size, mtime_ns), array of seq numbers)
        self.receiver = None  # an HttpReceiver whose accepted records count as delivered
        self.totals = {"out": SeqCounts(), "errors": SeqCounts()}

    def _scan(self, root, spilled):
        counts = self.totals[root]
        for path in glob.glob(os.path.join(self.dir, root, "**", "*"), recursive=True):
            if os.path.basename(path).startswith("."):
                continue
            try:
                st = os.stat(path)
                if not os.path.isfile(path):
                    continue
                key = (st.st_size, st.st_mtime_ns)
                hit = self.cache.get(path)
                if hit and hit[0] == key:
                    continue
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if spilled:
                seqs = array.array("Q")
                for line in data.splitlines():
                    try:
                        raw = base64.b64decode(json.loads(line)["rawData"])
                    except (ValueError, KeyError):
                        continue
                    seqs.extend(int(m) for m in SEQ.findall(raw))
            else:
                seqs = array.array("Q", (int(m) for m in SEQ.findall(data)))
            if hit:
                counts.add(hit[1], -1)
            counts.add(seqs)
            self.cache[path] = (key, seqs)

    def counts(self):
        """(delivered SeqCounts, spilled SeqCounts)."""
        self._scan("out", False)
        self._scan("errors", True)
        delivered = self.totals["out"]
        if self.receiver:
            merged = SeqCounts()
            merged.c = bytearray(delivered.c)
            merged.total = delivered.total
            for n, k in self.receiver.counts().items():
                merged.add([n] * k)
            delivered = merged
        return delivered, self.totals["errors"]


class HttpReceiver:
    """A Firehose HTTP endpoint on 127.0.0.1 with a switchable failure mode: "ok" (records are
    counted, 200), "503" (Service Unavailable, nothing counted), "hang" (no answer while hanging;
    the connection is then closed without one) and "refuse" (the port is closed). Records are
    counted only when answered 200, so a retried request is never counted twice by mistake."""

    def __init__(self):
        self.mode = "ok"
        self.lock = threading.Lock()
        self.seqs = {}
        # A batch whose answer the sink never saw (its 1 s timeout passed while this receiver
        # was still decoding it) is sent again under the same X-Amz-Firehose-Request-Id; like a
        # real endpoint, the receiver counts a request id once. A sink that changed the id on
        # retry would show up as duplicates.
        self.request_ids = set()
        self.requests = {"ok": 0, "503": 0, "hang": 0, "repeated": 0}
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                mode = receiver.mode
                with receiver.lock:
                    receiver.requests[mode if mode in receiver.requests else "503"] += 1
                if mode == "hang":
                    while receiver.mode == "hang":
                        time.sleep(0.05)
                    self.close_connection = True
                    return
                if mode != "ok":
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.headers.get("Content-Encoding", "") == "gzip":
                    import gzip
                    body = gzip.decompress(body)
                doc = json.loads(body)
                found = []
                for r in doc.get("records", []):
                    found.extend(int(m) for m in SEQ.findall(base64.b64decode(r["data"])))
                request_id = self.headers.get("X-Amz-Firehose-Request-Id", "")
                with receiver.lock:
                    if request_id and request_id in receiver.request_ids:
                        receiver.requests["repeated"] += 1
                        found = []
                    receiver.request_ids.add(request_id)
                    for n in found:
                        receiver.seqs[n] = receiver.seqs.get(n, 0) + 1
                answer = json.dumps({"requestId": doc.get("requestId", ""),
                                     "timestamp": int(time.time() * 1000)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.handler = Handler
        self.port = free_port()
        self.server = None
        self.listen()

    def listen(self):
        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def set_mode(self, mode):
        if mode == "refuse" and self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        elif mode != "refuse" and self.server is None:
            self.listen()
        self.mode = mode

    def counts(self):
        with self.lock:
            return dict(self.seqs)

    def close(self):
        self.mode = "ok"
        if self.server:
            self.server.shutdown()
            self.server.server_close()


class Writer:
    """Appends numbered lines at `rate` lines/s to log/app.log in 10 ms steps; optional rename
    rotation to app.log.N (not matched by the flow's glob) every `rotate` seconds (random in
    [rotate/2, rotate*1.5])."""

    def __init__(self, workdir, rate, rotate=0.0, rng=None):
        self.path = os.path.join(workdir, "log", "app.log")
        self.rate = rate
        self.rotate = rotate
        self.rng = rng or random.Random(1)
        self.n = 0  # lines written
        self.rotations = 0
        self.history = []  # (time, lines written) every step
        self.stop_flag = False
        self.paused = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        start = time.time()
        next_rotate = start + self._rotate_gap()
        step = 0.01
        due_lines = 0.0
        while not self.stop_flag:
            now = time.time()
            if self.paused:
                start_pause = now
                while self.paused and not self.stop_flag:
                    time.sleep(0.01)
                start += time.time() - start_pause
                continue
            due_lines = (now - start) * self.rate
            count = int(due_lines) - self.n
            if count > 0:
                first = self.n + 1
                blob = b"".join(b"torture line seq=%d padding to about a hundred bytes of "
                                b"payload abcdefghijklmnop\n" % i
                                for i in range(first, first + count))
                with open(self.path, "ab") as f:
                    f.write(blob)
                self.n += count
                self.history.append((time.time(), self.n))
            if self.rotate and now >= next_rotate:
                os.rename(self.path, "%s.%d" % (self.path, self.rotations))
                self.rotations += 1
                next_rotate = now + self._rotate_gap()
            time.sleep(step)

    def _rotate_gap(self):
        return self.rng.uniform(self.rotate * 0.5, self.rotate * 1.5) if self.rotate else 1e18

    def written_between(self, t0, t1):
        before = [n for t, n in self.history if t <= t0]
        upto = [n for t, n in self.history if t <= t1]
        return (upto[-1] if upto else 0) - (before[-1] if before else 0)

    def stop(self):
        self.stop_flag = True
        self.thread.join()
        return self.n


class Env:
    def __init__(self, sluice, quota=0, retry="60s"):
        self.dir = tempfile.mkdtemp(prefix="sluice-torture-")
        self.plugins = os.path.join(os.path.dirname(sluice), "plugins")
        os.makedirs(os.path.join(self.dir, "log"))
        self.mounted = None
        self.write_config(quota, retry)
        self.daemon = Daemon(sluice, self.dir)
        self.counter = Counter(self.dir)
        self.peak_mib = 0.0

    def write_config(self, quota, retry, sink=None, buffer_size="1MiB", checkpoint="100ms",
                     keep_port=False, segment_size=None):
        if not keep_port:
            self.admin_port = free_port()
        text = CONFIG.format(plugins=self.plugins, admin_port=self.admin_port, quota=quota,
                             retry=retry)
        if segment_size:
            text = text.replace("broker: {disk_quota: %s}" % quota,
                                "broker: {disk_quota: %s, segment_size: %s}" % (quota, segment_size))
        text = text.replace("buffer: {size: 1MiB,", "buffer: {size: %s," % buffer_size)
        text = text.replace("checkpoint_interval: 100ms", "checkpoint_interval: " + checkpoint)
        if sink:
            text = text[:text.index("    sink:\n")] + "    sink:\n" + sink
        path = os.path.join(self.dir, "sluice.yaml")
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.chmod(path + ".tmp", 0o600)
        os.rename(path + ".tmp", path)

    def sample_memory(self):
        p = self.daemon.proc
        if p and p.poll() is None:
            self.peak_mib = max(self.peak_mib, hwm_mib(p.pid))

    def metric(self, name):
        return metric(self.admin_port, name)

    def wait_all(self, n, timeout=90.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            d, s = self.counter.counts()
            if not missing_and_overlap(d, s, n)[0]:
                return d, s
            self.sample_memory()
            time.sleep(0.2)
        return self.counter.counts()

    def cleanup(self):
        if self.counter.receiver:
            self.counter.receiver.close()
        if self.mounted:
            subprocess.run(["umount", self.mounted], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def verdict(env, n, delivered, spilled, max_dupes, expect_spill=False):
    missing, overlap = missing_and_overlap(delivered, spilled, n)
    dupes = delivered.dupes() + spilled.dupes() + overlap
    stats = "written %d, delivered %d, spilled %d, duplicated %d (bound %d), peak RSS %.0f MiB" % (
        n, len(delivered), len(spilled), dupes, max_dupes, env.peak_mib)
    if missing:
        raise AssertionError("%d lines lost (first %s); %s" % (len(missing), missing[:5], stats))
    if dupes > max_dupes:
        raise AssertionError("too many duplicates; " + stats)
    if expect_spill and not spilled:
        raise AssertionError("the outage outlasted retry_duration but nothing spilled; " + stats)
    if env.peak_mib > MEMORY_BUDGET_MIB:
        raise AssertionError("peak RSS over the %d MiB budget; %s" % (MEMORY_BUDGET_MIB, stats))
    return stats


def sleep_sampling(env, seconds):
    end = time.time() + seconds
    while time.time() < end:
        env.sample_memory()
        time.sleep(min(0.1, max(0.0, end - time.time())))


# ---------------------------------------------------------------------------------------------


def scenario_kill9_under_load(env, duration, rng):
    """kill -9 at random moments while lines arrive at 20,000/s with rename rotation."""
    writer = Writer(env.dir, 20000, rotate=2.0, rng=rng)
    kills = []
    end = time.time() + duration
    while time.time() < end:
        env.daemon.start()
        sleep_sampling(env, rng.uniform(0.3, 2.5))
        kills.append(time.time())
        env.daemon.kill9()
        time.sleep(rng.uniform(0.0, 0.5))
    n = writer.stop()
    env.daemon.start()
    delivered, spilled = env.wait_all(n)
    env.daemon.stop()
    # Exactly once: the tailer resumes each file where the stream holds it (position tags put
    # with the records, each put one write to one shard) and the file sink names objects by the
    # records they hold.
    return verdict(env, n, delivered, spilled, 0) + ", %d kills, %d rotations" % (
        len(kills), writer.rotations)


def outage(env, duration, retry_expect_spill):
    writer = Writer(env.dir, 100000)  # ~10 MB/s
    env.daemon.start()
    sleep_sampling(env, duration * 0.2)
    out = os.path.join(env.dir, "out")
    os.rename(out, out + ".away")
    with open(out, "w") as f:
        f.write("not a directory\n")
    sleep_sampling(env, duration * 0.6)
    os.unlink(out)
    os.rename(out + ".away", out)
    sleep_sampling(env, duration * 0.2)
    n = writer.stop()
    delivered, spilled = env.wait_all(n)
    env.sample_memory()
    retries = env.metric("sluice_delivery_retries_total") or 0
    env.daemon.stop()
    if retries <= 0:
        raise AssertionError("the sink outage caused no retries: it was not seen")
    return verdict(env, n, delivered, spilled, 0, expect_spill=retry_expect_spill) + \
        ", %d retries" % retries


def scenario_sink_outage(env, duration, rng):
    """The sink fails every write for 60 % of the run (10 MB/s input), then recovers."""
    return outage(env, duration, False)


def scenario_sink_outage_spill(env, duration, rng):
    """An outage longer than retry_duration (1s): records spill to the error output."""
    env.write_config(0, "1s")
    return outage(env, duration, True)


def wait_stalled(env, n_target, seconds=1.5, timeout=30):
    """Waits until the agent stops putting (throttled by the full disk)."""
    deadline = time.time() + timeout
    last, since = None, time.time()
    while time.time() < deadline:
        put = env.metric("sluice_agent_incoming_records_total")
        env.sample_memory()
        if put is not None and put == last:
            if time.time() - since >= seconds:
                return put
        else:
            last, since = put, time.time()
        time.sleep(0.1)
    raise AssertionError("the agent never stalled on the full disk (put %s of %d)" %
                         (last, n_target))


def scenario_disk_full_quota(env, duration, rng):
    """broker.disk_quota reached: the tailer is held back, nothing is dropped; with the quota
    lifted (restart), everything arrives."""
    env.write_config("4MiB", "60s")
    env.daemon.start()
    writer = Writer(env.dir, 100000)
    sleep_sampling(env, max(1.0, duration * 0.5))
    n = writer.stop()
    put = wait_stalled(env, n)
    if put >= n:
        raise AssertionError("all %d lines went in under a 4 MiB quota" % n)
    throttled = env.metric("sluice_agent_put_throttled_total") or 0
    if throttled <= 0:
        raise AssertionError("quota full but no throttled puts counted")
    env.daemon.stop()
    env.write_config(0, "60s")
    env.daemon.start()
    delivered, spilled = env.wait_all(n)
    env.daemon.stop()
    return verdict(env, n, delivered, spilled, 0) + ", %d put before the quota stopped it" % put


def scenario_disk_full_tmpfs(env, duration, rng):
    """The data directory's filesystem (a 6 MiB tmpfs) fills up: ENOSPC. Growing it lets the
    daemon carry on without a restart, and nothing is lost."""
    if os.geteuid() != 0:
        return "SKIP (mounting a tmpfs needs root)"
    data = os.path.join(env.dir, "data")
    os.makedirs(data)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", data],
                       capture_output=True)
    if r.returncode != 0:
        return "SKIP (mount failed: %s)" % r.stderr.decode().strip()
    env.mounted = data
    env.daemon.start()
    writer = Writer(env.dir, 100000)
    sleep_sampling(env, max(1.0, duration * 0.5))
    n = writer.stop()
    put = wait_stalled(env, n)
    if env.daemon.proc.poll() is not None:
        raise AssertionError("the daemon exited on ENOSPC")
    subprocess.run(["mount", "-o", "remount,size=256m", data], check=True)
    delivered, spilled = env.wait_all(n)
    env.daemon.stop()
    return verdict(env, n, delivered, spilled, 0) + ", %d put before the disk filled" % put


def scenario_rotation_storm(env, duration, rng):
    """Rename rotation every 10-30 ms at 20,000 lines/s."""
    env.daemon.start()
    writer = Writer(env.dir, 20000, rotate=0.02, rng=rng)
    sleep_sampling(env, duration)
    n = writer.stop()
    delivered, spilled = env.wait_all(n)
    env.daemon.stop()
    return verdict(env, n, delivered, spilled, 0) + ", %d rotations" % writer.rotations


def scenario_segment_rolls(env, duration, rng):
    """64 KiB segments at 100,000 lines/s: the broker rolls a shard's segment every few ms while
    the delivery reads at its tail and the group commit syncs the sealed ones; a kill -9 midway."""
    env.write_config(0, "60s", segment_size="64KiB")
    writer = Writer(env.dir, 100000)
    env.daemon.start()
    sleep_sampling(env, duration / 2)
    kill = time.time()
    env.daemon.kill9()
    env.daemon.start()
    sleep_sampling(env, duration / 2)
    n = writer.stop()
    delivered, spilled = env.wait_all(n)
    segments = sum(1 for _, _, files in os.walk(os.path.join(env.dir, "data"))
                   for f in files if f.endswith(".log"))
    env.daemon.stop()
    if segments < 20:
        raise AssertionError("only %d segments: the run did not roll enough to test rolls" %
                             segments)
    bound = writer.written_between(kill - 1.0, kill) + 500
    return verdict(env, n, delivered, spilled, bound) + ", %d segment files" % segments


def scenario_http_outage(env, duration, rng):
    """The http sink's receiver answers 503, then hangs (past the sink's 1 s timeout), then
    refuses connections, with recovery between; 20,000 lines/s throughout."""
    if not os.path.exists(os.path.join(env.plugins, "http.so")):
        return "SKIP (the http sink plugin is not built)"
    recv = HttpReceiver()
    env.counter.receiver = recv
    env.write_config(0, "60s", sink="      type: http\n      url: http://127.0.0.1:%d/\n"
                     "      mode: firehose\n      content_encoding: gzip\n      timeout: 1s\n"
                     "      connect_timeout: 1s\n" % recv.port)
    env.daemon.start()
    writer = Writer(env.dir, 20000)
    phases = [("ok", 0.15), ("503", 0.2), ("ok", 0.1), ("hang", 0.2), ("ok", 0.1),
              ("refuse", 0.15), ("ok", 0.1)]
    for mode, share in phases:
        recv.set_mode(mode)
        sleep_sampling(env, duration * share)
    n = writer.stop()
    delivered, spilled = env.wait_all(n)
    retries = env.metric("sluice_delivery_retries_total") or 0
    env.daemon.stop()
    if retries <= 0 or recv.requests["503"] == 0 or recv.requests["hang"] == 0:
        raise AssertionError("outages not seen: %d retries, requests %s" % (retries,
                                                                            recv.requests))
    return verdict(env, n, delivered, spilled, 0) + ", %d retries, requests %s" % (
        retries, recv.requests)


def scenario_reload_under_load(env, duration, rng):
    """SIGHUP every 0.5-1.5 s with a changed delivery (buffer size) or source (checkpoint
    interval) while lines arrive at 20,000/s: nothing lost, nothing delivered twice."""
    env.daemon.start()
    writer = Writer(env.dir, 20000, rotate=1.5, rng=rng)
    reloads = 0
    end = time.time() + duration
    while time.time() < end:
        sleep_sampling(env, rng.uniform(0.5, 1.5))
        if rng.random() < 0.5:
            env.write_config(0, "60s", buffer_size=rng.choice(["512KiB", "1MiB", "2MiB"]),
                             keep_port=True)
        else:
            env.write_config(0, "60s", checkpoint=rng.choice(["50ms", "100ms", "200ms"]),
                             keep_port=True)
        env.daemon.proc.send_signal(signal.SIGHUP)
        reloads += 1
    n = writer.stop()
    delivered, spilled = env.wait_all(n)
    generation = env.metric("sluice_config_generation") or 0
    env.daemon.stop()
    if generation < 2:
        raise AssertionError("no reload was applied (sluice_config_generation %s)" % generation)
    return verdict(env, n, delivered, spilled, 0) + ", %d SIGHUPs, config generation %d" % (
        reloads, generation)


LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def scenario_clock_jumps(env, duration, rng):
    """The wall clock steps an hour back, then two hours forward, then back to true time, as an
    NTP step or a mis-set hardware clock does (libfaketime, CLOCK_REALTIME only; the monotonic
    clock runs on), while lines arrive at 20,000/s with rename rotation, and the daemon is killed
    with -9 and restarted while the clock is off. Buffer intervals, flush timeouts, fsync and
    checkpoint timers must keep running on monotonic time: nothing lost, nothing delivered twice
    beyond what the kill replays."""
    if not os.path.exists(LIBFAKETIME):
        raise AssertionError("%s is missing (packaging/setup.sh installs libfaketime)"
                             % LIBFAKETIME)
    offset_file = os.path.join(env.dir, "clock-offset")

    def set_offset(seconds):
        with open(offset_file + ".tmp", "w") as f:
            f.write("%+d\n" % seconds)
        os.rename(offset_file + ".tmp", offset_file)

    set_offset(0)
    env.daemon.env = dict(os.environ, LD_PRELOAD=LIBFAKETIME, FAKETIME_TIMESTAMP_FILE=offset_file,
                          FAKETIME_CACHE_DURATION="1", DONT_FAKE_MONOTONIC="1", NO_FAKE_STAT="1")
    writer = Writer(env.dir, 20000, rotate=2.0, rng=rng)
    env.daemon.start()
    kills = []
    for offset, share in [(-3600, 0.25), (7200, 0.25), ("kill", 0), (7200, 0.25), (0, 0.25)]:
        if offset == "kill":
            kills.append(time.time())
            env.daemon.kill9()
            env.daemon.start()
            # The restarted daemon must see the shifted clock, or this scenario tests nothing.
            with open(os.path.join(env.dir, "daemon.log"), "rb") as f:
                started = re.findall(rb'ts=(\S+) level=info msg="sluice started"', f.read())
            seen = time.mktime(time.strptime(started[-1][:19].decode(), "%Y-%m-%dT%H:%M:%S"))
            skew = seen - time.mktime(time.gmtime(kills[-1]))
            if abs(skew - 7200) > 60:
                raise AssertionError("the daemon's clock is %+.0f s off, not +7200 s: "
                                     "libfaketime did not take" % skew)
            continue
        set_offset(offset)
        sleep_sampling(env, duration * share)
    n = writer.stop()
    delivered, spilled = env.wait_all(n)
    env.daemon.stop()
    bound = sum(writer.written_between(t - 1.0, t) + 500 for t in kills)
    return verdict(env, n, delivered, spilled, bound) + ", clock -1h, +2h (kill -9), back"


SCENARIOS = {
    "kill9_under_load": (scenario_kill9_under_load, 10),
    "sink_outage": (scenario_sink_outage, 6),
    "sink_outage_spill": (scenario_sink_outage_spill, 6),
    "disk_full_quota": (scenario_disk_full_quota, 4),
    "disk_full_tmpfs": (scenario_disk_full_tmpfs, 4),
    "rotation_storm": (scenario_rotation_storm, 6),
    "segment_rolls": (scenario_segment_rolls, 6),
    "http_outage": (scenario_http_outage, 8),
    "reload_under_load": (scenario_reload_under_load, 6),
    "clock_jumps": (scenario_clock_jumps, 6),
}


def main():
    global MEMORY_BUDGET_MIB
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sluice")
    p.add_argument("loggen")
    p.add_argument("scenarios", nargs="*")
    p.add_argument("--duration", type=float, help="seconds of load per scenario")
    p.add_argument("--seed", type=int, default=int(os.environ.get("SLUICE_TORTURE_SEED", "7")))
    p.add_argument("--memory-budget", type=int, default=MEMORY_BUDGET_MIB,
                   help="MiB of peak RSS allowed (default %d)" % MEMORY_BUDGET_MIB)
    args = p.parse_intermixed_args()
    MEMORY_BUDGET_MIB = args.memory_budget
    sluice = os.path.abspath(args.sluice)
    names = args.scenarios or list(SCENARIOS)
    passed = failed = 0
    for name in names:
        fn, default_duration = SCENARIOS[name]
        env = Env(sluice)
        rng = random.Random(args.seed)
        start = time.time()
        try:
            stats = fn(env, args.duration or default_duration, rng)
            passed += 1
            print("PASS %s (%.1fs): %s" % (name, time.time() - start, stats))
            env.cleanup()
        except Exception as e:  # report and keep the directory for inspection
            failed += 1
            try:
                if env.daemon.proc and env.daemon.proc.poll() is None:
                    env.daemon.kill9()
            except Exception:
                pass
            print("FAIL %s (%.1fs, seed %d): %s (left in %s)" % (name, time.time() - start,
                                                                 args.seed, e, env.dir))
            with open(os.path.join(env.dir, "daemon.log"), "rb") as f:
                sys.stdout.write(f.read()[-3000:].decode("utf-8", "replace"))
            if env.mounted:
                subprocess.run(["umount", env.mounted], check=False)
        sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
