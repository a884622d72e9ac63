#!/usr/bin/env python3
"""The admin endpoint of a running daemon: /metrics names and values, /health per sink, /status,
and the status page at / rendered by headless Chromium (DOM and screenshot).

Usage: admin_test.py SLUICE_BIN [test ...]"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from harness import Daemon, run_tests, wait_until  # noqa: E402

CONFIG = """\
data_dir: ./data
plugin_dirs: [@PLUGINS@]
admin: {listen: "127.0.0.1:0"}
streams:
  - name: weblogs
    shards: 2
    fsync: interval
    fsync_interval: 50ms
sources:
  - name: app
    paths: ["./log/*.log"]
    stream: weblogs
    initial_position: start_of_file
    partition_key: random
    rescan_interval: 200ms
    checkpoint_interval: 100ms
deliveries:
  - name: archive
    stream: weblogs
    buffer: {size: 1MiB, interval: 0s}
    record_delimiter: "\\n"
    compression: none
    sink: {type: file, path: ./out}
"""
LINES = 1234


def started(sluice):
    d = Daemon(sluice, CONFIG)
    os.makedirs(d.path("log"))
    with open(d.path("log", "access.log"), "w") as f:
        for n in range(LINES):
            f.write("GET /index.html seq=%d\n" % n)
    d.start()
    wait_until(lambda: d.metrics().get(
        ("sluice_delivery_records_total", '{delivery_stream="archive"}')) == LINES,
        what="%d records delivered" % LINES)
    return d


def test_metrics_and_health(sluice):
    d = started(sluice)
    try:
        m = d.metrics()
        incoming = [v for (n, l), v in m.items()
                    if n == "sluice_stream_incoming_records_total" and 'stream="weblogs"' in l]
        assert len(incoming) == 2 and sum(incoming) == LINES, incoming
        assert m[("sluice_stream_open_shards", '{stream="weblogs"}')] == 2
        ages = [l for (n, l) in m if n == "sluice_stream_iterator_age_milliseconds"]
        assert len(ages) == 2 and all('consumer="archive"' in l for l in ages), ages
        behind = [v for (n, l), v in m.items() if n == "sluice_stream_records_behind"]
        assert behind == [0, 0], behind
        dl = '{delivery_stream="archive"}'
        assert m[("sluice_delivery_incoming_records_total", dl)] == LINES
        assert m[("sluice_delivery_success", dl)] == 1
        assert ("sluice_delivery_data_freshness_seconds", dl) in m
        assert m[("sluice_delivery_sink_healthy", dl)] == 1
        def files_caught_up():
            f = [(l, v) for (n, l), v in d.metrics().items()
                 if n == "sluice_agent_file_bytes_behind"]
            return f if f and f[0][1] == 0 else None
        files = wait_until(files_caught_up, what="the file checkpoint at its end")
        assert len(files) == 1 and "access.log" in files[0][0] and files[0][1] == 0, files
        assert m[("sluice_agent_files_tracked", '{source="app"}')] == 1

        status, health = d.get_json("/health")
        assert status == 200 and health["status"] == "ok", health
        sink = health["components"]["delivery/archive"]
        assert sink["status"] == "ok" and sink["sink"] == "file", sink
        assert health["components"]["source/app"]["status"] == "ok"

        _, st = d.get_json("/status")
        assert [s["name"] for s in st["streams"]] == ["weblogs"]
        assert st["streams"][0]["consumers"][0]["name"] == "archive"
        assert st["deliveries"][0]["records_delivered"] == LINES
        assert st["sources"][0]["files"][0]["path"].endswith("access.log")
        d.stop()
    finally:
        d.cleanup()


def png_pixels(path):
    """(width, height, rows of RGB(A) bytes) of an 8-bit PNG, unfiltered."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and color in (2, 6), (depth, color)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def chromium(args, profile):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "chromium is not installed (packaging/setup.sh installs it)"
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", "--user-data-dir=" + profile] + args
    return subprocess.run(cmd, capture_output=True, timeout=60)


def test_status_page(sluice):
    d = started(sluice)
    profile = tempfile.mkdtemp(prefix="sluice-chromium-")
    try:
        status, page = d.request("GET", "/")
        assert status == 200 and b"<html" in page, status
        for external in (b"src=\"http", b"href=\"http", b"@import", b"//cdn"):
            assert external not in page, "the page refers to an external asset: %r" % external
        url = "http://%s/" % d.admin
        dom = chromium(["--virtual-time-budget=3000", "--dump-dom", url], profile)
        text = dom.stdout.decode("utf-8", "replace")
        for expected in ("weblogs", "shardId-000000000000", "shardId-000000000001", "archive",
                         "access.log", "{:,}".format(LINES), "generation 1"):
            assert expected in text, "%r not in the rendered page:\n%s" % (expected, text[-3000:])
        shot = os.path.join(d.dir, "status.png")
        r = chromium(["--virtual-time-budget=3000", "--window-size=1024,600",
                      "--hide-scrollbars", "--screenshot=" + shot, url], profile)
        assert os.path.exists(shot), r.stderr.decode()[-2000:]
        width, height, bpp, rows = png_pixels(shot)
        assert (width, height) == (1024, 600), (width, height)
        colors, header = set(), 0
        for y in range(0, height, 2):
            row = rows[y]
            for x in range(0, width * bpp, bpp * 2):
                px = row[x:x + 3]
                colors.add(px)
                if px == b"\x14\x31\x4f":
                    header += 1
        # A blank or error page has a handful of colours; the rendered page has the header bar
        # and anti-aliased text in tables.
        assert header > 2000, "header bar not rendered (%d px)" % header
        assert len(colors) > 30, "too few colours (%d): blank page?" % len(colors)
        d.stop()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
        d.cleanup()


if __name__ == "__main__":
    run_tests({"metrics_and_health": test_metrics_and_health, "status_page": test_status_page})
