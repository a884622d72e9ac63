#!/usr/bin/env python3
"""End-to-end tests of the built daemon: numbered lines written to log files must all arrive in
the file sink's objects (or the error output), across rotation, copy-truncate, restarts and kill -9.

Usage: pipeline_test.py SLUICE_BIN LOGGEN_BIN [scenario ...]
Each scenario runs in its own temporary directory and prints one line; the last line is
"N passed, N failed". Exit status is non-zero if any scenario failed.
"""
import glob
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SEQ = re.compile(rb"seq=(\d+)")

CONFIG = """\
data_dir: ./data
plugin_dirs: [{plugins}]
admin: {{listen: "127.0.0.1:0"}}
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
    rotate_wait: 5s
    rescan_interval: 200ms
    checkpoint_interval: 100ms
deliveries:
  - name: archive
    stream: logs
    buffer: {{size: 1MiB, interval: 0s}}
    record_delimiter: "\\n"
    compression: none
    retry_duration: 60s
    errors: {{path: ./errors}}
    sink:
      type: file
      path: ./out
"""


class Daemon:
    def __init__(self, bin_path, workdir):
        self.bin = bin_path
        self.dir = workdir
        self.proc = None
        self.env = None  # environment of the daemon's process; None: this one's
        self.preexec_fn = None  # run in the daemon's process before the exec
        self.log = open(os.path.join(workdir, "daemon.log"), "ab")

    def start(self, timeout=30.0):
        """Starts the daemon and waits until it logs that every flow is watching its files."""
        path = os.path.join(self.dir, "daemon.log")
        self.log.flush()
        before = os.path.getsize(path)
        self.proc = subprocess.Popen([self.bin, "run", "-c", "sluice.yaml"], cwd=self.dir,
                                     stdout=self.log, stderr=self.log, env=self.env,
                                     preexec_fn=self.preexec_fn)
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(path, "rb") as f:
                f.seek(before)
                if b"sluice started" in f.read():
                    return
            if self.proc.poll() is not None:
                raise AssertionError("daemon exited with %d at start" % self.proc.returncode)
            time.sleep(0.05)
        raise AssertionError("daemon did not start within %.0fs" % timeout)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("daemon did not stop within 60s after SIGTERM")
        if rc != 0:
            raise AssertionError("daemon exited with %d" % rc)


def delivered(workdir):
    """Counts every seq number found in delivered objects and in the error output."""
    counts = {}
    for root in ("out", "errors"):
        for path in glob.glob(os.path.join(workdir, root, "**", "*"), recursive=True):
            if not os.path.isfile(path) or os.path.basename(path).startswith("."):
                continue
            with open(path, "rb") as f:
                for m in SEQ.finditer(f.read()):
                    n = int(m.group(1))
                    counts[n] = counts.get(n, 0) + 1
    return counts


def wait_for(workdir, expected, timeout=60.0):
    deadline = time.time() + timeout
    counts = {}
    while time.time() < deadline:
        counts = delivered(workdir)
        if all(n in counts for n in expected):
            return counts
        time.sleep(0.2)
    return counts


def check(counts, expected, max_dupes):
    missing = [n for n in expected if n not in counts]
    dupes = sum(c - 1 for c in counts.values() if c > 1)
    if missing:
        raise AssertionError("%d of %d lines missing (first: %s)" %
                             (len(missing), len(expected), missing[:5]))
    if dupes > max_dupes:
        raise AssertionError("%d duplicates, bound %d" % (dupes, max_dupes))
    return dupes


def write_lines(path, first, count):
    with open(path, "ab") as f:
        for n in range(first, first + count):
            f.write(b"line of the e2e test seq=%d padding padding padding\n" % n)


class Env:
    def __init__(self, sluice, loggen):
        self.dir = tempfile.mkdtemp(prefix="sluice-e2e-")
        plugins = os.path.join(os.path.dirname(os.path.abspath(sluice)), "plugins")
        os.makedirs(os.path.join(self.dir, "log"))
        with open(os.path.join(self.dir, "sluice.yaml"), "w") as f:
            f.write(CONFIG.format(plugins=plugins))
        os.chmod(os.path.join(self.dir, "sluice.yaml"), 0o600)
        self.daemon = Daemon(sluice, self.dir)
        self.loggen = loggen

    def log(self, name):
        return os.path.join(self.dir, "log", name)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def scenario_basic(env):
    write_lines(env.log("a.log"), 1, 5000)
    env.daemon.start()
    write_lines(env.log("b.log"), 5001, 5000)
    counts = wait_for(env.dir, range(1, 10001))
    env.daemon.stop()
    return check(counts, range(1, 10001), 0)


def scenario_rename_rotation(env):
    env.daemon.start()
    n = 1
    for r in range(10):
        write_lines(env.log("app.log"), n, 1000)
        n += 1000
        os.rename(env.log("app.log"), env.log("app.log.%d" % r))  # not matched by *.log
        time.sleep(0.05)
    write_lines(env.log("app.log"), n, 1000)
    n += 1000
    counts = wait_for(env.dir, range(1, n))
    env.daemon.stop()
    return check(counts, range(1, n), 0)


def scenario_copytruncate(env):
    env.daemon.start()
    n = 1
    for r in range(5):
        write_lines(env.log("app.log"), n, 2000)
        n += 2000
        # Let the agent read to the end before the copy-truncate, as logrotate's
        # copytruncate only promises what was read before the truncation.
        wait_for(env.dir, range(1, n), timeout=30)
        shutil.copy(env.log("app.log"), os.path.join(env.dir, "app.log.%d" % r))
        with open(env.log("app.log"), "r+b") as f:
            f.truncate(0)
    counts = wait_for(env.dir, range(1, n))
    env.daemon.stop()
    return check(counts, range(1, n), 0)


def scenario_copytruncate_matched(env):
    """copytruncate whose copies the glob matches, kept and renamed on as logrotate does: every
    line once. A copy is recognised by its content; what its original already delivered is not
    read again, what only the copy still holds is."""
    env.daemon.start()
    n = 1
    for r in range(6):
        write_lines(env.log("app.log"), n, 2000)
        n += 2000
        if r % 2 == 0:
            wait_for(env.dir, range(1, n), timeout=30)  # read before the copy, or not
        write_lines(env.log("app.log"), n, 50)  # written after the last read, before the copy
        n += 50
        for k in range(r, 0, -1):
            os.rename(env.log("app.%d.log" % k), env.log("app.%d.log" % (k + 1)))
        shutil.copy(env.log("app.log"), env.log("app.1.log"))
        with open(env.log("app.log"), "r+b") as f:
            f.truncate(0)
        time.sleep(0.3)
    write_lines(env.log("app.log"), n, 1000)
    n += 1000
    counts = wait_for(env.dir, range(1, n))
    env.daemon.stop()
    return check(counts, range(1, n), 0)


def scenario_restart(env):
    write_lines(env.log("a.log"), 1, 3000)
    env.daemon.start()
    wait_for(env.dir, range(1, 3001))
    env.daemon.stop()
    write_lines(env.log("a.log"), 3001, 3000)  # written while stopped
    env.daemon.start()
    counts = wait_for(env.dir, range(1, 6001))
    env.daemon.stop()
    return check(counts, range(1, 6001), 0)


def scenario_kill9_loop(env, rounds=6):
    rng = random.Random(7)
    n = 1
    for _ in range(rounds):
        env.daemon.start()
        batch = rng.randint(2000, 8000)
        write_lines(env.log("a.log"), n, batch)
        n += batch
        time.sleep(rng.uniform(0.05, 0.6))
        env.daemon.kill9()
    env.daemon.start()
    counts = wait_for(env.dir, range(1, n), timeout=90)
    env.daemon.stop()
    # Exactly once across the kills: the tailer resumes where the stream holds each file (its
    # position tags), and the file sink's objects are named by the records they hold.
    return check(counts, range(1, n), 0)


SCENARIOS = {
    "basic": scenario_basic,
    "rename_rotation": scenario_rename_rotation,
    "copytruncate": scenario_copytruncate,
    "copytruncate_matched": scenario_copytruncate_matched,
    "restart": scenario_restart,
    "kill9_loop": scenario_kill9_loop,
}


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    sluice, loggen = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    names = sys.argv[3:] or list(SCENARIOS)
    passed = failed = 0
    for name in names:
        env = Env(sluice, loggen)
        start = time.time()
        try:
            dupes = SCENARIOS[name](env)
            passed += 1
            print("PASS %s (%.1fs, %d duplicates)" % (name, time.time() - start, dupes))
            env.cleanup()
        except Exception as e:  # report and keep the directory for inspection
            failed += 1
            try:
                env.daemon.proc and env.daemon.proc.poll() is None and env.daemon.kill9()
            except Exception:
                pass
            print("FAIL %s: %s (left in %s)" % (name, e, env.dir))
            tail = open(os.path.join(env.dir, "daemon.log"), "rb").read()[-3000:]
            sys.stdout.write(tail.decode("utf-8", "replace"))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
