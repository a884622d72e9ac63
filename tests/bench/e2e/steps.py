#!/usr/bin/env python3
"""Processing steps side by side: sluice's parsing steps and Fluent Bit's parsers on the same
files, hot page cache.

  steps.py --sluice BUILD/sluice [--fluent-bit PATH] [--steps json,nginx,nginx_regex]
           [--lines 1000000] [--repeat 3] [--workdir DIR] [--keep]

Fluent Bit comes from --fluent-bit or $SLUICE_FLUENT_BIT; without it only sluice's rows run and
the Fluent Bit rows say "skipped: no Fluent Bit".

--steps (each a generated input file of --lines lines, read from its start by both agents):
  json         JSON app lines of ~200 B: sluice `json` step; Fluent Bit `tail` with a `json`
               parser (Format json, no time key: the lines' time is "ts").
  nginx        nginx combined lines of ~190 B: sluice `log_to_json: {format: combined_apache}`
               + `timestamp: {field: datetime, format: common_log}`; Fluent Bit `tail` with the
               `nginx` parser as it ships it (regex, Time_Key time, Time_Format).
  nginx_regex  the same lines: sluice `regex` with Fluent Bit's nginx pattern +
               `timestamp: {field: time, format: common_log}`; Fluent Bit as for nginx.

sluice: tail -> steps -> a stream (2 shards, fsync interval 100 ms) -> blackhole delivery
(5 MiB / 1 s buffer), as tests/bench/e2e/run.py's blackhole row; timed from the start of the
process until the delivery's sluice_delivery_records_total reaches the line count. Fluent Bit
5.x: `tail` (read_from_head, file_cache_advise off, threaded) with the parser -> `null`, timed
from its start until /api/v1/metrics shows the null output's proc_records at the line count.
Both are polled every 20 ms. Reported per row: MB/s and lines/s of input, CPU seconds per GB
(utime + stime from /proc/PID/stat), peak RSS (VmHWM); medians of --repeat runs, the agents'
runs interleaved. The ratio is sluice's over Fluent Bit's.
"""
import argparse
import datetime
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as e2e  # noqa: E402  (the end-to-end bench: daemon, /metrics and /proc helpers)

# Fluent Bit's conf/parsers.conf `nginx` parser, as shipped.
FB_NGINX_REGEX = (r'^(?<remote>[^ ]*) (?<host>[^ ]*) (?<user>[^ ]*) \[(?<time>[^\]]*)\] '
                  r'"(?<method>\S+)(?: +(?<path>[^\"]*?)(?: +\S*)?)?" (?<code>[^ ]*) '
                  r'(?<size>[^ ]*)(?: "(?<referer>[^\"]*)" "(?<agent>[^\"]*)")')

STEPS = {
    "json": {
        "input": "json",
        "sluice": ["json: {}"],
        "fb_parser": "[PARSER]\n    Name json\n    Format json\n",
        "fb_name": "json",
    },
    "nginx": {
        "input": "nginx",
        "sluice": ["log_to_json: {format: combined_apache}",
                   "timestamp: {field: datetime, format: common_log}"],
        "fb_name": "nginx",
    },
    "nginx_regex": {
        "input": "nginx",
        "sluice": ["regex: {pattern: '%s'}" % FB_NGINX_REGEX.replace("'", "''"),
                   "timestamp: {field: time, format: common_log}"],
        "fb_name": "nginx",
    },
}
FB_NGINX_PARSER = ("[PARSER]\n    Name nginx\n    Format regex\n    Regex %s\n"
                   "    Time_Key time\n    Time_Format %%d/%%b/%%Y:%%H:%%M:%%S %%z\n"
                   % FB_NGINX_REGEX)

FB_CONFIG = """\
[SERVICE]
    flush 1
    log_level warn
    parsers_file {parsers}
    http_server on
    http_listen 127.0.0.1
    http_port {port}
[INPUT]
    name tail
    path {path}
    read_from_head true
    file_cache_advise false
    threaded true
    parser {parser}
[OUTPUT]
    name null
    match *
"""

PATHS = ["/", "/index.html", "/api/v1/orders", "/static/app.js", "/login", "/api/v1/users/42",
         "/search?q=logs", "/api/v1/cart/items"]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
          "curl/8.5.0", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15"]


def generate(kind, path, lines):
    """Writes `lines` lines of `kind` (json or nginx); returns the file's size."""
    rng = random.Random(11)
    base = datetime.datetime(2026, 12, 6, 10, 0, 0, tzinfo=datetime.timezone.utc)
    with open(path, "w") as f:
        chunk = []
        for n in range(lines):
            t = base + datetime.timedelta(milliseconds=n * 3)
            ip = "203.0.%d.%d" % (rng.randrange(256), rng.randrange(1, 255))
            if kind == "json":
                chunk.append(json.dumps({
                    "ts": t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000),
                    "level": "debug" if n % 10 == 0 else "info", "service": "checkout",
                    "path": PATHS[n % 8], "client_ip": ip, "status": (200, 201, 404, 500)[n % 4],
                    "ms": round(rng.uniform(0.1, 900), 1), "trace_id": "%016x" % rng.getrandbits(64),
                    "msg": "order %d placed for customer c-%d" % (n, n % 997)},
                    separators=(",", ":")))
            else:
                chunk.append('%s - - [%s] "GET %s HTTP/1.1" %d %d "-" "%s"' % (
                    ip, t.strftime("%d/%b/%Y:%H:%M:%S +0000"), PATHS[n % 8],
                    (200, 200, 304, 404, 500)[n % 5], rng.randrange(100, 50000), AGENTS[n % 3]))
            if len(chunk) == 10000:
                f.write("\n".join(chunk) + "\n")
                chunk = []
        if chunk:
            f.write("\n".join(chunk) + "\n")
    return os.path.getsize(path)


def warm(path):
    with open(path, "rb") as f:
        while f.read(1 << 20):
            pass


def sluice_run(args, step, path, lines, size, workdir):
    os.sync()
    admin = e2e.free_port()
    sources = ("  - name: input\n    paths: [\"%s\"]\n    stream: logs\n"
               "    initial_position: start_of_file\n    partition_key: file\n"
               "    processing:\n%s" % (path, "".join("      - %s\n" % s
                                                       for s in STEPS[step]["sluice"])))
    config = e2e.CONFIG.format(plugins=args.plugins, admin_port=admin, sources=sources,
                               buffer_size="5MiB", buffer_interval="1s", compression="none",
                               delivery_extra="",
                               sink="      type: blackhole\n")
    start = time.time()
    d = e2e.Daemon(args.sluice, workdir, config)
    try:
        done = 0
        while time.time() - start < args.timeout:
            if d.proc.poll() is not None:
                raise RuntimeError("sluice exited with %d:\n%s" % (d.proc.returncode,
                                                                  d.log_tail()))
            done = e2e.metric(admin, "sluice_delivery_records_total") or 0
            if done >= lines:
                break
            time.sleep(0.02)
        elapsed = time.time() - start
        cpu = e2e.proc_cpu_seconds(d.proc.pid)
        hwm = e2e.proc_hwm_kib(d.proc.pid)
        if done < lines:
            raise RuntimeError("sluice: %d of %d records in %.0fs:\n%s" % (done, lines,
                                                                          args.timeout,
                                                                          d.log_tail()))
        failed = e2e.metric(admin, "sluice_agent_step_failed_records_total") or 0
        if failed:
            raise RuntimeError("sluice: %d records a step could not parse" % failed)
    finally:
        d.stop()
    return row(elapsed, cpu, hwm, lines, size)


def fb_records(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/metrics" % port,
                                    timeout=2) as r:
            doc = json.loads(r.read())
    except (OSError, ValueError):
        return None
    return sum(o.get("proc_records", 0) for o in doc.get("output", {}).values())


def fb_run(args, step, path, lines, size, workdir):
    os.sync()
    os.makedirs(workdir, exist_ok=True)
    port = e2e.free_port()
    parsers = os.path.join(workdir, "parsers.conf")
    with open(parsers, "w") as f:
        f.write(STEPS[step].get("fb_parser", FB_NGINX_PARSER))
    conf = os.path.join(workdir, "fluent-bit.conf")
    with open(conf, "w") as f:
        f.write(FB_CONFIG.format(parsers=parsers, port=port, path=path,
                                 parser=STEPS[step]["fb_name"]))
    log = open(os.path.join(workdir, "fluent-bit.log"), "wb")
    start = time.time()
    proc = subprocess.Popen([args.fluent_bit, "-c", conf], stdout=log, stderr=log, cwd=workdir)
    try:
        done = 0
        while time.time() - start < args.timeout:
            if proc.poll() is not None:
                raise RuntimeError("fluent-bit exited with %d" % proc.returncode)
            done = fb_records(port) or 0
            if done >= lines:
                break
            time.sleep(0.02)
        elapsed = time.time() - start
        cpu = e2e.proc_cpu_seconds(proc.pid)
        hwm = e2e.proc_hwm_kib(proc.pid)
        if done < lines:
            raise RuntimeError("fluent-bit: %d of %d records in %.0fs" % (done, lines,
                                                                          args.timeout))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    return row(elapsed, cpu, hwm, lines, size)


def row(elapsed, cpu, hwm, lines, size):
    return {"seconds": elapsed, "mb_s": size / elapsed / 1e6, "lines_s": lines / elapsed,
            "cpu_s_per_gb": cpu / (size / 1e9), "peak_rss_mib": hwm / 1024.0}


def median(rows):
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def show(name, r, as_json):
    if as_json:
        print(json.dumps(dict(r, row=name)))
    elif "skipped" in r:
        print("%-44s skipped: %s" % (name, r["skipped"]))
    else:
        print("%-44s %7.1f MB/s %6.2f M lines/s %6.2f CPU s/GB %5.0f MiB  (%.2fs)" % (
            name, r["mb_s"], r["lines_s"] / 1e6, r["cpu_s_per_gb"], r["peak_rss_mib"],
            r["seconds"]))
    sys.stdout.flush()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sluice", required=True)
    p.add_argument("--plugins", help="plugin directory (default: plugins/ beside sluice)")
    p.add_argument("--fluent-bit", default=os.environ.get("SLUICE_FLUENT_BIT"),
                   help="Fluent Bit binary (default: $SLUICE_FLUENT_BIT)")
    p.add_argument("--steps", default="json,nginx,nginx_regex",
                   help="comma-separated: " + ", ".join(STEPS))
    p.add_argument("--lines", type=int, default=1000000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--workdir", help="parent of the temporary directory (default $TMPDIR)")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--json", action="store_true", help="print rows as JSON lines")
    args = p.parse_args()
    args.sluice = os.path.abspath(args.sluice)
    args.plugins = os.path.abspath(args.plugins or os.path.join(os.path.dirname(args.sluice),
                                                                "plugins"))
    steps = [s for s in args.steps.split(",") if s]
    for s in steps:
        if s not in STEPS:
            p.error("unknown step set %s (%s)" % (s, ", ".join(STEPS)))
    fb = args.fluent_bit if args.fluent_bit and os.access(args.fluent_bit, os.X_OK) else None
    workroot = tempfile.mkdtemp(prefix="sluice-steps-bench-", dir=args.workdir)
    ok = True
    try:
        print("# %s, %s, %d cores, %s" % (
            datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            platform.node(), os.cpu_count(), platform.platform()))
        if fb:
            version = subprocess.run([fb, "--version"], capture_output=True,
                                     text=True).stdout.split("\n")[0]
            print("# %s" % version)
        inputs = {}
        for step in steps:
            kind = STEPS[step]["input"]
            if kind not in inputs:
                path = os.path.join(workroot, "input-%s.log" % kind)
                size = generate(kind, path, args.lines)
                inputs[kind] = (path, size)
                print("# %s input: %d lines, %.1f MB (%.0f B a line)" % (
                    kind, args.lines, size / 1e6, size / args.lines))
        os.sync()
        for step in steps:
            path, size = inputs[STEPS[step]["input"]]
            warm(path)
            ours, theirs = [], []
            for i in range(args.repeat):
                ours.append(sluice_run(args, step, path, args.lines, size,
                                       os.path.join(workroot, "sluice-%s-%d" % (step, i))))
                if fb:
                    theirs.append(fb_run(args, step, path, args.lines, size,
                                         os.path.join(workroot, "fb-%s-%d" % (step, i))))
            s = median(ours)
            show("sluice %s (%s)" % (step, " + ".join(x.split(":")[0]
                                                      for x in STEPS[step]["sluice"])),
                 s, args.json)
            if not fb:
                show("fluent-bit %s" % step, {"skipped": "no Fluent Bit"}, args.json)
                continue
            f = median(theirs)
            show("fluent-bit tail, parser %s -> null" % STEPS[step]["fb_name"], f, args.json)
            print("%-44s %.2fx MB/s, %.2fx CPU per GB, %.2fx peak RSS" % (
                "ratio sluice / fluent-bit", s["mb_s"] / f["mb_s"],
                s["cpu_s_per_gb"] / f["cpu_s_per_gb"], s["peak_rss_mib"] / f["peak_rss_mib"]))
    except RuntimeError as e:
        print("FAIL:", e)
        ok = False
    finally:
        if args.keep:
            print("# kept", workroot)
        else:
            shutil.rmtree(workroot, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
