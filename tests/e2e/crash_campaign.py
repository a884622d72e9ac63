#!/usr/bin/env python3
"""The crash campaign: N trials, each a random mix of what a log shipper lives through, and
every line counted at both destinations afterwards.

Usage: crash_campaign.py SLUICE_BIN LOGGEN_BIN [--trials N] [--first K] [--seed S] [--trial K]
                         [--keep] [--max-duplicates N] [--max-duplicates-full-disk N]
                         [--max-spilled-and-delivered N]
                         [--load SECONDS] [--no-s3] [--sealed never|alternate|always]

One daemon a trial, in a directory of its own: two sources (`*.log`, and `*.trace` with the
java multiline preset) into one stream, read by two delivery streams, one to the file sink and
one to the s3 sink writing to s3rver (one s3rver for the whole campaign, a key prefix a trial).
Each trial draws from its seed:

- writers, at least two, each at its own rate: rename rotation (to names the glob does not
  match, or renamed on under matched names, app.1.log -> app.2.log), copytruncate with every
  copy kept and matched by the glob, new files created, a file deleted while it is open (the
  writer goes on writing into the unlinked file), multiline records (stack traces) with rename
  rotation;
- one kill -9 at a random point under load, and a restart after a random pause (the writers
  write and rotate on meanwhile);
- sink outages: the file sink's directory replaced by a plain file (every write fails) and
  restored; s3rver stopped and started again; a retry_duration shorter than an outage makes
  batches spill to the error output;
- the stream sealed (encryption at rest: every even-numbered trial by default, --sealed), its
  lines of about 1 KiB so that a backlog's put takes more than one sealed chunk;
- sometimes a full disk: the broker's disk_quota (lifted at the restart after the kill, or by a
  stop and start at the end of the load), or, as root, the data directory on a small tmpfs
  (ENOSPC; grown by a remount at a random point, before or after the restart).

After the load the daemon catches up and stops; every line is then counted at each destination:
delivered (objects), spilled (the delivery's error output, rawData decoded: delivered
elsewhere), lost (in neither), duplicated (more than once in either, or in both; "by the
delivery": copies one destination holds beyond the other's, which its delivery added, since
both read the whole stream) and unreachable (lines of a file renamed outside the globs while
the daemon was down, from which it had read nothing: no tailer can find them; not lost). A
trial fails when a line is lost or duplicates at a destination exceed --max-duplicates (default
0: object sinks deliver every line once); lines both delivered and spilled at one destination
are bounded apart by --max-spilled-and-delivered (default: as --max-duplicates): a sink that
stored an object whose answer was lost, then stayed down past retry_duration, has the batch in
both (docs/reliability.md). Each trial prints one line; the last sums them up.

A trial is reproduced by its seed and number (--seed S --trial K): the same writers, rates,
kill point, outages and disk; the interleaving of threads and the daemon is the machine's.
The trials' directories are removed unless a trial fails or --keep is given (which also keeps a
copy of a tmpfs data directory, as data.kept, before it is unmounted). Exit status 0:
every trial passed; 1: one failed; 77: every trial passed but the s3 part could not run
(s3rver or boto3 absent; --no-s3 runs the file sink alone and exits 0).
"""
import argparse
import base64
import ctypes
import gzip
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipeline_test import Daemon  # noqa: E402
from torture_test import SEQ, Counter, free_port, metric, missing_and_overlap  # noqa: E402

SKIP = 77
TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONFIG = """\
data_dir: ./data
plugin_dirs: [{plugins}]
admin: {{listen: "127.0.0.1:{admin_port}"}}
broker: {{disk_quota: {quota}{keyring}}}
streams:
  - name: logs
    shards: 2
    fsync: interval
    fsync_interval: 50ms{sealed}
sources:
  - name: app
    paths: ["./log/*.log"]
    stream: logs
    initial_position: start_of_file
    partition_key: {keys}
    multiline: {{flush_timeout: 200ms}}
    rotate_wait: 60s
    rescan_interval: 200ms
    checkpoint_interval: 100ms
  - name: traces
    paths: ["./log/*.trace"]
    stream: logs
    initial_position: start_of_file
    partition_key: {keys}
    multiline: {{preset: java, flush_timeout: 200ms}}
    rotate_wait: 60s
    rescan_interval: 200ms
    checkpoint_interval: 100ms
deliveries:
  - name: archive
    stream: logs
    buffer: {{size: 1MiB, interval: 0s}}
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

S3_DELIVERY = """\
  - name: bucket
    stream: logs
    buffer: {{size: 1MiB, interval: 500ms}}
    record_delimiter: "\\n"
    compression: gzip
    retry_duration: {retry}
    retry_backoff: {{base: 100ms, cap: 1s}}
    errors: {{path: ./s3side/errors}}
    sink:
      type: s3
      bucket: {bucket}
      region: us-east-1
      endpoint: http://127.0.0.1:{port}
      force_path_style: true
      access_key_id: S3RVER
      secret_access_key: S3RVER
      prefix: "{prefix}"
      connect_timeout: 2s
      request_timeout: 10s
"""

PAD = b"padding to about a hundred bytes of payload abcdefghijklmnopqrstuv"
# Sealed trials write lines of about 1 KiB (but the multiline writer's), so that a put of a
# backlog (500 lines) is sealed in more than one 256 KiB chunk, and their disks are larger by as
# much.
SEALED_PAD_TIMES = 15
SEALED_DISK_TIMES = 8

_prctl = ctypes.CDLL(None, use_errno=True).prctl


def die_with_parent():
    """preexec_fn: the child gets SIGKILL when the thread that started it ends, so when the
    campaign dies, however it dies (children are started from the main thread only)."""
    _prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Ids:
    """Hands out line numbers, dense from 1, and remembers which writer wrote each."""

    def __init__(self):
        self.lock = threading.Lock()
        self.owner = bytearray(1)  # owner[n]: index of the writer kind of line n

    def take(self, count, kind):
        with self.lock:
            first = len(self.owner)
            self.owner.extend(bytes([kind]) * count)
            return first

    def count(self):
        return len(self.owner) - 1


class Writer(threading.Thread):
    """Appends numbered lines ("<tag> seq=N ...") at `rate` lines/s in 10 ms steps; subclasses
    choose the files and rotate them in tick()."""

    kind = ""
    tag = b""

    def __init__(self, trial, seed, rate):
        super().__init__(daemon=True)
        self.trial = trial
        self.rng = random.Random(seed)
        self.rate = rate
        self.index = WRITERS.index(type(self))
        self.lines = 0
        self.events = 0  # rotations, files made or deleted
        self.error = None
        self.stop_flag = False
        self.paused_s = 0.0
        self.ranges = []  # (first, count) of the lines in the current file

    def log(self, name):
        return os.path.join(self.trial.dir, "log", name)

    def block(self, count):
        first = self.trial.ids.take(count, self.index)
        self.lines += count
        self.ranges.append((first, count))
        pad = self.trial.pad
        return b"".join(b"%s seq=%d %s\n" % (self.tag, n, pad) for n in range(first, first + count))

    @staticmethod
    def append(path, data):
        with open(path, "ab") as f:
            f.write(data)

    def run(self):
        try:
            start = time.monotonic()
            self.setup(start)
            while not self.stop_flag:
                now = time.monotonic()
                due = int((now - start - self.paused_s) * self.rate) - self.lines
                if due > 0:
                    self.write(due)
                self.tick(now)
                time.sleep(0.01)
            self.finish()
        except Exception as e:  # reported by the trial
            self.error = "%s writer: %r" % (self.kind, e)

    def setup(self, now):
        self.next_event = now + self.gap()

    def gap(self):
        return self.rng.uniform(0.3, 1.2)

    def write(self, count):
        self.append(self.path, self.block(count))

    def tick(self, now):
        if now >= self.next_event and os.path.exists(self.path):
            self.rotate()
            self.events += 1
            self.next_event = now + self.gap()

    def finish(self):
        pass


class RenameWriter(Writer):
    """rn.log renamed away (rn.log.K, not matched) or renamed on under matched names
    (rn.1.log -> rn.2.log ..., as logrotate without dateext)."""

    kind, tag = "rename", b"rn"

    def setup(self, now):
        super().setup(now)
        self.path = self.log("rn.log")
        self.kept = self.trial.plan.rename_kept

    def rotate(self):
        if self.kept:
            for k in range(self.events, 0, -1):
                os.rename(self.log("rn.%d.log" % k), self.log("rn.%d.log" % (k + 1)))
            os.rename(self.path, self.log("rn.1.log"))
        else:
            os.rename(self.path, self.log("rn.log.%d" % self.events))
            self.trial.renamed_away(self.ranges)
        self.ranges = []


class CopyTruncateWriter(Writer):
    """ct.log copied to ct.1.log (earlier copies renamed on, all kept and matched by the glob)
    and truncated. The copy and the truncation happen between two appends, so no line falls
    between them (logrotate's own window is not what is tested)."""

    kind, tag = "copytruncate", b"ct"

    def setup(self, now):
        super().setup(now)
        self.path = self.log("ct.log")

    def rotate(self):
        for k in range(self.events, 0, -1):
            os.rename(self.log("ct.%d.log" % k), self.log("ct.%d.log" % (k + 1)))
        shutil.copy(self.path, self.log("ct.1.log"))
        with open(self.path, "r+b") as f:
            f.truncate(0)


class CreateWriter(Writer):
    """A new file (cr-K.log) every 0.2-0.8 s; lines go to the newest, the older ones stay."""

    kind, tag = "create", b"cr"

    def setup(self, now):
        super().setup(now)
        self.path = self.log("cr-0.log")

    def gap(self):
        return self.rng.uniform(0.2, 0.8)

    def rotate(self):
        self.path = self.log("cr-%d.log" % (self.events + 1))


class DeleteWriter(Writer):
    """dl-K.log written to, unlinked once the daemon has it open (and at least 0.4-1 s old), then
    written on through the open descriptor for 0.1-0.3 s, closed, and the next one begun.

    Lines of an unlinked file exist only in the daemon's descriptor, so a kill -9 before it has
    read them loses them: no design can do better. The trial therefore parks this writer before
    each kill and waits until the daemon has drained and closed every unlinked file (park()), and
    allows unlinking only while the disk is not full (a stalled agent does not drain)."""

    kind, tag = "delete", b"dl"

    def setup(self, now):
        self.allowed = threading.Event()
        if self.trial.plan.disk is None:
            self.allowed.set()
        self.park_request = threading.Event()
        self.parked = threading.Event()
        self.resume = threading.Event()
        self.file = None
        self.begin(now)

    def begin(self, now):
        self.path = self.log("dl-%d.log" % self.events)
        self.file = open(self.path, "ab", buffering=0)
        self.born = now
        self.min_age = self.rng.uniform(0.4, 1.0)
        self.unlinked_at = None
        self.trailing = self.rng.uniform(0.1, 0.3)
        self.last_look = 0.0

    def write(self, count):
        self.file.write(self.block(count))
        if self.unlinked_at is not None:
            self.trial.after_unlink.append(self.ranges[-1])

    def tick(self, now):
        if self.park_request.is_set():
            self.close()
            self.parked.set()
            t = time.monotonic()
            while not self.resume.wait(0.05) and not self.stop_flag:
                pass
            self.resume.clear()
            self.paused_s += time.monotonic() - t
            if not self.stop_flag:
                self.begin(time.monotonic())
            return
        if self.unlinked_at is None:
            if (now - self.born >= self.min_age and self.allowed.is_set() and
                    now - self.last_look >= 0.05):
                self.last_look = now
                if self.path in self.trial.daemon_open_files():
                    os.unlink(self.path)
                    self.unlinked_at = now
        elif now - self.unlinked_at >= self.trailing:
            self.close()
            self.begin(now)

    def close(self):
        """Closes the current file: unlinked or not, it is done with."""
        if self.file:  # unlinked or not (then it stays a plain file), the next is a new name
            self.file.close()
            self.file = None
            self.events += 1

    def park(self):
        self.resume.clear()
        self.parked.clear()
        self.park_request.set()
        while not self.parked.wait(0.05):
            if not self.is_alive():
                return
        self.park_request.clear()

    def unpark(self):
        self.resume.set()

    def finish(self):
        self.close()


class MultilineWriter(Writer):
    """Stack traces into ml.trace (the java preset): a header line and 0-6 indented frames, every
    line numbered; now and then a trace's frames come 10 ms after its header. Rename rotation to
    ml.trace.K (not matched)."""

    kind, tag = "multiline", b"trace"

    def setup(self, now):
        super().setup(now)
        self.path = self.log("ml.trace")
        self.held = b""

    def gap(self):
        return self.rng.uniform(0.5, 1.5)

    def write(self, count):
        out = [self.held]
        self.held = b""
        made = 0
        while made < count:
            frames = self.rng.choice((0, 0, 1, 2, 3, 6))
            first = self.trial.ids.take(1 + frames, self.index)
            self.lines += 1 + frames
            self.ranges.append((first, 1 + frames))
            made += 1 + frames
            head = b"trace seq=%d request failed: java.lang.IllegalStateException\n" % first
            body = b"".join(b"\tat com.example.Handler.step%d(Handler.java:%d) seq=%d \n" %
                            (i, 100 + i, first + 1 + i) for i in range(frames))
            out.append(head)
            if frames and self.rng.random() < 0.05:
                self.held = body  # the frames follow in the next step
                break
            out.append(body)
        self.append(self.path, b"".join(out))

    def rotate(self):
        if self.held:
            self.append(self.path, self.held)
            self.held = b""
        os.rename(self.path, self.log("ml.trace.%d" % self.events))
        self.trial.renamed_away(self.ranges)
        self.ranges = []

    def finish(self):
        if self.held:
            self.append(self.path, self.held)


WRITERS = [RenameWriter, CopyTruncateWriter, CreateWriter, DeleteWriter, MultilineWriter]


class Plan:
    """What one trial does, all drawn from its seed (so the same draws give the same trial,
    whether or not s3rver is there)."""

    def __init__(self, rng, load, root):
        self.writers = [w for w in WRITERS if rng.random() < 0.55]
        while len(self.writers) < 2:
            w = rng.choice(WRITERS)
            if w not in self.writers:
                self.writers.append(w)
        self.writers.sort(key=WRITERS.index)
        self.rates = {w: rng.randint(400, 1500) for w in self.writers}
        self.writer_seeds = {w: rng.getrandbits(32) for w in self.writers}
        self.rename_kept = rng.random() < 0.5  # rotated names matched by the glob, or not
        self.load = load * rng.uniform(0.75, 1.25)
        self.kill_at = self.load * rng.uniform(0.15, 0.75)
        self.restart_at = self.kill_at + rng.uniform(0.0, 0.8)
        self.file_outage = self._window(rng, 0.5)
        self.s3_outage = self._window(rng, 0.5)
        self.retry = rng.choice(("60s", "60s", "1s"))
        d = rng.random()
        self.disk = None
        if d < 0.15:
            self.disk = "quota"
        elif d < 0.3:
            self.disk = "tmpfs" if root else "quota"
        # A trial's data directory starts at about 150 KiB and grows by about 120 bytes a line.
        self.quota_kib = rng.randint(256, 640)
        self.tmpfs_kib = rng.randint(320, 768)
        self.lift_at = self.load * rng.uniform(0.4, 0.9)  # tmpfs: grown then
        self.lift_at_restart = rng.random() < 0.5  # quota: lifted at the restart (else at the end)
        # Drawn last, so the draws above give the same trials as before it was drawn.
        self.keys = rng.choice(("file", "random"))  # the sources' partition_key

    def _window(self, rng, p):
        on = rng.random() < p
        start = self.load * rng.uniform(0.05, 0.7)
        end = min(start + rng.uniform(0.4, 1.5), self.load * 0.95)
        return (start, end) if on else None

    def describe(self, s3):
        kinds = [w.kind + ("(kept)" if w is RenameWriter and self.rename_kept else "")
                 for w in self.writers]
        parts = ["writers " + " ".join("%s@%d" % (k, self.rates[w])
                                       for k, w in zip(kinds, self.writers)),
                 "kill -9 at %.1fs, restart at %.1fs" % (self.kill_at, self.restart_at)]
        if self.file_outage:
            parts.append("file sink out %.1f-%.1fs" % self.file_outage)
        if self.s3_outage and s3:
            parts.append("s3rver down %.1f-%.1fs" % self.s3_outage)
        if self.disk == "quota":
            parts.append("disk_quota %dKiB lifted %s" % (
                self.quota_kib, "at the restart" if self.lift_at_restart else "at the end"))
        elif self.disk == "tmpfs":
            parts.append("tmpfs %dKiB grown at %.1fs" % (self.tmpfs_kib, self.lift_at))
        parts.append("retry %s, %s keys, load %.1fs" % (self.retry, self.keys, self.load))
        return "; ".join(parts)


class S3Objects:
    """The seq numbers in the objects under one prefix of the bucket: the `receiver` of a
    torture_test.Counter (counts() -> {seq: times}). An object is read again only when its ETag
    changes."""

    def __init__(self, s3rver, bucket, prefix):
        self.s3 = s3rver.s3
        self.bucket = bucket
        self.prefix = prefix
        self.cache = {}  # key -> (etag, [seq...])

    def counts(self):
        try:
            token = None
            while True:
                kw = {"Bucket": self.bucket, "Prefix": self.prefix, "MaxKeys": 1000}
                if token:
                    kw["ContinuationToken"] = token
                page = self.s3.list_objects_v2(**kw)
                for o in page.get("Contents", []):
                    hit = self.cache.get(o["Key"])
                    if hit and hit[0] == o["ETag"]:
                        continue
                    body = self.s3.get_object(Bucket=self.bucket, Key=o["Key"])["Body"].read()
                    if body[:2] == b"\x1f\x8b":
                        body = gzip.decompress(body)
                    self.cache[o["Key"]] = (o["ETag"], [int(m) for m in SEQ.findall(body)])
                if not page.get("IsTruncated"):
                    break
                token = page["NextContinuationToken"]
        except Exception:  # s3rver away (an outage) or busy: what was read so far
            pass
        out = {}
        for _, seqs in self.cache.values():
            for n in seqs:
                out[n] = out.get(n, 0) + 1
        return out

    def delete_all(self):
        keys = list(self.cache)
        for i in range(0, len(keys), 1000):
            self.s3.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": k} for k in keys[i:i + 1000]], "Quiet": True})


class Destination:
    """One delivery's destination: its sink's objects and its error output."""

    def __init__(self, name, counter):
        self.name = name
        self.counter = counter
        self.result = None

    def count(self, trial, n):
        """(lost seq numbers, unreachable, delivered SeqCounts, spilled SeqCounts, overlap)."""
        d, s = self.counter.counts()
        missing, overlap = missing_and_overlap(d, s, n)
        lost = missing
        unreachable = 0
        if missing:
            skip = trial.unreachable(d, s)
            lost = [m for m in missing if m not in skip]
            unreachable = len(missing) - len(lost)
        return lost, unreachable, d, s, overlap

    def tally(self, trial, n):
        lost, unreachable, d, s, overlap = self.count(trial, n)
        self.result = {"delivered": len(d), "spilled": len(s), "lost": len(lost),
                       "unreachable": unreachable,
                       "duplicated": d.dupes() + s.dupes() + overlap, "missing": lost,
                       "beyond": 0, "overlap": overlap}
        # Copies of each line here, delivered or spilled (see beyond_other()).
        dc, sc = bytes(d.c[:n + 1]).ljust(n + 1, b"\0"), bytes(s.c[:n + 1]).ljust(n + 1, b"\0")
        self.copies = [dc[i] + sc[i] for i in range(n + 1)]
        kinds = {}
        for i in range(1, n + 1):
            if self.copies[i] > 1:
                kind = WRITERS[trial.ids.owner[i]].kind
                kinds[kind] = kinds.get(kind, 0) + self.copies[i] - 1
        self.result["dup_kinds"] = kinds
        return self.result


def beyond_other(dests):
    """Both deliveries read the whole stream, so a line the stream holds twice (the agent put it
    again after a kill) is twice at both; copies one destination has beyond the other's were
    added by that delivery (a replay under another key, a batch both spilled and delivered).
    Sets each result's "beyond" (a lower bound: both may have added the same line)."""
    if len(dests) != 2 or not all(d.result for d in dests):
        return
    a, b = dests[0].copies, dests[1].copies
    dests[0].result["beyond"] = sum(max(0, x - y) for x, y in zip(a, b))
    dests[1].result["beyond"] = sum(max(0, y - x) for x, y in zip(a, b))


class Trial:
    def __init__(self, camp, number):
        self.camp = camp
        self.number = number
        self.rng = random.Random("%d/%d" % (camp.seed, number))
        self.plan = Plan(self.rng, camp.load, os.geteuid() == 0)
        self.dir = os.path.join(camp.dir, "t%04d" % number)
        os.makedirs(os.path.join(self.dir, "log"))
        # Sealed (encryption at rest) by the trial's number, not drawn: the draws stay the same.
        self.sealed = camp.sealed == "always" or (camp.sealed == "alternate" and number % 2 == 0)
        self.pad = PAD
        if self.sealed:
            self.pad = PAD * SEALED_PAD_TIMES
            p = self.plan
            p.quota_kib = 150 + (p.quota_kib - 150) * SEALED_DISK_TIMES
            p.tmpfs_kib = 150 + (p.tmpfs_kib - 150) * SEALED_DISK_TIMES
            ring = os.path.join(self.dir, "keyring")
            with open(ring, "w") as f:
                os.fchmod(f.fileno(), 0o600)
                f.write("k1 %s\n" % base64.b64encode(os.urandom(32)).decode())
        os.makedirs(os.path.join(self.dir, "s3side"))
        self.ids = Ids()
        self.daemon = Daemon(camp.sluice, self.dir)
        self.daemon.preexec_fn = die_with_parent
        self.admin_port = free_port()
        self.mounted = None
        self.writers = []
        self.deleter = None
        self.notes = []
        self.away = []  # (time, ranges) of each file renamed to a name no glob matches
        self.after_unlink = []  # ranges written into an unlinked file
        self.kill_time = self.up_time = None
        self.prefix = "t%04d/" % number
        self.dests = [Destination("file", Counter(self.dir))]
        if camp.s3:
            c = Counter(os.path.join(self.dir, "s3side"))
            c.receiver = S3Objects(camp.s3, camp.bucket, self.prefix)
            self.dests.append(Destination("s3", c))

    def write_config(self, quota_kib):
        text = CONFIG.format(plugins=self.camp.plugins, admin_port=self.admin_port,
                             quota="%dKiB" % quota_kib if quota_kib else 0,
                             keyring=", encryption: {keyring: %s}" % os.path.join(
                                 self.dir, "keyring") if self.sealed else "",
                             sealed="\n    encryption: {}" if self.sealed else "",
                             retry=self.plan.retry, keys=self.plan.keys)
        if self.camp.s3:
            text += S3_DELIVERY.format(retry=self.plan.retry, bucket=self.camp.bucket,
                                       port=self.camp.s3.port, prefix=self.prefix)
        path = os.path.join(self.dir, "sluice.yaml")
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.chmod(path + ".tmp", 0o600)
        os.rename(path + ".tmp", path)

    def daemon_open_files(self):
        """Paths the daemon holds open ("(deleted)" appended to unlinked ones), or an empty set
        when it is not running."""
        p = self.daemon.proc
        if p is None or p.poll() is not None:
            return set()
        fds = "/proc/%d/fd" % p.pid
        out = set()
        try:
            for fd in os.listdir(fds):
                try:
                    out.add(os.readlink(os.path.join(fds, fd)))
                except OSError:
                    pass
        except OSError:
            pass
        return out

    def drain_deleted(self, timeout=10.0):
        """Waits until the daemon holds no unlinked dl-*.log open: read to the end and put."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not [f for f in self.daemon_open_files()
                    if "/log/dl-" in f and f.endswith(" (deleted)")]:
                time.sleep(0.2)  # the records read last are put in the loop's next turn
                return
            time.sleep(0.02)
        self.notes.append("an unlinked file was still open %.0fs after its writer stopped" %
                          timeout)

    def renamed_away(self, ranges):
        """Called by a writer that renamed its file to a name no glob matches."""
        self.away.append((time.monotonic(), list(ranges)))

    def unreachable(self, delivered, spilled):
        """The lines no tailer can deliver: those of a file renamed outside the globs while the
        daemon was down (or in the half second before its kill, before it could look) from
        which the daemon had read nothing: nothing durable names the file, and no glob leads
        to it. A file that has one line delivered must have them all."""
        out = set()
        if self.kill_time is None:
            return out
        end = self.up_time if self.up_time is not None else float("inf")
        for at, ranges in self.away:
            if not self.kill_time - 0.5 <= at <= end:
                continue
            ids = [i for first, count in ranges for i in range(first, first + count)]
            if not any(i in delivered or i in spilled for i in ids):
                out.update(ids)
        return out

    def throttled(self):
        """Puts the broker refused (quota, ENOSPC) since the daemon started."""
        return sum(metric(self.admin_port, m) or 0 for m in (
            "sluice_agent_put_throttled_total", "sluice_agent_put_errors_total"))

    # Outages -------------------------------------------------------------------------------

    def file_down(self):
        out = os.path.join(self.dir, "out")
        os.makedirs(out, exist_ok=True)
        os.rename(out, out + ".away")
        with open(out, "w") as f:
            f.write("not a directory\n")

    def file_up(self):
        out = os.path.join(self.dir, "out")
        os.unlink(out)
        os.rename(out + ".away", out)

    def s3_down(self):
        self.camp.s3.down()

    def s3_up(self):
        # From this (the main) thread: a child dies with the thread that started it.
        self.camp.s3_up_safely()
        if self.camp.s3_error:
            raise AssertionError(self.camp.s3_error)

    def kill(self):
        if self.deleter:
            self.deleter.park()
            self.drain_deleted()
        self.disk_throttled += self.throttled()
        self.kill_time = time.monotonic()
        self.daemon.kill9()

    def restart(self):
        if self.quota_on and self.plan.lift_at_restart:
            self.write_config(0)
            self.quota_on = False
        self.daemon.start()
        self.up_time = time.monotonic()
        if self.deleter:
            if not self.quota_on and not self.tmpfs_full:
                self.deleter.allowed.set()
            self.deleter.unpark()

    def lift(self):
        if self.mounted:
            self.disk_throttled += self.throttled()
            subprocess.run(["mount", "-o", "remount,size=256m", self.mounted], check=True)
            self.tmpfs_full = False
            if self.deleter:
                self.deleter.allowed.set()

    # The trial ------------------------------------------------------------------------------

    def run(self):
        p = self.plan
        self.disk_throttled = 0
        self.quota_on = p.disk == "quota"
        self.tmpfs_full = False
        self.write_config(p.quota_kib if self.quota_on else 0)
        if p.disk == "tmpfs":
            data = os.path.join(self.dir, "data")
            os.makedirs(data)
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dk" % p.tmpfs_kib, "tmpfs",
                                data], capture_output=True)
            if r.returncode == 0:
                self.mounted = data
                self.tmpfs_full = True
            else:  # no mounts here (a container): the quota instead
                self.notes.append("tmpfs mount failed (%s): disk_quota instead" %
                                  r.stderr.decode().strip())
                self.quota_on = True
                self.write_config(p.quota_kib)
        self.daemon.start()
        events = [(p.kill_at, self.kill), (p.restart_at, self.restart)]
        if p.file_outage:
            events += [(p.file_outage[0], self.file_down), (p.file_outage[1], self.file_up)]
        if p.s3_outage and self.camp.s3:
            events += [(p.s3_outage[0], self.s3_down), (p.s3_outage[1], self.s3_up)]
        if p.disk == "tmpfs":
            events.append((p.lift_at, self.lift))
        events.sort(key=lambda e: e[0])
        t0 = time.monotonic()
        for w in p.writers:
            writer = w(self, p.writer_seeds[w], p.rates[w])
            self.writers.append(writer)
            if w is DeleteWriter:
                self.deleter = writer
            writer.start()
        for at, action in events:
            delay = t0 + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            action()
        delay = t0 + p.load - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        for w in self.writers:
            w.stop_flag = True
            if w is self.deleter:
                w.unpark()
        for w in self.writers:
            w.join()
        errors = [w.error for w in self.writers if w.error]
        if errors:
            raise AssertionError("; ".join(errors))
        if self.quota_on:  # lifted only now: a clean stop, the quota off, a start
            self.disk_throttled += self.throttled()
            self.daemon.stop()
            self.write_config(0)
            self.quota_on = False
            self.daemon.start()
        n = self.ids.count()
        self.catch_up(n)
        self.disk_throttled += self.throttled()
        self.daemon.stop()
        for d in self.dests:
            d.tally(self, n)
        return n

    def catch_up(self, n, timeout=120.0, stalled=6.0):
        """Waits until every line is at every destination; gives up when nothing new arrived
        for `stalled` seconds (a line that never comes) or after `timeout`."""
        start = last_change = time.monotonic()
        seen = None
        while time.monotonic() < start + timeout:
            if self.daemon.proc.poll() is not None:
                raise AssertionError("the daemon exited with %d while catching up" %
                                     self.daemon.proc.returncode)
            counts = [d.count(self, n) for d in self.dests]
            if all(not c[0] for c in counts):
                return
            now_seen = [(len(c[2]), c[2].total, len(c[3])) for c in counts]
            if now_seen != seen:
                seen, last_change = now_seen, time.monotonic()
            elif time.monotonic() - last_change > stalled:
                self.notes.append("nothing new for %.0fs" % stalled)
                return
            time.sleep(0.25)
        self.notes.append("not caught up after %.0fs" % timeout)

    def teardown(self):
        for w in self.writers:
            w.stop_flag = True
            if w is self.deleter:
                w.unpark()
        for w in self.writers:
            w.join(timeout=5)
        p = self.daemon.proc
        if p is not None and p.poll() is None:
            self.daemon.kill9()
        if self.camp.s3 and self.camp.s3.proc.poll() is not None:
            self.camp.s3_up_safely()
        if self.mounted:
            if self.camp.keep:  # the data directory goes with the tmpfs: a copy to look at
                shutil.copytree(self.mounted, self.mounted + ".kept", symlinks=True,
                                dirs_exist_ok=True)
            if subprocess.run(["umount", self.mounted], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", self.mounted], capture_output=True)
            self.mounted = None
        self.daemon.log.close()

    def late_ids(self):
        """The lines written into an unlinked file after its unlink."""
        return set(i for first, count in self.after_unlink for i in range(first, first + count))

    def missing_text(self, dest):
        kinds = self.ids.owner
        missing = dest.result["missing"]
        text = ", ".join("%d (%s)" % (m, WRITERS[kinds[m]].kind) for m in missing[:8])
        late = self.late_ids()
        if late:
            text += "; %s of them written into an unlinked file after its unlink" % fmt(
                sum(1 for m in missing if m in late))
        return text


class Campaign:
    def __init__(self, args):
        self.sluice = os.path.abspath(args.sluice)
        self.plugins = os.path.join(os.path.dirname(self.sluice), "plugins")
        self.seed = args.seed
        self.load = args.load
        self.keep = args.keep
        self.sealed = args.sealed
        self.max_dupes = args.max_duplicates
        self.max_dupes_full_disk = (args.max_duplicates if args.max_duplicates_full_disk is None
                                    else args.max_duplicates_full_disk)
        self.max_overlap = (args.max_duplicates if args.max_spilled_and_delivered is None
                            else args.max_spilled_and_delivered)
        self.dir = os.path.realpath(tempfile.mkdtemp(prefix="sluice-campaign-"))
        self.s3 = None
        self.s3_error = None
        self.bucket = None
        self.s3_skipped = None

    def allowed_dupes(self, trial):
        """Duplicates a trial may have: a full disk together with a kill still puts some lines
        twice (docs/reliability.md, "Open")."""
        return self.max_dupes_full_disk if trial.plan.disk else self.max_dupes

    def start_s3(self, wanted):
        if not wanted:
            return
        why = None
        if not os.path.exists(os.path.join(self.plugins, "s3.so")):
            why = "the s3 sink plugin is not built"
        elif not os.path.exists(os.path.join(TESTS_DIR, "node_modules", ".bin", "s3rver")):
            why = "s3rver is not installed (npm ci in tests/)"
        else:
            try:
                import boto3  # noqa: F401
            except ImportError:
                why = "no boto3 (apt-get install python3-boto3)"
        if why:
            self.s3_skipped = why
            return
        import processing_test
        self.bucket = processing_test.BUCKET
        self.s3 = processing_test.S3rver(TESTS_DIR, self.dir, preexec_fn=die_with_parent)

    def s3_up_safely(self):
        self.s3_error = None
        for attempt in range(3):
            try:
                self.s3.up()
                self.s3_error = None
                return
            except AssertionError as e:
                self.s3_error = "s3rver did not come back on port %d: %s" % (self.s3.port, e)
                self.s3.down()
                time.sleep(0.5)

    def close(self, failed):
        if self.s3:
            self.s3.stop()
        if failed or self.keep:
            print("campaign directory: %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def fmt(n):
    return "{:,}".format(n)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sluice")
    p.add_argument("loggen", help="accepted for symmetry with the other e2e scripts; unused")
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--seed", type=int, help="default: drawn from the clock, and printed")
    p.add_argument("--trial", type=int, help="run only trial K of the seed (to reproduce it)")
    p.add_argument("--first", type=int, default=1,
                   help="number of the first trial (to share a long run between processes)")
    p.add_argument("--keep", action="store_true", help="keep every trial's directory")
    p.add_argument("--max-duplicates", type=int, default=0,
                   help="duplicates allowed at each destination in a trial (default 0)")
    p.add_argument("--max-duplicates-full-disk", type=int,
                   help="duplicates allowed in a trial that fills the disk (default: as "
                        "--max-duplicates); see docs/reliability.md for why this exists")
    p.add_argument("--max-spilled-and-delivered", type=int,
                   help="lines allowed both delivered and spilled at a destination in a trial "
                        "(default: as --max-duplicates)")
    p.add_argument("--load", type=float, default=3.0, help="seconds of load a trial (+-25%%)")
    p.add_argument("--no-s3", action="store_true", help="the file sink only")
    p.add_argument("--sealed", choices=("never", "alternate", "always"), default="alternate",
                   help="trials whose stream is encrypted at rest, with lines of about 1 KiB "
                        "(alternate: the even-numbered ones)")
    args = p.parse_args()
    if args.seed is None:
        args.seed = int(time.time() * 1000) % 1000000007
    numbers = [args.trial] if args.trial else list(range(args.first, args.first + args.trials))

    def on_signal(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)

    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    camp = Campaign(args)
    started = time.monotonic()
    failed = []
    interrupted = False
    failed_lost = failed_dupes = 0
    totals = {"lines": 0, "lost": 0, "after_unlink": 0}
    per_dest = {}
    worst = None
    trial = None
    try:
        camp.start_s3(not args.no_s3)
        print("crash campaign: seed %d, %d trial%s, destinations %s%s" % (
            args.seed, len(numbers), "" if len(numbers) == 1 else "s",
            "file and s3" if camp.s3 else "file",
            " (s3 skipped: %s)" % camp.s3_skipped if camp.s3_skipped else ""))
        sys.stdout.flush()
        for k in numbers:
            trial = Trial(camp, k)
            t_start = time.monotonic()
            print("trial %d: %s%s" % (k, trial.plan.describe(camp.s3 is not None),
                                      "; sealed, lines of 1 KiB" if trial.sealed else ""))
            sys.stdout.flush()
            problems = []
            n = 0
            try:
                n = trial.run()
            except Exception as e:
                problems.append("%s" % e)
            finally:
                trial.teardown()
            beyond_other(trial.dests)
            parts = []
            lost_ids = set()  # lost at any destination
            dupes = 0  # the most at one destination
            for d in trial.dests:
                r = d.result
                if r is None:
                    continue
                parts.append("%s: delivered %s, spilled %s, lost %s, duplicated %s%s%s" % (
                    d.name, fmt(r["delivered"]), fmt(r["spilled"]), fmt(r["lost"]),
                    fmt(r["duplicated"]),
                    " (%s by the delivery)" % fmt(r["beyond"]) if r["beyond"] else "",
                    ", unreachable %s" % fmt(r["unreachable"]) if r["unreachable"] else ""))
                agg = per_dest.setdefault(d.name, {"lost": 0, "duplicated": 0, "beyond": 0,
                                                   "spilled": 0, "unreachable": 0})
                for key in agg:
                    agg[key] += r[key]
                lost_ids.update(r["missing"])
                dupes = max(dupes, r["duplicated"])
                if r["lost"]:
                    problems.append("%s: %s lines lost (first: %s)" % (
                        d.name, fmt(r["lost"]), trial.missing_text(d)))
                allowed = camp.allowed_dupes(trial)
                if r["overlap"] > camp.max_overlap:
                    problems.append("%s: %s lines both delivered and spilled (allowed %d)" % (
                        d.name, fmt(r["overlap"]), camp.max_overlap))
                if r["duplicated"] - r["overlap"] > allowed:
                    problems.append("%s: %s duplicates (allowed %d; lines of %s%s)" % (
                        d.name, fmt(r["duplicated"] - r["overlap"]), allowed,
                        ", ".join("%s %s" % (k, fmt(v)) for k, v in r["dup_kinds"].items()),
                        "; %s of them not at the other destination: added by this delivery" %
                        fmt(r["beyond"]) if r["beyond"] else ""))
            lost = len(lost_ids)
            totals["lines"] += n
            totals["lost"] += lost
            totals["after_unlink"] += len(lost_ids & trial.late_ids())
            if worst is None or (lost, dupes) > worst[1:]:
                worst = (k, lost, dupes)
            extra = []
            if trial.plan.disk:
                extra.append("%d puts refused" % trial.disk_throttled
                             if hasattr(trial, "disk_throttled") else "")
            extra += trial.notes
            print("  written %s | %s | %.1fs%s %s" % (
                fmt(n), " | ".join(parts), time.monotonic() - t_start,
                "".join(" | " + e for e in extra if e), "FAIL" if problems else "PASS"))
            if problems:
                failed.append(k)
                failed_lost += 1 if lost else 0
                failed_dupes += 1 if any(
                    d.result and (d.result["duplicated"] - d.result["overlap"] >
                                  camp.allowed_dupes(trial) or
                                  d.result["overlap"] > camp.max_overlap)
                    for d in trial.dests) else 0
                keep = len(failed) <= 10 or args.keep  # the first ten, for inspection
                print("FAIL trial %d (seed %d): %s" % (k, args.seed, "; ".join(problems)))
                print("  reproduce: crash_campaign.py SLUICE_BIN LOGGEN_BIN --seed %d --trial %d%s"
                      % (args.seed, k, " (left in %s)" % trial.dir if keep else ""))
                with open(os.path.join(trial.dir, "daemon.log"), "rb") as f:
                    lines = [l for l in f.read().decode("utf-8", "replace").splitlines()
                             if "level=debug" not in l and "attempt failed; retrying" not in l]
                print("  daemon.log, last lines:\n    " + "\n    ".join(
                    l[:300] for l in lines[-8:]))
                if not keep:
                    shutil.rmtree(trial.dir, ignore_errors=True)
            else:
                if camp.s3:
                    try:
                        trial.dests[1].counter.receiver.delete_all()
                    except Exception:
                        pass
                if not args.keep:
                    shutil.rmtree(trial.dir, ignore_errors=True)
            sys.stdout.flush()
            trial = None
    except KeyboardInterrupt as e:
        print("interrupted (%s)" % (e or "SIGINT"))
        interrupted = True
    finally:
        if trial is not None:
            trial.teardown()
        camp.close(bool(failed) or interrupted)
    dest_text = "; ".join([
        "%s: %s lost, %s duplicated (%s by the delivery), %s spilled, %s unreachable" % (
            name, fmt(v["lost"]), fmt(v["duplicated"]), fmt(v["beyond"]), fmt(v["spilled"]),
            fmt(v["unreachable"])) for name, v in per_dest.items()] or ["nothing counted"])
    print("summary: %d trials, seed %d, %s lines written, %s lost (at any destination; %s of "
          "them written into an unlinked file after its unlink); %s; worst trial %s (%s lost, "
          "%s duplicated); %.0f seconds: %s" % (
              len(numbers), args.seed, fmt(totals["lines"]), fmt(totals["lost"]),
              fmt(totals["after_unlink"]), dest_text,
              worst[0] if worst else "-", fmt(worst[1]) if worst else 0,
              fmt(worst[2]) if worst else 0, time.monotonic() - started,
              "FAIL (%d trials: %d with lines lost, %d with more than %d duplicates)%s" % (
                  len(failed), failed_lost, failed_dupes, camp.max_dupes,
                  ", INTERRUPTED" if interrupted else "")
              if failed else "INTERRUPTED" if interrupted else "PASS"))
    if failed or interrupted:
        return 1
    return SKIP if camp.s3_skipped else 0


if __name__ == "__main__":
    sys.exit(main())
