#!/usr/bin/env python3
"""Hostile input against a running daemon, as a local attacker or a web page would send it: deep
JSON everywhere JSON is parsed, a poison record and a poison log line (each must be spilled or
keyed by fallback, never crash, never loop at restart), deleting what a delivery reads, HTTP/1.1
pipelining without reading, HTTP/2 header floods and zero flow-control windows, request bodies on
many connections, and browser requests (rebound Host, foreign Origin, form-post reload).

Each memory attack checks the daemon's RSS stays within BOUND of what it was before, and that a
second client is served while the attack holds its connections open.

Usage: hostile_test.py SLUICE_BIN [test ...]"""
import json
import os
import re
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from harness import Daemon, run_tests, wait_until  # noqa: E402

# Growth of the daemon's RSS allowed under one attack (docs/operations.md states the bound).
BOUND = 128 << 20
API_PORT = re.compile(r"kinesis api listening.* port=(\d+)")

CONFIG = """\
data_dir: ./data
plugin_dirs: [@PLUGINS@]
admin: {listen: "127.0.0.1:0"}
broker:
  api: {listen: "127.0.0.1:0"}
streams:
  - {name: logs, shards: 1, fsync: interval, fsync_interval: 50ms}
  - {name: scratch, shards: 1}
sources:
  - name: app
    paths: ["./log/*.log"]
    stream: logs
    initial_position: start_of_file
    partition_key: "field:user.id"
    rescan_interval: 200ms
    checkpoint_interval: 100ms
deliveries:
  - name: bylevel
    stream: logs
    buffer: {size: 1MiB, interval: 0s}
    record_delimiter: "\\n"
    partitioning: {keys: {level: .level}}
    errors: {path: ./errors}
    sink: {type: file, path: ./out, prefix: "level=!{partitionKeyFromQuery:level}/"}
"""


class Api:
    """The daemon's Kinesis/Firehose API over plain sockets (HTTP/1.1, one request each)."""

    def __init__(self, port):
        self.port = port

    def raw(self, data, timeout=30):
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(data)
            return read_response(s)

    def call(self, target, body, port=None, path="/", headers=""):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: %s\r\n"
               "Content-Type: application/x-amz-json-1.1\r\n%sContent-Length: %d\r\n"
               "Connection: close\r\n\r\n" % (path, target, headers, len(data))).encode() + data
        with socket.create_connection(("127.0.0.1", port or self.port), timeout=30) as s:
            s.sendall(req)
            return read_response(s)

    def kinesis(self, op, body):
        status, text = self.call("Kinesis_20131202." + op, body)
        return status, json.loads(text) if text else {}


def read_response(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head else 0
    m = re.search(rb"(?i)content-length: *(\d+)", head)
    want = int(m.group(1)) if m else None
    while want is None or len(rest) < want:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, rest.decode("utf-8", "replace")


def rss(d):
    with open("/proc/%d/status" % d.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def alive(d):
    if d.proc.poll() is not None:
        raise AssertionError("daemon died (exit %s):\n%s" % (d.proc.returncode, d.log_text()[-3000:]))


def start(sluice, config=CONFIG):
    d = Daemon(sluice, config)
    os.makedirs(d.path("log"), exist_ok=True)
    d.start()
    m = wait_until(lambda: API_PORT.search(d.log_text()), what="api port")
    return d, Api(int(m.group(1)))


def second_client_served(api):
    status, body = api.kinesis("ListStreams", {})
    if status != 200 or "logs" not in body.get("StreamNames", []):
        raise AssertionError("a second client was not served: %s %s" % (status, body))


def put_lines(api, stream, lines):
    for i in range(0, len(lines), 400):
        recs = [{"Data": __import__("base64").b64encode(l).decode(), "PartitionKey": "k%d" % n}
                for n, l in enumerate(lines[i:i + 400])]
        status, body = api.kinesis("PutRecords", {"StreamName": stream, "Records": recs})
        assert status == 200 and body.get("FailedRecordCount") == 0, body


def delivered_lines(d):
    out = []
    for root, _, files in os.walk(d.path("out")):
        for f in files:
            if f.startswith("."):  # still being written
                continue
            with open(os.path.join(root, f), "rb") as fh:
                out += [l for l in fh.read().split(b"\n") if l]
    return out


def spilled(d, kind):
    out = []
    for root, _, files in os.walk(d.path("errors", kind)):
        for f in files:
            if f.startswith("."):  # still being written
                continue
            with open(os.path.join(root, f), "rb") as fh:
                out += [json.loads(l) for l in fh.read().split(b"\n") if l]
    return out


# --- crashes ---------------------------------------------------------------------------------

def test_deep_json(sluice):
    d, api = start(sluice)
    try:
        deep = b"[" * 300000
        for target in ("Kinesis_20131202.ListStreams", "Firehose_20150804.ListDeliveryStreams"):
            status, body = api.call(target, deep)
            assert status == 400 and "SerializationException" in body, (status, body)
            assert "nested deeper than" in body, body
        status, body = api.call("Kinesis_20131202.ListStreams", deep, port=d.port, path="/api")
        assert status == 400 and "nested deeper than" in body, (status, body)
        # Deep but within the bound is still parsed (and refused as the wrong shape).
        status, body = api.call("Kinesis_20131202.ListStreams", b"[" * 500 + b"]" * 500)
        assert status == 400 and "must be a JSON object" in body, (status, body)
        alive(d)
        second_client_served(api)
        d.stop()
    finally:
        d.cleanup()


def test_poison_record(sluice):
    """One record of a million '[' in a partitioned delivery: spilled as partitioning-failed, the
    records around it delivered, and a restart does not replay it into a crash."""
    d, api = start(sluice)
    try:
        good = [b'{"level":"info","n":%d}' % n for n in range(20)]
        put_lines(api, "logs", good[:10] + [b"[" * 1000000] + good[10:])
        wait_until(lambda: len(delivered_lines(d)) == 20, what="20 records delivered")
        wait_until(lambda: len(spilled(d, "partitioning-failed")) == 1, what="1 record spilled")
        rec = spilled(d, "partitioning-failed")[0]
        assert "nested deeper than" in rec.get("errorMessage", ""), rec
        meta = rec.get("kinesisRecordMetadata", {})
        assert meta.get("shardId") == "shardId-000000000000" and meta.get("sequenceNumber"), rec
        # A spill is said: a warn line naming the delivery and code, and health degraded.
        log = d.log_text()
        assert re.search(r"level=warn msg=\"records sent to the error output\" delivery=bylevel "
                         r"sink=file type=partitioning-failed errorCode=PartitionKey.Invalid",
                         log), log
        status, health = d.get_json("/health")
        assert status == 200 and health["status"] == "degraded", health
        assert health["components"]["delivery/bylevel"]["status"] == "spilling", health
        alive(d)
        d.stop()
        d.start()
        time.sleep(1.5)
        alive(d)
        assert len(delivered_lines(d)) == 20 and len(spilled(d, "partitioning-failed")) == 1
        d.stop()
    finally:
        d.cleanup()


def test_poison_line(sluice):
    """A log line of a million '[' under partition_key field:user.id: keyed by the fallback hash,
    delivered (spilled by the partitioned delivery), and the lines after it too."""
    d, api = start(sluice)
    try:
        with open(d.path("log", "app.log"), "wb") as f:
            f.write(b'{"user":{"id":"a"},"level":"info","n":1}\n')
            f.write(b"[" * 1000000 + b"\n")
            f.write(b'{"user":{"id":"b"},"level":"warn","n":2}\n')
        wait_until(lambda: len(delivered_lines(d)) == 2, what="the 2 good lines delivered")
        wait_until(lambda: len(spilled(d, "partitioning-failed")) == 1, what="the poison spilled")
        fallbacks = d.metrics().get(("sluice_agent_partition_key_fallbacks_total",
                                     '{source="app"}'))
        assert fallbacks == 1, fallbacks
        alive(d)
        d.stop()
        with open(d.path("log", "app.log"), "ab") as f:
            f.write(b'{"user":{"id":"c"},"level":"info","n":3}\n')
        d.start()
        wait_until(lambda: len(delivered_lines(d)) == 3, what="the line after a restart")
        alive(d)
        assert len(spilled(d, "partitioning-failed")) == 1
        d.stop()
    finally:
        d.cleanup()


def test_delete_in_use(sluice):
    d, api = start(sluice)
    try:
        for port, path in ((api.port, "/"), (d.port, "/api")):
            status, body = api.call("Kinesis_20131202.DeleteStream",
                                    {"StreamName": "logs", "EnforceConsumerDeletion": True},
                                    port=port, path=path)
            assert status == 400 and "ResourceInUseException" in body, (status, body)
            assert "delivery bylevel" in body, body
        arn = "arn:aws:kinesis:us-east-1:000000000000:stream/logs"
        status, body = api.kinesis("DeregisterStreamConsumer",
                                   {"StreamARN": arn, "ConsumerName": "bylevel"})
        assert status == 400 and body["__type"] == "ResourceInUseException", body
        # A stream nothing of the configuration uses is deleted as before.
        status, body = api.kinesis("DeleteStream", {"StreamName": "scratch"})
        assert status == 200, body
        put_lines(api, "logs", [b'{"level":"info"}'])
        wait_until(lambda: len(delivered_lines(d)) == 1, what="delivery still running")
        alive(d)
        d.stop()
    finally:
        d.cleanup()


# --- memory ----------------------------------------------------------------------------------

class Held:
    """Sockets an attack keeps open (unread) until the checks are done."""

    def __init__(self):
        self.socks = []

    def close(self):
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


def measure(d, api, attack):
    base = rss(d)
    held = Held()
    try:
        attack(held)
        time.sleep(1.0)
        alive(d)
        grown = rss(d) - base
        second_client_served(api)
        print("  rss %.1f MiB -> +%.1f MiB" % (base / 2**20, grown / 2**20))
        assert grown < BOUND, "RSS grew by %.1f MiB (bound %d MiB)" % (grown / 2**20, BOUND >> 20)
    finally:
        held.close()
    time.sleep(0.5)
    alive(d)
    second_client_served(api)


def seeded(sluice):
    d, api = start(sluice)
    # ~5 MiB in the stream, so that each GetRecords answer is large.
    put_lines(api, "scratch", [b"x" * 10000] * 500)
    status, body = api.kinesis("GetShardIterator", {
        "StreamName": "scratch", "ShardId": "shardId-000000000000",
        "ShardIteratorType": "TRIM_HORIZON"})
    assert status == 200, body
    return d, api, body["ShardIterator"]


def test_http1_pipelining(sluice):
    d, api, it = seeded(sluice)
    try:
        def attack(held):
            s = socket.create_connection(("127.0.0.1", api.port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            held.socks.append(s)
            s.settimeout(0.5)
            body = json.dumps({"ShardIterator": it, "Limit": 10000}).encode()
            req = ("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: "
                   "Kinesis_20131202.GetRecords\r\nContent-Length: %d\r\n\r\n" % len(body)
                   ).encode() + body
            sent = 0
            try:
                for _ in range(60):
                    s.sendall(req)
                    sent += 1
                small = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 50000
                s.sendall(small)
            except (socket.timeout, OSError):
                pass  # the server stopped reading: what it should do
            print("  sent %d GetRecords before the server stopped reading" % sent)
        measure(d, api, attack)
        d.stop()
    finally:
        d.cleanup()


# HTTP/2 frames and HPACK, as little as the attacks need.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


def settings(**kv):
    ids = {"header_table_size": 1, "initial_window_size": 4, "max_frame_size": 5}
    return frame(4, 0, 0, b"".join(struct.pack(">HI", ids[k], v) for k, v in kv.items()))


def hpack_int(value, prefix_bits, first):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 127) | 128)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(name, value, indexed=False):
    """A literal header with a new name (incrementally indexed when `indexed`)."""
    return (b"\x40" if indexed else b"\x00") + hpack_int(len(name), 7, 0) + name + \
        hpack_int(len(value), 7, 0) + value


def request_headers(method_post=True):
    # :method POST/GET, :scheme http, :path /, :authority 127.0.0.1 (static table indexes).
    return (b"\x83" if method_post else b"\x82") + b"\x86\x84" + \
        b"\x01" + hpack_int(9, 7, 0) + b"127.0.0.1"


def test_http2_header_flood(sluice):
    d, api = start(sluice)
    try:
        def attack(held):
            for _ in range(3):
                s = socket.create_connection(("127.0.0.1", api.port))
                held.socks.append(s)
                s.sendall(PREFACE + settings())
                for stream in range(1, 16, 2):
                    block = request_headers(False) + literal(b"x-a", b"v" * 4000, indexed=True)
                    block += b"\xbe" * (16384 - len(block))  # each: the 4 KB entry again
                    s.sendall(frame(1, 0x5, stream, block))
        measure(d, api, attack)
        d.stop()
    finally:
        d.cleanup()


def test_http2_zero_window(sluice):
    d, api, it = seeded(sluice)
    try:
        def attack(held):
            s = socket.create_connection(("127.0.0.1", api.port))
            held.socks.append(s)
            s.sendall(PREFACE + settings(initial_window_size=0))
            body = json.dumps({"ShardIterator": it, "Limit": 10000}).encode()
            hdr = request_headers() + literal(b"x-amz-target", b"Kinesis_20131202.GetRecords") + \
                literal(b"content-length", str(len(body)).encode())
            out = b""
            for n in range(40):
                stream = 1 + 2 * n
                out += frame(1, 0x4, stream, hdr) + frame(0, 0x1, stream, body)
            s.sendall(out)
            for _ in range(20):
                s.sendall(frame(6, 0, 0, b"12345678"))  # PING
        measure(d, api, attack)
        d.stop()
    finally:
        d.cleanup()


def test_request_bodies(sluice):
    """Twenty connections each sending most of a 15 MiB body: the server-wide budget answers the
    ones past it with 503 and holds the rest."""
    d, api = start(sluice)
    try:
        statuses = []

        def attack(held):
            size = 15 << 20
            chunk = b"a" * (1 << 20)
            lock = threading.Lock()

            def one():
                s = socket.create_connection(("127.0.0.1", api.port))
                with lock:
                    held.socks.append(s)
                try:
                    s.sendall(("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: "
                               "Kinesis_20131202.PutRecord\r\nContent-Length: %d\r\n\r\n" %
                               size).encode())
                    s.settimeout(0.5)
                    try:
                        data = s.recv(100)  # refused bodies are answered at their headers
                        with lock:
                            statuses.append(int(data.split(b" ")[1]) if data else 0)
                        return
                    except socket.timeout:
                        pass
                    for _ in range(14):
                        s.sendall(chunk)
                    with lock:
                        statuses.append("held")
                except OSError:
                    pass
            threads = [threading.Thread(target=one) for _ in range(20)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        measure(d, api, attack)
        # 64 MiB of budget holds four 15 MiB bodies; the others are refused.
        assert statuses.count(503) >= 15 and statuses.count("held") >= 3, statuses
        d.stop()
    finally:
        d.cleanup()


# --- browsers and protocol details -------------------------------------------------------------

def test_browser_requests(sluice):
    d, api = start(sluice)
    try:
        def admin(raw):
            with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
                s.sendall(raw)
                return read_response(s)
        st, body = admin(b"GET /status HTTP/1.1\r\nHost: rebound.example:%d\r\n\r\n" % d.port)
        assert st == 403 and "not a loopback name" in body, (st, body)
        st, body = admin(b"GET /status HTTP/1.1\r\nHost: localhost:%d\r\nConnection: close\r\n\r\n"
                         % d.port)
        assert st == 200, (st, body)
        st, body = admin(b"POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                         b"application/x-www-form-urlencoded\r\nContent-Length: 0\r\n\r\n")
        assert st == 403 and "X-Sluice-Admin" in body, (st, body)
        st, body = admin(b"POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://evil.example"
                         b"\r\nX-Sluice-Admin: 1\r\nContent-Length: 0\r\n\r\n")
        assert st == 403 and "not a loopback origin" in body, (st, body)
        status, body = api.call("Kinesis_20131202.ListStreams", b"{}",
                                headers="Origin: http://evil.example\r\n")
        assert status == 403 and "AccessDeniedException" in body, (status, body)
        status, body = api.call("Kinesis_20131202.ListStreams", b"{}",
                                headers="Origin: http://127.0.0.1:8080\r\n")
        assert status == 200, (status, body)
        st, body = api.raw(b"GET / HTTP/1.1\r\n\r\n")
        assert st == 400 and "Host" in body, (st, body)
        st, body = api.raw(b"GET /" + b"a" * 90000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert st == 414, (st, body)
        st, body = admin(b"POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Sluice-Admin: 1\r\n"
                         b"Content-Length: 0\r\nConnection: close\r\n\r\n")
        assert st == 200, (st, body)
        alive(d)
        d.stop()
    finally:
        d.cleanup()


if __name__ == "__main__":
    run_tests({
        "deep_json": test_deep_json,
        "poison_record": test_poison_record,
        "poison_line": test_poison_line,
        "delete_in_use": test_delete_in_use,
        "http1_pipelining": test_http1_pipelining,
        "http2_header_flood": test_http2_header_flood,
        "http2_zero_window": test_http2_zero_window,
        "request_bodies": test_request_bodies,
        "browser_requests": test_browser_requests,
    })
