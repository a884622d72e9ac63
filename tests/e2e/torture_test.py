#!/usr/bin/env python3
"""Torture scenarios for the built daemon, under continuous load.

Usage: torture_test.py SLUICE_BIN LOGGEN_BIN [--duration SECONDS] [--seed N] [scenario ...]

A writer thread appends numbered lines ("seq=N") to log files at a steady rate while a scenario
hurts the daemon: kill -9 at random moments, sink outages (the file sink's directory replaced by
a plain file, so every write fails, then restored), outages longer than retry_duration (records
spill to the error output), the data directory's disk filling up (the broker's disk_quota; and a
real ENOSPC on a small tmpfs when running as root), rotation storms. Each scenario then lets the
daemon catch up and counts lines written, delivered (file sink objects), spilled (error output,
rawData decoded) and duplicated; it fails when a line is missing or duplicates exceed the bound
the design allows. Peak RSS (VmHWM) is checked against MEMORY_BUDGET_MIB through every outage.

--duration scales each scenario's loaded phase (default: short, for ctest); hours work too.
Prints one PASS/FAIL line per scenario with its counts; exit status non-zero on any failure.
Clock jumps and reloads under load are not covered (no libfaketime; reload not implemented).
"""
import argparse
import base64
import glob
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
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
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


class Counter:
    """Counts seq numbers in the sink's objects and in the error output, caching unchanged files."""

    def __init__(self, workdir):
        self.dir = workdir
        self.cache = {}  # path -> ((size, mtime_ns), [seq...])

    def _scan(self, root, spilled):
        out = []
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
                    out.append(hit[1])
                    continue
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if spilled:
                seqs = []
                for line in data.splitlines():
                    try:
                        raw = base64.b64decode(json.loads(line)["rawData"])
                    except (ValueError, KeyError):
                        continue
                    seqs.extend(int(m) for m in SEQ.findall(raw))
            else:
                seqs = [int(m) for m in SEQ.findall(data)]
            self.cache[path] = (key, seqs)
            out.append(seqs)
        return out

    def counts(self):
        """(delivered counts by seq, spilled counts by seq)."""
        result = []
        for root, spilled in (("out", False), ("errors", True)):
            c = {}
            for seqs in self._scan(root, spilled):
                for n in seqs:
                    c[n] = c.get(n, 0) + 1
            result.append(c)
        return result


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

    def write_config(self, quota, retry):
        self.admin_port = free_port()
        path = os.path.join(self.dir, "sluice.yaml")
        with open(path, "w") as f:
            f.write(CONFIG.format(plugins=self.plugins, admin_port=self.admin_port, quota=quota,
                                  retry=retry))
        os.chmod(path, 0o600)

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
            if all(i in d or i in s for i in range(1, n + 1)):
                return d, s
            self.sample_memory()
            time.sleep(0.2)
        return self.counter.counts()

    def cleanup(self):
        if self.mounted:
            subprocess.run(["umount", self.mounted], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def verdict(env, n, delivered, spilled, max_dupes, expect_spill=False):
    missing = [i for i in range(1, n + 1) if i not in delivered and i not in spilled]
    dupes = sum(c - 1 for c in delivered.values() if c > 1) + \
        sum(c - 1 for c in spilled.values() if c > 1) + \
        sum(1 for i in spilled if i in delivered)
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
    # A crash replays what followed the tailer's last durable checkpoint (written at most every
    # 100 ms): bounded by the lines written in the second before each kill, plus one batch.
    bound = sum(writer.written_between(t - 1.0, t) + 500 for t in kills)
    return verdict(env, n, delivered, spilled, bound) + ", %d kills, %d rotations" % (
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


SCENARIOS = {
    "kill9_under_load": (scenario_kill9_under_load, 12),
    "sink_outage": (scenario_sink_outage, 8),
    "sink_outage_spill": (scenario_sink_outage_spill, 6),
    "disk_full_quota": (scenario_disk_full_quota, 4),
    "disk_full_tmpfs": (scenario_disk_full_tmpfs, 4),
    "rotation_storm": (scenario_rotation_storm, 6),
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
    args = p.parse_args()
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
