"""Runs the built daemon in a temporary directory for the operations tests (admin endpoint, CLI,
reload, status page). The admin endpoint listens on an ephemeral loopback port, read back from the
daemon's "sluice started" log line."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ADMIN = re.compile(rb"sluice started.*admin=127\.0\.0\.1:(\d+)")


class Daemon:
    def __init__(self, sluice, config, workdir=None):
        self.bin = os.path.abspath(sluice)
        self.plugins = os.path.join(os.path.dirname(self.bin), "plugins")
        self.dir = workdir or tempfile.mkdtemp(prefix="sluice-ops-")
        self.proc = None
        self.port = None
        self.write_config(config)

    def write_config(self, config):
        path = os.path.join(self.dir, "sluice.yaml")
        with open(path, "w") as f:
            f.write(config.replace("@PLUGINS@", self.plugins))
        os.chmod(path, 0o600)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def log_text(self):
        with open(self.path("daemon.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def start(self, timeout=20.0, env=None):
        log = open(self.path("daemon.log"), "ab")
        self.proc = subprocess.Popen([self.bin, "run", "-c", "sluice.yaml"], cwd=self.dir,
                                     stdout=log, stderr=log,
                                     env=dict(os.environ, **(env or {})))
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(self.path("daemon.log"), "rb") as f:
                m = ADMIN.search(f.read())
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                raise AssertionError("daemon exited with %d:\n%s" %
                                     (self.proc.returncode, self.log_text()))
            time.sleep(0.05)
        raise AssertionError("daemon did not start:\n" + self.log_text())

    @property
    def admin(self):
        return "127.0.0.1:%d" % self.port

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if method == "POST":
            headers.setdefault("X-Sluice-Admin", "1")  # mutating admin calls need it
        req = urllib.request.Request("http://%s%s" % (self.admin, path), data=body, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get_json(self, path):
        status, body = self.request("GET", path)
        return status, json.loads(body)

    def metrics(self):
        """{(name, labels text): value} from /metrics."""
        _, body = self.request("GET", "/metrics")
        out = {}
        for line in body.decode().splitlines():
            if not line or line.startswith("#"):
                continue
            m = re.match(r"([a-z_]+)(\{.*\})? (\S+)$", line)
            if m:
                out[(m.group(1), m.group(2) or "")] = float(m.group(3))
        return out

    def cli(self, *args, check=True, timeout=30, admin=None):
        r = subprocess.run([self.bin] + list(args) + ["--admin", admin or self.admin], cwd=self.dir,
                           capture_output=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("sluice %s exited %d: %s" %
                                 (" ".join(args), r.returncode, r.stderr.decode()))
        return r

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise AssertionError("daemon did not stop within 30s")
            if rc != 0:
                raise AssertionError("daemon exited with %d:\n%s" % (rc, self.log_text()))

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def lines_in(path):
    """The non-empty lines of a file, without their newlines; [] when it does not exist."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [l.rstrip("\n") for l in f if l.strip()]


def lines_under(root):
    """lines_in of every finished file under `root` (a file sink's objects), in no order."""
    out = []
    for base, _, files in os.walk(root):
        for f in files:
            if not f.startswith(".tmp-"):
                out += lines_in(os.path.join(base, f))
    return out


def json_lines_under(root):
    """The JSON lines of every finished file under `root` (an error output)."""
    return [json.loads(l) for l in lines_under(root)]


def append_lines(path, lines):
    with open(path, "a") as f:
        f.write("".join(l + "\n" for l in lines))


def wait_until(fn, timeout=20.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def run_tests(tests):
    """Runs test functions by name from argv (all when none); exits non-zero on a failure."""
    names = sys.argv[2:] or list(tests)
    failed = 0
    for name in names:
        start = time.time()
        try:
            tests[name](sys.argv[1])
            print("PASS %s (%.1fs)" % (name, time.time() - start))
        except Exception as e:  # report and go on with the next test
            failed += 1
            print("FAIL %s: %s" % (name, e))
    print("%d passed, %d failed" % (len(names) - failed, failed))
    sys.exit(1 if failed else 0)
