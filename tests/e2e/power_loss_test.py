#!/usr/bin/env python3
"""Power cuts, not only process deaths: the daemon runs under the power-cut shim
(tests/e2e/power_cut/power_cut.c, LD_PRELOAD), which journals every change to the files of its
working directory; a cut is a SIGKILL followed by the shim's cut step (power_cut.py), which undoes
every write, truncation, creation, rename and unlink that no completed fsync had made durable,
as a power loss would. The daemon is then started again (under a fresh journal, for the next cut).

Usage: power_loss_test.py SLUICE_BIN POWER_CUT_SO [--cuts N] [--seed N] [scenario ...]

Scenarios:
  tailer  a log file written continuously (2,000 lines/s) is tailed into a stream and delivered
          to a file sink. After each cut: the daemon starts and the stream reads; every line
          before the agent's checkpoint (as the cut left it) is in the stream. At the end every
          line of the file is in the stream (the agent never resumed past what the broker kept)
          and in the delivered objects.
  api     two clients (boto3) put numbered records with PutRecords. After each cut every record
          whose PutRecords answer reported it a success is in the stream. api_workers: the same
          with the puts on two worker threads (broker.api.workers: 2).

Each cut comes at a random moment (seeded; the seed is printed) 1-3 s into a run. The shim's model
and limits are described in tests/e2e/power_cut/power_cut.c and docs/reliability.md.
Exit status non-zero on any failure.
"""
import argparse
import json
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "power_cut"))
from pipeline_test import Daemon, delivered  # noqa: E402
import power_cut  # noqa: E402

CONFIG = """\
data_dir: ./data
plugin_dirs: [{plugins}]
admin: {{listen: "127.0.0.1:0"}}
broker:
  api: {{listen: "127.0.0.1:0", workers: {workers}}}
streams:
  - name: logs
    shards: 2
    fsync: interval
    fsync_interval: 100ms
  - name: api
    shards: 2
    fsync: interval
    fsync_interval: 100ms
sources:
  - name: app
    paths: ["./log/*.log"]
    stream: logs
    initial_position: start_of_file
    partition_key: file
    rescan_interval: 200ms
    checkpoint_interval: 100ms
deliveries:
  - name: archive
    stream: logs
    buffer: {{size: 1MiB, interval: 0s}}
    record_delimiter: "\\n"
    compression: none
    retry_duration: 60s
    sink:
      type: file
      path: ./out
"""

LINE = b"line of the power loss test seq=%08d padding padding padding\n"
LINE_LEN = len(LINE % 0)
SEQ = re.compile(rb"seq=(\d+)")
PORT = re.compile(r'msg="kinesis api listening".* port=(\d+)')


class Env:
    def __init__(self, sluice, shim, workers):
        self.top = tempfile.mkdtemp(prefix="sluice-power-")
        self.dir = os.path.join(self.top, "work")
        self.journal = os.path.join(self.top, "journal")
        os.makedirs(os.path.join(self.dir, "log"))
        os.makedirs(self.journal)
        self.shim = shim
        plugins = os.path.join(os.path.dirname(sluice), "plugins")
        with open(os.path.join(self.dir, "sluice.yaml"), "w") as f:
            f.write(CONFIG.format(plugins=plugins, workers=workers))
        self.daemon = Daemon(sluice, self.dir)
        self.cuts = []  # what each cut undid

    def start(self, shim=True):
        power_cut.reset(self.journal)
        env = dict(os.environ)
        if shim:
            env.update(LD_PRELOAD=self.shim, POWER_CUT_JOURNAL=self.journal,
                       POWER_CUT_ROOT=self.dir)
            # An ASan build: the shim is loaded ahead of the sanitizer's runtime on purpose.
            env["ASAN_OPTIONS"] = ":".join(
                filter(None, [env.get("ASAN_OPTIONS"), "verify_asan_link_order=0"]))
        self.daemon.env = env
        before = os.path.getsize(os.path.join(self.dir, "daemon.log"))
        self.daemon.start()
        deadline = time.time() + 10
        while time.time() < deadline:
            with open(os.path.join(self.dir, "daemon.log"), "rb") as f:
                f.seek(before)
                m = PORT.search(f.read().decode("utf-8", "replace"))
            if m:
                self.endpoint = "http://127.0.0.1:%s" % m.group(1)
                return
            time.sleep(0.05)
        raise AssertionError("no kinesis api port in the daemon's log")

    def power_cut(self):
        self.daemon.kill9()
        self.cuts.append(power_cut.cut(self.journal, os.path.realpath(self.dir)))

    def cleanup(self):
        shutil.rmtree(self.top, ignore_errors=True)


def client(endpoint):
    import boto3
    from botocore.config import Config
    return boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="power", aws_secret_access_key="cut",
                        config=Config(retries={"max_attempts": 1}, connect_timeout=2,
                                      read_timeout=10))


def read_stream(endpoint, stream):
    """Every record's data in the stream now, all shards from TRIM_HORIZON."""
    c = client(endpoint)
    out = []
    for shard in c.list_shards(StreamName=stream)["Shards"]:
        it = c.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            r = c.get_records(ShardIterator=it, Limit=10000)
            out.extend(rec["Data"] for rec in r["Records"])
            if not r["Records"] and r.get("MillisBehindLatest", 0) == 0:
                break
            it = r.get("NextShardIterator")
    return out


def seqs_of(datas):
    seen = {}
    for d in datas:
        for m in SEQ.finditer(d):
            n = int(m.group(1))
            seen[n] = seen.get(n, 0) + 1
    return seen


def checkpoint_offset(workdir):
    path = os.path.join(workdir, "data", "agent", "app", "app.json")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        files = json.load(f)["files"]
    return max([e["offset"] for e in files if e.get("path", "").endswith("app.log")] or [0])


class Writer(threading.Thread):
    """Appends numbered fixed-length lines to log/app.log at `rate` lines/s."""

    def __init__(self, path, rate):
        super().__init__(daemon=True)
        self.path, self.rate, self.n, self.stop = path, rate, 0, threading.Event()

    def run(self):
        with open(self.path, "ab", buffering=0) as f:
            start = time.time()
            while not self.stop.is_set():
                due = int((time.time() - start) * self.rate)
                if due > self.n:
                    f.write(b"".join(LINE % i for i in range(self.n, due)))
                    self.n = due
                time.sleep(0.01)


def scenario_tailer(env, cuts, rng):
    writer = Writer(os.path.join(env.dir, "log", "app.log"), 2000)
    writer.start()
    env.start()
    offsets = []  # the agent's checkpoint as each cut left it
    try:
        for i in range(cuts):
            time.sleep(rng.uniform(1.0, 3.0))
            env.power_cut()
            offset = checkpoint_offset(env.dir)
            offsets.append(offset)
            env.start(shim=i + 1 < cuts)
            held = seqs_of(read_stream(env.endpoint, "logs"))
            below = offset // LINE_LEN
            missing = [n for n in range(below) if n not in held]
            if missing:
                raise AssertionError(
                    "cut %d: %d lines below the checkpoint (offset %d) not in the stream "
                    "(first: %s); cut undid %s" % (i + 1, len(missing), offset, missing[:5],
                                                  env.cuts[-1]))
        time.sleep(0.5)
    finally:
        writer.stop.set()
        writer.join()
    total = writer.n
    deadline = time.time() + 30
    while True:
        held = seqs_of(read_stream(env.endpoint, "logs"))
        missing = [n for n in range(total) if n not in held]
        if not missing or time.time() > deadline:
            break
        time.sleep(0.3)
    if missing:
        raise AssertionError("%d of %d lines never reached the stream (first: %s)" %
                             (len(missing), total, missing[:5]))
    deadline = time.time() + 30
    while True:
        out = delivered(env.dir)
        lost = [n for n in range(total) if n not in out]
        if not lost or time.time() > deadline:
            break
        time.sleep(0.3)
    if lost:
        raise AssertionError("%d of %d lines not delivered (first: %s)" %
                             (len(lost), total, lost[:5]))
    env.daemon.stop()
    dupes = sum(c - 1 for c in held.values() if c > 1)
    return "%d lines, %d cuts (checkpoints at %s), %d duplicated in the stream; undone: %s" % (
        total, cuts, offsets, dupes, env.cuts)


class Putter(threading.Thread):
    """Puts batches of 20 numbered records; keeps the numbers whose answer was a success."""

    def __init__(self, endpoint, first, acked):
        super().__init__(daemon=True)
        self.endpoint, self.next, self.acked = endpoint, first, acked
        self.stop = threading.Event()

    def run(self):
        c = client(self.endpoint)
        while not self.stop.is_set():
            nums = list(range(self.next, self.next + 20))
            self.next += 20
            recs = [{"Data": b"api record seq=%d " % n + b"x" * 60, "PartitionKey": "k%d" % n}
                    for n in nums]
            try:
                r = c.put_records(StreamName="api", Records=recs)
            except Exception:
                time.sleep(0.05)  # the daemon is down: this batch's fate is unknown
                continue
            for n, out in zip(nums, r["Records"]):
                if "SequenceNumber" in out:
                    self.acked.add(n)


def scenario_api(env, cuts, rng):
    acked = set()
    env.start()
    for i in range(cuts + 1):
        putters = [Putter(env.endpoint, (i * 2 + k) * 10_000_000, acked) for k in range(2)]
        for p in putters:
            p.start()
        if i == cuts:
            time.sleep(1.0)
            for p in putters:
                p.stop.set()
                p.join()
            break
        time.sleep(rng.uniform(1.0, 3.0))
        env.power_cut()
        for p in putters:
            p.stop.set()
            p.join()
        env.start(shim=i + 1 < cuts)
        held = seqs_of(read_stream(env.endpoint, "api"))
        lost = sorted(n for n in acked if n not in held)
        if lost:
            raise AssertionError("cut %d: %d of %d acknowledged records lost (first: %s); cut "
                                 "undid %s" % (i + 1, len(lost), len(acked), lost[:5],
                                               env.cuts[-1]))
    held = seqs_of(read_stream(env.endpoint, "api"))
    lost = [n for n in acked if n not in held]
    if lost:
        raise AssertionError("%d acknowledged records missing at the end" % len(lost))
    env.daemon.stop()
    return "%d records acknowledged, %d cuts, none lost; undone: %s" % (len(acked), cuts,
                                                                         env.cuts)


# name: (scenario, broker.api.workers)
SCENARIOS = {"tailer": (scenario_tailer, 0), "api": (scenario_api, 0),
             "api_workers": (scenario_api, 2)}


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sluice")
    p.add_argument("shim")
    p.add_argument("scenarios", nargs="*")
    p.add_argument("--cuts", type=int, default=3)
    p.add_argument("--seed", type=int, default=int(os.environ.get("SLUICE_TORTURE_SEED",
                                                                 str(int(time.time())))))
    args = p.parse_intermixed_args()
    try:
        import boto3  # noqa: F401
    except ImportError:
        print("SKIP: boto3 is not installed")
        return 77
    sluice = os.path.abspath(args.sluice)
    shim = os.path.abspath(args.shim)
    passed = failed = 0
    print("seed %d" % args.seed)
    for name in args.scenarios or list(SCENARIOS):
        fn, workers = SCENARIOS[name]
        env = Env(sluice, shim, workers)
        rng = random.Random("%d-%s" % (args.seed, name))
        start = time.time()
        try:
            stats = fn(env, args.cuts, rng)
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
                                                                 args.seed, e, env.top))
            with open(os.path.join(env.dir, "daemon.log"), "rb") as f:
                sys.stdout.write(f.read()[-3000:].decode("utf-8", "replace"))
        sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
