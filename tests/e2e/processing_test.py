#!/usr/bin/env python3
"""End-to-end test of the processing steps and event time: two file sources with parsers,
timestamps, health-check drops and IP masks into one stream, delivered by the s3 sink to s3rver
under `logs/!{timestamp:yyyy/MM/dd/HH}/`, and every object read back through the S3 API.

Usage: processing_test.py SLUICE_BIN [scenario ...]

- app: JSON lines (`json`, `timestamp` rfc3339 with zone offsets, `grep` dropping /health paths,
  `mask` of client_ip with an HMAC); nginx: combined access lines (`regex` with typed status and
  bytes, `timestamp` common_log, `grep` dropping GET /health and kube-probe agents with `op: or`,
  `mask` of the remote address).
- The events span three hours of one day long past, written "now", shuffled out of time order,
  partly before the daemon starts and partly while it runs, so an object named by arrival time
  lands under a prefix of today's hour.
- Checks, by counting: every kept line arrives exactly once, no health line arrives, no raw IPv4
  address is in any object (the app's are the expected HMACs), every record is under the prefix
  of its own event hour (UTC), and status and bytes are JSON numbers.
- Scenarios: event_hours (the above); object_names (the above, and every object's name carries
  the event time of its own oldest record, as docs/processing.md says).

Needs the s3 plugin and s3rver (npm ci in tests/); exits 77 (skipped) when either is absent.
boto3 (Debian python3-boto3) reads the objects back.
"""
import datetime
import gzip
import hashlib
import hmac
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipeline_test import Daemon  # noqa: E402

SKIP = 77
BUCKET = "e2e"
MASK_KEY = "e2e-mask-key"
IPV4 = re.compile(rb"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
KEY_HOUR = re.compile(r"^logs/(\d{4})/(\d\d)/(\d\d)/(\d\d)/")
NAME_TIME = re.compile(r"/archive-1-(\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d)-[^/]*$")
# Three hours of event time (UTC), far from any arrival time.
DAY = datetime.datetime(2025, 3, 14, tzinfo=datetime.timezone.utc)
HOURS = (8, 9, 10)

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
    paths: ["./log/*.json"]
    stream: logs
    initial_position: start_of_file
    rescan_interval: 200ms
    checkpoint_interval: 100ms
    processing:
      - json: {{}}
      - timestamp: {{field: ts, format: rfc3339}}
      - grep: {{field: path, regex: "^/health", mode: drop}}
      - mask: {{field: client_ip, kind: ipv4, with: hash, hash_secret: "${{SLUICE_E2E_MASK_KEY}}"}}
  - name: nginx
    paths: ["./log/access*.log"]
    stream: logs
    initial_position: start_of_file
    rescan_interval: 200ms
    checkpoint_interval: 100ms
    processing:
      - regex:
          pattern: '^(?<remote>\\S+) \\S+ (?<user>\\S+) \\[(?<time>[^\\]]+)\\] "(?<method>\\S+) (?<path>\\S+) (?<protocol>[^"]*)" (?<status>\\d{{3}}) (?<bytes>\\d+|-) "(?<referer>[^"]*)" "(?<agent>[^"]*)"$'
          types: {{status: int, bytes: int}}
      - timestamp: {{field: time, format: common_log}}
      - grep:
          mode: drop
          op: or
          rules:
            - {{field: path, regex: "^/health"}}
            - {{field: agent, regex: "^kube-probe/"}}
      - mask: {{field: remote, kind: ipv4, with: redact}}
deliveries:
  - name: archive
    stream: logs
    buffer: {{size: 1MiB, interval: 1s}}
    record_delimiter: "\\n"
    compression: gzip
    retry_duration: 60s
    errors: {{path: ./errors}}
    sink:
      type: s3
      bucket: {bucket}
      region: us-east-1
      endpoint: http://127.0.0.1:{s3_port}
      force_path_style: true
      access_key_id: S3RVER
      secret_access_key: S3RVER
      prefix: "logs/!{{timestamp:yyyy/MM/dd/HH}}/"
      error_prefix: "errors/!{{firehose:error-output-type}}/"
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def expected_hash(ip):
    return hmac.new(MASK_KEY.encode(), ip.encode(), hashlib.sha256).hexdigest()[:32]


class Line:
    """One input line, its id, and what the delivered record must show."""

    def __init__(self, source, n, text, event, health, ip):
        self.source, self.n, self.text, self.event, self.health, self.ip = (
            source, n, text, event, health, ip)


def make_lines(rng, per_source):
    """App and nginx lines over three event hours; about 15 % health checks of each kind."""
    lines = []
    for n in range(per_source):
        hour = HOURS[n % 3]
        # Within the hour, with the ends of the hour present (xx:00:00.000 and xx:59:59.999).
        sec = {0: 0.0, 1: 3599.999}.get(n // 3, rng.uniform(0, 3599.999))
        event = DAY + datetime.timedelta(hours=hour, seconds=sec)
        ip = "203.0.%d.%d" % (n // 250 % 250, n % 250 + 1)
        # App: written in a zone of +02:00 for a third of the lines (the hour in the text is
        # then not the UTC hour), -05:30 for another third.
        offset = datetime.timedelta(minutes=(0, 120, -330)[n // 3 % 3])
        local = (event + offset).replace(tzinfo=datetime.timezone(offset))
        ts = local.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        health = n % 7 == 3
        path = "/healthz" if health else "/api/orders/%d" % n
        lines.append(Line("app", n, json.dumps(
            {"ts": ts, "level": "debug" if n % 5 == 0 else "info", "path": path,
             "client_ip": ip, "id": "app-%d" % n, "msg": "order %d placed" % n},
            separators=(",", ":")), event, health, ip))
        # nginx: local time in -07:00, as nginx writes $time_local.
        zone = datetime.timezone(datetime.timedelta(hours=-7))
        stamp = event.astimezone(zone).strftime("%d/%b/%Y:%H:%M:%S -0700")
        kind = n % 7
        if kind == 2:
            req, agent = "GET /health HTTP/1.1", "curl/8.5.0"
        elif kind == 5:
            req, agent = "GET /api/ready HTTP/1.1", "kube-probe/1.29"
        else:
            req, agent = ("GET /shop/items?page=%d HTTP/1.1" % (n % 40),
                          "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")
        status = (200, 200, 304, 404, 500)[n % 5]
        lines.append(Line("nginx", n, '%s - - [%s] "%s" %d %d "-" "%s"' % (
            ip, stamp, req, status, 100 + n, agent), event, kind in (2, 5), ip))
    rng.shuffle(lines)  # out of time order
    return lines


def write(path, lines):
    with open(path, "a") as f:
        for line in lines:
            f.write(line.text + "\n")


class S3rver:
    """s3rver on a port of 127.0.0.1 the OS chose, its objects under workdir/s3rver. `preexec_fn`
    runs in its child process before the exec (crash_campaign.py: die with the parent)."""

    def __init__(self, tests_dir, workdir, preexec_fn=None):
        self.exe = os.path.join(tests_dir, "node_modules", ".bin", "s3rver")
        self.port = free_port()
        self.root = os.path.join(workdir, "s3rver")
        os.makedirs(self.root)
        self.log = open(os.path.join(workdir, "s3rver.log"), "wb")
        self.preexec_fn = preexec_fn
        self.up()
        import boto3
        from botocore.config import Config
        extra = {}
        try:  # newer botocore adds checksums s3rver does not know
            Config(request_checksum_calculation="when_required")
            extra = {"request_checksum_calculation": "when_required",
                     "response_checksum_validation": "when_required"}
        except TypeError:
            pass
        self.s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % self.port,
                               region_name="us-east-1", aws_access_key_id="S3RVER",
                               aws_secret_access_key="S3RVER",
                               config=Config(s3={"addressing_style": "path"}, **extra))
        self.objects = {}  # key -> body (objects are immutable: read once)

    def read_all(self):
        token = None
        while True:
            kw = {"Bucket": BUCKET, "MaxKeys": 1000}
            if token:
                kw["ContinuationToken"] = token
            page = self.s3.list_objects_v2(**kw)
            for o in page.get("Contents", []):
                if o["Key"] not in self.objects:
                    body = self.s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
                    if body[:2] == b"\x1f\x8b":
                        body = gzip.decompress(body)
                    self.objects[o["Key"]] = body
            if not page.get("IsTruncated"):
                return self.objects
            token = page["NextContinuationToken"]

    def up(self):
        """Starts the server (again: on the same port, with the same objects)."""
        self.proc = subprocess.Popen([self.exe, "-d", self.root, "-a", "127.0.0.1", "-p",
                                      str(self.port), "--configure-bucket", BUCKET, "--silent"],
                                     stdout=self.log, stderr=self.log, preexec_fn=self.preexec_fn)
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise AssertionError("s3rver did not start")
                time.sleep(0.05)

    def down(self):
        """Stops the server (an outage); up() starts it again."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()

    def stop(self):
        self.down()
        self.log.close()


def record_id(rec):
    """app: its id; nginx: its body size, 100 + the line's number (health checks have no id)."""
    if "id" in rec:
        return rec["id"]
    try:
        return "nginx-%d" % (int(rec["bytes"]) - 100)
    except (KeyError, TypeError, ValueError):
        return None


def line_id(line):
    return "%s-%d" % (line.source, line.n)


def delivered_ids(objects):
    ids = {}
    for key, body in objects.items():
        if key.startswith("logs/"):
            for raw in body.splitlines():
                if raw.strip():
                    rid = record_id(json.loads(raw))
                    ids[rid] = ids.get(rid, 0) + 1
    return ids


def check(objects, lines, names=False):
    """Every assertion of the test over the objects; returns a summary. With `names`, also that
    each object's name carries the event time of its own oldest record (docs/processing.md)."""
    by_id = {line_id(l): l for l in lines}
    if any(not k.startswith("logs/") for k in objects):
        raise AssertionError("objects outside logs/ (error output): %s" %
                             [k for k in objects if not k.startswith("logs/")][:5])
    counts = {}
    wrong_hour = []
    untyped = []
    unmasked = []
    unparsed = []
    misnamed = []
    for key, body in objects.items():
        oldest = None
        m = KEY_HOUR.match(key)
        if not m:
            raise AssertionError("object %s is not under logs/yyyy/MM/dd/HH/" % key)
        key_hour = datetime.datetime(*map(int, m.groups()), tzinfo=datetime.timezone.utc)
        for raw in IPV4.findall(body)[:3]:
            unmasked.append((key, raw))
        for raw in body.splitlines():
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except ValueError:
                unparsed.append(raw[:120])
                continue
            rid = record_id(rec)
            counts[rid] = counts.get(rid, 0) + 1
            line = by_id.get(rid)
            if line is None:
                unparsed.append(raw[:120])
                continue
            oldest = line.event if oldest is None else min(oldest, line.event)
            if line.event.replace(minute=0, second=0, microsecond=0) != key_hour:
                wrong_hour.append("%s (event %s) under %s" % (rid, line.event.isoformat(), key))
            if line.source == "nginx":
                if not (type(rec.get("status")) is int and type(rec.get("bytes")) is int):
                    untyped.append(raw[:160])
                if rec.get("remote") != "[REDACTED]":
                    unmasked.append((key, rec.get("remote")))
            elif rec.get("client_ip") != expected_hash(line.ip):
                unmasked.append((key, rec.get("client_ip")))
        m = NAME_TIME.search(key)
        if names and oldest and (not m or m.group(1) != oldest.strftime("%Y-%m-%d-%H-%M-%S")):
            misnamed.append("%s (oldest record %s)" % (key, oldest.isoformat()))
    kept = [line_id(l) for l in lines if not l.health]
    health = [line_id(l) for l in lines if l.health]
    missing = [i for i in kept if i not in counts]
    dupes = {i: c for i, c in counts.items() if c > 1}
    leaked = [i for i in health if i in counts]
    problems = []
    if missing:
        problems.append("%d of %d kept lines missing (e.g. %s)" % (len(missing), len(kept),
                                                                  missing[:5]))
    if dupes:
        problems.append("%d lines delivered more than once (e.g. %s)" %
                        (len(dupes), list(dupes.items())[:5]))
    if leaked:
        problems.append("%d of %d health-check lines delivered (e.g. %s)" % (len(leaked),
                                                                             len(health),
                                                                             leaked[:5]))
    if unmasked:
        problems.append("%d addresses not masked as expected (e.g. %s)" % (len(unmasked),
                                                                           unmasked[:3]))
    if wrong_hour:
        problems.append("%d records not under their event hour (e.g. %s)" % (len(wrong_hour),
                                                                              wrong_hour[:3]))
    if untyped:
        problems.append("%d nginx records without numeric status/bytes (e.g. %s)" %
                        (len(untyped), untyped[:2]))
    if misnamed:
        problems.append("%d of %d objects not named by their oldest record's event time (e.g. %s)"
                        % (len(misnamed), len(objects), misnamed[:3]))
    if unparsed:
        problems.append("%d records not recognised (e.g. %s)" % (len(unparsed), unparsed[:2]))
    if problems:
        raise AssertionError("; ".join(problems))
    hours = sorted({KEY_HOUR.match(k).group(0) for k in objects})
    return "%d records in %d objects under %s; %d health lines dropped" % (
        sum(counts.values()), len(objects), ", ".join(hours), len(health))


def wait_delivered(env, ids, timeout=30.0):
    """Polls the bucket until every id in `ids` is in an object (or the time is up)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if env.daemon.proc.poll() is not None:
            raise AssertionError("daemon exited with %d" % env.daemon.proc.returncode)
        if ids <= set(delivered_ids(env.s3.read_all())):
            return
        time.sleep(0.1)


def scenario_event_hours(env, names=False):
    rng = random.Random(20)
    lines = make_lines(rng, 3000)
    app = [l for l in lines if l.source == "app"]
    web = [l for l in lines if l.source == "nginx"]
    # A third of each before the start, the rest in two more writes while the daemon runs (the
    # last into a second file of each source).
    write(env.log("app-1.json"), app[:1000])
    write(env.log("access.log"), web[:1000])
    env.daemon.start()
    # The rest arrives late: after the first lines of every hour are delivered, so each hour
    # gets a second object, named by its event hour too.
    first = {line_id(l) for l in app[:1000] + web[:1000] if not l.health}
    wait_delivered(env, first)
    write(env.log("app-1.json"), app[1000:2000])
    write(env.log("access.log"), web[1000:2000])
    write(env.log("app-2.json"), app[2000:])
    write(env.log("access-2.log"), web[2000:])
    wait_delivered(env, {line_id(l) for l in lines if not l.health})
    env.daemon.stop()
    return check(env.s3.read_all(), lines, names)


def scenario_object_names(env):
    """event_hours, and each object named by the event time of its own oldest record."""
    return scenario_event_hours(env, names=True)


SCENARIOS = {"event_hours": scenario_event_hours, "object_names": scenario_object_names}


class Env:
    def __init__(self, sluice):
        self.dir = tempfile.mkdtemp(prefix="sluice-e2e-processing-")
        os.makedirs(os.path.join(self.dir, "log"))
        here = os.path.dirname(os.path.abspath(__file__))
        self.s3 = S3rver(os.path.dirname(here), self.dir)
        plugins = os.path.join(os.path.dirname(os.path.abspath(sluice)), "plugins")
        path = os.path.join(self.dir, "sluice.yaml")
        with open(path, "w") as f:
            f.write(CONFIG.format(plugins=plugins, bucket=BUCKET, s3_port=self.s3.port))
        os.chmod(path, 0o600)
        self.daemon = Daemon(sluice, self.dir)
        self.daemon.env = dict(os.environ, SLUICE_E2E_MASK_KEY=MASK_KEY)

    def log(self, name):
        return os.path.join(self.dir, "log", name)

    def cleanup(self):
        self.s3.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    sluice = os.path.abspath(sys.argv[1])
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.exists(os.path.join(os.path.dirname(sluice), "plugins", "s3.so")):
        print("skipped: the s3 sink plugin is not built")
        return SKIP
    if not os.path.exists(os.path.join(tests_dir, "node_modules", ".bin", "s3rver")):
        print("skipped: s3rver is not installed (npm ci in tests/)")
        return SKIP
    try:
        import boto3  # noqa: F401
    except ImportError:
        print("skipped: no boto3 (apt-get install python3-boto3)")
        return SKIP
    names = sys.argv[2:] or list(SCENARIOS)
    passed = failed = 0
    for name in names:
        env = Env(sluice)
        start = time.time()
        try:
            summary = SCENARIOS[name](env)
            passed += 1
            print("PASS %s (%.1fs): %s" % (name, time.time() - start, summary))
            env.cleanup()
        except Exception as e:  # report and keep the directory for inspection
            failed += 1
            try:
                env.daemon.proc and env.daemon.proc.poll() is None and env.daemon.kill9()
            except Exception:
                pass
            env.s3.stop()
            print("FAIL %s: %s (left in %s)" % (name, e, env.dir))
            tail = open(os.path.join(env.dir, "daemon.log"), "rb").read()[-3000:]
            sys.stdout.write(tail.decode("utf-8", "replace"))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
