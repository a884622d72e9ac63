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
import resource
import selectors
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, run_tests, wait_until  # noqa: E402
import h2_wire  # noqa: E402
from h2_wire import PREFACE, frame, literal, request_headers, settings  # noqa: E402

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


# --- hostile clients: connections held, slow requests, huge bodies, malformed HTTP/2 ----------
# Both listeners (the Kinesis/Firehose API and the admin endpoint), with short timeouts so that
# the cases stay quick. The API's body limit is 1 MiB here; the admin endpoint's is 8 MiB.

IDLE_S, REQUEST_S = 3.0, 2.0

LIMITS = """\
data_dir: ./data
plugin_dirs: [@PLUGINS@]
admin: {listen: "127.0.0.1:0", max_connections: @MAX@, idle_timeout: @IDLE@, request_timeout: @REQ@}
broker:
  api: {listen: "127.0.0.1:0", max_connections: @MAX@, idle_timeout: @IDLE@,
        request_timeout: @REQ@, max_body_size: 1MiB}
streams:
  - {name: logs, shards: 1}
"""


def limits_config(max_connections=2048, idle=IDLE_S, request=REQUEST_S):
    return LIMITS.replace("@MAX@", str(max_connections)).replace(
        "@IDLE@", "%dms" % (idle * 1000)).replace("@REQ@", "%dms" % (request * 1000))


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def status_field(d, name):
    with open("/proc/%d/status" % d.proc.pid) as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no " + name)


def cpu_seconds(d):
    with open("/proc/%d/stat" % d.proc.pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def listeners(d, api):
    return (("api", api.port), ("admin", d.port))


def http1(port, head, body=b"", timeout=10):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head + body)
        return read_response(s)


def served(d, api):
    """A normal client is answered on both listeners."""
    second_client_served(api)
    st, body = http1(d.port,
                     b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    if st != 200:
        raise AssertionError("the admin endpoint did not serve a normal client: %s %s" % (st, body))


def closed_by_server(socks):
    """The sockets the server has closed (EOF or reset), reading whatever else they hold."""
    out = set()
    for s in socks:
        s.setblocking(False)
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    out.add(s)
                    break
        except BlockingIOError:
            pass
        except OSError:
            out.add(s)
    return out


def wait_closed(socks, timeout):
    """Waits until the server closed every socket; returns the ones still open."""
    left = set(socks)
    deadline = time.time() + timeout
    sel = selectors.DefaultSelector()
    for s in left:
        sel.register(s, selectors.EVENT_READ)
    try:
        while left and time.time() < deadline:
            for key, _ in sel.select(max(0.0, min(0.5, deadline - time.time()))):
                gone = closed_by_server([key.fileobj])
                if gone:
                    sel.unregister(key.fileobj)
                    left -= gone
    finally:
        sel.close()
    return left


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def test_idle_connections(sluice):
    """10,000 idle connections on each listener in turn (half of them HTTP/2 sessions): held
    within max_connections while a second client is served, the connections past it closed at
    once, every one closed at the idle timeout; the daemon's RSS and its peak are printed."""
    n, extra = 10000, 100
    raise_nofile()
    max_conn = n + extra // 2
    idle = 6.0  # longer than opening 10,000 connections takes on a loaded machine
    d, api = start(sluice, limits_config(max_connections=max_conn, idle=idle))
    try:
        for name, port in listeners(d, api):
            base = rss(d)
            socks = []
            t0 = time.time()
            try:
                for i in range(n):
                    s = socket.create_connection(("127.0.0.1", port), timeout=10)
                    if i % 2:
                        s.sendall(PREFACE + settings())
                    socks.append(s)
                opened = time.time() - t0
                time.sleep(0.3)
                alive(d)
                early = closed_by_server(socks)
                assert not early, "%s: %d of %d idle connections closed before the idle timeout" \
                    % (name, len(early), n)
                grown = rss(d) - base
                served(d, api)
                # Past max_connections: closed as soon as accepted.
                more = [socket.create_connection(("127.0.0.1", port), timeout=10)
                        for _ in range(extra)]
                socks += more
                time.sleep(0.3)
                refused = closed_by_server(more)
                assert len(refused) == extra - (max_conn - n), \
                    "%s: %d of %d connections past max_connections %d refused" % (
                        name, len(refused), extra, max_conn)
                print("  %s: %d connections opened in %.1fs; rss %.1f MiB -> +%.1f MiB, "
                      "peak %.1f MiB; %d past max_connections refused" % (
                          name, n, opened, base / 2**20, grown / 2**20,
                          status_field(d, "VmHWM") / 2**20, len(refused)))
                assert grown < BOUND, "%s: RSS grew by %.1f MiB" % (name, grown / 2**20)
                left = wait_closed(socks, t0 + opened + idle + 2.5 - time.time())
                assert not left, "%s: %d idle connections still open %.1fs after the idle " \
                    "timeout" % (name, len(left), time.time() - t0 - opened - idle)
            finally:
                close_all(socks)
            time.sleep(0.3)
            alive(d)
            served(d, api)
        d.stop()
    finally:
        d.cleanup()


def test_emfile(sluice):
    """The daemon runs out of file descriptors (started with a soft limit of 256): connections
    past it are closed, the loop does not spin on the listener, and once they go it serves
    again."""
    hard = raise_nofile()
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        d, api = start(sluice, limits_config())
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    socks = []
    try:
        for name, port in listeners(d, api):
            for _ in range(400):
                try:
                    socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
                except OSError:
                    break
            time.sleep(0.5)
            cpu = cpu_seconds(d)
            for _ in range(50):  # more while out of descriptors
                try:
                    socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
                except OSError:
                    break
            time.sleep(1.0)
            busy = cpu_seconds(d) - cpu
            alive(d)
            refused = closed_by_server(socks)
            print("  %s: %d connections, %d closed at EMFILE, %.2fs CPU in 1s" % (
                name, len(socks), len(refused), busy))
            assert len(refused) >= len(socks) - 256, (len(refused), len(socks))
            assert busy < 0.3, "%s: the daemon used %.2fs of CPU in 1s at EMFILE" % (name, busy)
            close_all(socks)
            socks = []
            time.sleep(0.5)
            alive(d)
            served(d, api)
        d.stop()
    finally:
        close_all(socks)
        d.cleanup()


class Slow(threading.Thread):
    """Sends `data` a piece every `every` seconds until the server closes the connection; then
    `elapsed` is the time from the first byte and `answer` what the server sent."""

    def __init__(self, port, prefix, data, every=1.0, piece=1):
        super().__init__(daemon=True)
        self.port, self.prefix, self.data, self.every, self.piece = port, prefix, data, every, piece
        self.elapsed, self.answer = None, b""

    def run(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        s.settimeout(self.every)
        t0 = time.time()
        try:
            if self.prefix:
                s.sendall(self.prefix)
            i = 0
            while time.time() - t0 < 15:
                if i < len(self.data):
                    s.sendall(self.data[i:i + self.piece])
                    i += self.piece
                try:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    self.answer += chunk
                except socket.timeout:
                    pass
        except OSError:  # reset
            pass
        self.elapsed = time.time() - t0
        s.close()


def test_slowloris(sluice):
    """Requests sent a byte a second (HTTP/1.1 heads and bodies, an HTTP/2 preface and header
    block, empty lines between requests) are cut at the request timeout, an HTTP/1.1 request
    begun with 408; an HTTP/2 connection kept busy with PINGs alone is closed at the idle timeout; a normal
    client is served meanwhile."""
    d, api = start(sluice, limits_config())
    try:
        head = b"POST /api HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Sluice-Admin: 1\r\n" \
            b"Content-Length: 50\r\n"
        cases = []
        for name, port in listeners(d, api):
            for _ in range(3):
                cases.append(("%s head" % name, Slow(port, b"", head + b"\r\n" + b"{" * 50), 408))
            cases.append(("%s body" % name, Slow(port, head + b"\r\n", b"{" * 50), 408))
            cases.append(("%s empty lines" % name, Slow(port, b"", b"\r\n" * 30), None))
            cases.append(("%s h2 preface" % name, Slow(port, b"", PREFACE), None))
            # A HEADERS frame whose 9-byte frame header comes at once, its block a byte a second.
            block = request_headers() + literal(b"x-a", b"v" * 40)
            cases.append(("%s h2 header block" % name,
                          Slow(port, PREFACE + settings() + frame(1, 0x4, 1, block)[:9], block),
                          None))
            pings = b"".join(frame(6, 0, 0, b"%08d" % k) for k in range(30))
            cases.append(("%s h2 pings" % name,
                          Slow(port, PREFACE + settings(), pings, every=0.5, piece=17), "idle"))
        for _, c, _ in cases:
            c.start()
        time.sleep(1.0)
        served(d, api)
        for _, c, _ in cases:
            c.join(20)
        served(d, api)
        for label, c, want in cases:
            limit = IDLE_S if want == "idle" else REQUEST_S
            print("  %s: closed after %.1fs, %r" % (label, c.elapsed, c.answer[:40]))
            assert limit <= c.elapsed <= limit + 1.6, "%s: closed after %.1fs (timeout %.1fs)" % (
                label, c.elapsed, limit)
            if want == 408:
                assert c.answer.startswith(b"HTTP/1.1 408 "), (label, c.answer)
            elif want is None:
                assert c.answer[:4] != b"HTTP", (label, c.answer)
        alive(d)
        d.stop()
    finally:
        d.cleanup()


class Upload(threading.Thread):
    """Streams a chunked body of up to `total` bytes while the main thread reads the answer."""

    def __init__(self, sock, total):
        super().__init__(daemon=True)
        self.sock, self.total, self.sent = sock, total, 0

    def run(self):
        piece = b"a" * (1 << 16)
        chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"
        try:
            while self.sent < self.total:
                self.sock.sendall(chunk)
                self.sent += len(piece)
        except OSError:
            pass


def test_large_bodies(sluice):
    """1 GiB bodies on both listeners (Content-Length, chunked, HTTP/2 with a content-length and
    without one) are refused at the body limit with 413, the connection closed or the stream
    reset, without being held: the daemon's peak RSS stays within 64 MiB of what it was."""
    d, api = start(sluice, limits_config(idle=10.0, request=10.0))  # uploads at full speed
    try:
        peak = status_field(d, "VmHWM")
        gib = 1 << 30
        for name, port in listeners(d, api):
            limit = (1 << 20) if name == "api" else (8 << 20)
            path = b"/" if name == "api" else b"/api"
            head = b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Sluice-Admin: 1\r\nX-Amz-Target: " \
                b"Kinesis_20131202.PutRecord\r\n" % path
            # Content-Length: refused at the head, before any body.
            for expect in (b"", b"Expect: 100-continue\r\n"):
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(head + expect + b"Content-Length: %d\r\n\r\n" % gib)
                    st, body = read_response(s)
                    assert st == 413 and str(gib) in body, (name, st, body)
                    assert s.recv(100) == b"", "%s: connection left open after 413" % name
            # Chunked: refused once the limit is passed.
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
                up = Upload(s, gib)
                up.start()
                st, body = read_response(s)
                try:
                    rest = s.recv(100)
                except OSError:
                    rest = b""
                up.join(10)
                print("  %s chunked: %d after %.1f MiB sent" % (name, st, up.sent / 2**20))
                assert st == 413 and "exceeds the limit" in body, (name, st, body)
                assert rest == b"" and not up.is_alive(), "%s: connection left open" % name
                assert up.sent < limit + (32 << 20), (name, up.sent)
            # HTTP/2: a content-length past the limit is answered at the headers; DATA past it
            # when the stream has none.
            c = h2_wire.Client(port)
            try:
                c.send(frame(1, 0x4, 1, h2_wire.api_request(b"Kinesis_20131202.PutRecord", gib,
                                                             path=path)))
                assert c.until(lambda c: 1 in c.status and 1 in c.rst, 5), (name, c.frames[-5:])
                assert c.status[1] == 413 and c.rst[1] == h2_wire.NO_ERROR, (c.status, c.rst)
                c.send(frame(1, 0x4, 3, h2_wire.api_request(b"Kinesis_20131202.PutRecord",
                                                             path=path)))
                sent = c.send_body(3, gib, timeout=20)
                assert c.until(lambda c: 3 in c.status and 3 in c.rst, 5), (name, c.frames[-5:])
                print("  %s h2: %d and RST_STREAM %d after %.1f MiB of DATA" % (
                    name, c.status[3], c.rst[3], sent / 2**20))
                assert c.status[3] == 413 and c.rst[3] == h2_wire.NO_ERROR, (c.status, c.rst)
                assert limit <= sent < limit + (4 << 20), (name, sent)
                assert c.goaway is None and not c.eof, name  # the connection goes on
                c.send(frame(6, 0, 0, b"12345678"))
                assert c.until(lambda c: any(f[0] == 6 and f[1] & 1 for f in c.frames), 5), name
            finally:
                c.close()
        alive(d)
        served(d, api)
        grown = status_field(d, "VmHWM") - peak
        print("  peak RSS %.1f MiB -> +%.1f MiB" % (peak / 2**20, grown / 2**20))
        assert grown < (64 << 20), "peak RSS grew by %.1f MiB" % (grown / 2**20)
        d.stop()
    finally:
        d.cleanup()


# Malformed HTTP/2, each on its own connection: (name, bytes after the preface and SETTINGS,
# what the server must do: ("goaway", code), ("rst", stream, code) or "ignored").
def malformed_h2():
    hdr = request_headers(False)
    return [
        ("SETTINGS of 5 bytes", frame(4, 0, 0, b"\0" * 5), ("goaway", h2_wire.FRAME_SIZE_ERROR)),
        ("PING of 7 bytes", frame(6, 0, 0, b"\0" * 7), ("goaway", h2_wire.FRAME_SIZE_ERROR)),
        ("frame past max_frame_size", frame(0, 0, 1, b"\0" * 20000),
         ("goaway", h2_wire.FRAME_SIZE_ERROR)),
        ("WINDOW_UPDATE of 3 bytes", frame(8, 0, 0, b"\0" * 3),
         ("goaway", h2_wire.FRAME_SIZE_ERROR)),
        ("DATA on stream 0", frame(0, 0, 0, b"x"), ("goaway", h2_wire.PROTOCOL_ERROR)),
        ("HEADERS on stream 0", frame(1, 0x5, 0, hdr), ("goaway", h2_wire.PROTOCOL_ERROR)),
        ("RST_STREAM on stream 0", frame(3, 0, 0, b"\0" * 4), ("goaway", h2_wire.PROTOCOL_ERROR)),
        ("SETTINGS on a stream", frame(4, 0, 1, b""), ("goaway", h2_wire.PROTOCOL_ERROR)),
        ("PING on a stream", frame(6, 0, 1, b"\0" * 8), ("goaway", h2_wire.PROTOCOL_ERROR)),
        ("even stream id", frame(1, 0x5, 2, hdr), ("goaway", h2_wire.PROTOCOL_ERROR)),
        ("unknown frame type on stream 0", frame(0xfa, 0xff, 0, b"\0" * 100), "ignored"),
        ("invalid HPACK index", frame(1, 0x5, 1, b"\xff\xff\xff\x0f"),
         ("goaway", h2_wire.COMPRESSION_ERROR)),
        ("HPACK string past the block", frame(1, 0x5, 1, b"\x40\x7f\xff\x7f"),
         ("goaway", h2_wire.COMPRESSION_ERROR)),
        ("CONTINUATION without HEADERS", frame(9, 0x4, 1, hdr),
         ("goaway", h2_wire.PROTOCOL_ERROR)),
        ("connection window overflow", h2_wire.window_update(0, 0x7FFFFFFF),
         ("goaway", h2_wire.FLOW_CONTROL_ERROR)),
        ("stream window overflow", frame(1, 0x4, 1, hdr) + h2_wire.window_update(1, 0x7FFFFFFF),
         ("rst", 1, h2_wire.FLOW_CONTROL_ERROR)),
        ("WINDOW_UPDATE of 0", h2_wire.window_update(0, 0), ("goaway", h2_wire.PROTOCOL_ERROR)),
        ("SETTINGS_INITIAL_WINDOW_SIZE past 2^31-1", frame(4, 0, 0, struct.pack(">HI", 4, 1 << 31)),
         ("goaway", h2_wire.FLOW_CONTROL_ERROR)),
        ("SETTINGS_ENABLE_PUSH 2", frame(4, 0, 0, struct.pack(">HI", 2, 2)),
         ("goaway", h2_wire.PROTOCOL_ERROR)),
        ("PUSH_PROMISE from a client", frame(5, 0x4, 1, b"\0\0\0\x02" + hdr),
         ("goaway", h2_wire.PROTOCOL_ERROR)),
        ("DATA on an idle stream", frame(0, 0, 7, b"x"), ("goaway", h2_wire.PROTOCOL_ERROR)),
        ("padding longer than the frame", frame(1, 0x8 | 0x5, 1, b"\xff" + hdr),
         ("goaway", h2_wire.PROTOCOL_ERROR)),
        ("uppercase header name", frame(1, 0x5, 1, hdr + literal(b"X-Up", b"v")),
         ("rst", 1, h2_wire.PROTOCOL_ERROR)),
        ("content-length not matching DATA", frame(1, 0x4, 1, h2_wire.api_request(
            b"Kinesis_20131202.ListStreams", 10)) + frame(0, 0x1, 1, b"{}"),
         ("rst", 1, h2_wire.PROTOCOL_ERROR)),
    ]


def h2_floods():
    hdr = request_headers(False)
    rapid = b"".join(frame(1, 0x5, 2 * k + 1, hdr) + frame(3, 0, 2 * k + 1, b"\0\0\0\x08")
                     for k in range(5000))
    return [
        ("100,000 SETTINGS", frame(4, 0, 0, b"") * 100000),
        ("100,000 PINGs", frame(6, 0, 0, b"\0" * 8) * 100000),
        ("5,000 streams opened and reset", rapid),
        ("100,000 empty CONTINUATIONs", frame(1, 0, 1, hdr[:3]) + frame(9, 0, 1, b"") * 100000),
        ("100,000 PRIORITY frames", b"".join(frame(2, 0, 2 * k + 1, b"\0\0\0\0\x10")
                                            for k in range(100000))),
    ]


def test_http2_malformed(sluice):
    """Malformed HTTP/2 frames on both listeners: each answered with GOAWAY (and the connection
    closed) or a stream reset as RFC 9113 says, unknown frame types ignored; floods of SETTINGS,
    PINGs, resets, CONTINUATIONs and PRIORITY frames sent without reading end with GOAWAY or stay
    within the connection's output bound. No crash; RSS bounded; a second client served."""
    d, api = start(sluice, limits_config())
    try:
        base = rss(d)
        for name, port in listeners(d, api):
            for label, data, want in malformed_h2():
                c = h2_wire.Client(port)
                try:
                    try:
                        c.send(data + frame(6, 0, 0, b"pingpong"))
                    except OSError:
                        pass  # closed before it took everything: what it answered is read below
                    if want == "ignored":
                        ok = c.until(lambda c: any(f[0] == 6 and f[1] & 1 for f in c.frames), 5)
                        assert ok and c.goaway is None, (name, label, c.frames)
                    elif want[0] == "goaway":
                        c.until(lambda c: c.goaway is not None, 5)
                        assert c.goaway == want[1], "%s: %s: GOAWAY %s, want %d" % (
                            name, label, c.goaway, want[1])
                        assert c.closed(5), "%s: %s: not closed after GOAWAY" % (name, label)
                    else:
                        c.until(lambda c: want[1] in c.rst or c.goaway is not None, 5)
                        assert c.rst.get(want[1]) == want[2] and c.goaway is None, \
                            "%s: %s: RST_STREAM %s GOAWAY %s" % (name, label, c.rst, c.goaway)
                finally:
                    c.close()
            for label, data in h2_floods():
                c = h2_wire.Client(port)
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                try:
                    c.sock.settimeout(5)
                    try:
                        c.send(data + frame(6, 0, 0, b"flood-ok"))
                        sent = "all sent"
                    except socket.timeout:
                        sent = "the server stopped reading"
                    except OSError:
                        sent = "the server closed the connection"
                    alive(d)
                    served(d, api)
                    # Then the connection either ends (GOAWAY, close) or still works: the PING
                    # after the flood is answered once the client reads what came before.
                    pong = lambda c: any(f[0] == 6 and f[1] & 1 and f[3] == b"flood-ok"
                                         for f in c.frames)
                    ended = c.until(lambda c: c.goaway is not None or c.eof or pong(c), 20)
                    print("  %s: %s: %s, then %s" % (
                        name, label, sent, "GOAWAY %d" % c.goaway if c.goaway is not None
                        else "closed" if c.eof else "the PING after it answered" if pong(c)
                        else "nothing"))
                    assert ended, "%s: %s: the connection neither ended nor answered" % (
                        name, label)
                finally:
                    c.close()
            alive(d)
        grown = rss(d) - base
        print("  rss +%.1f MiB, peak %.1f MiB" % (grown / 2**20, status_field(d, "VmHWM") / 2**20))
        assert grown < BOUND, "RSS grew by %.1f MiB" % (grown / 2**20)
        served(d, api)
        d.stop()
    finally:
        d.cleanup()


def test_event_stream(sluice):
    """SubscribeToShard over HTTP/2 with garbage bodies is answered 400 on its stream; a
    subscriber that never reads (no window granted, or a window and an unread socket) is closed
    at the idle timeout; RSS bounded."""
    d, api = start(sluice, limits_config())
    try:
        base = rss(d)
        arn = "arn:aws:kinesis:us-east-1:000000000000:stream/logs"
        consumers = []
        for name in ("slow", "slower"):
            status, body = api.kinesis("RegisterStreamConsumer",
                                       {"StreamARN": arn, "ConsumerName": name})
            assert status == 200, body
            consumers.append(body["Consumer"]["ConsumerARN"])
        consumer = consumers[0]
        # ~12 MiB in the shard: more than the socket buffers and the subscription's 8 MiB.
        blob = __import__("base64").b64encode(b"x" * 10000).decode()
        for _ in range(24):
            recs = [{"Data": blob, "PartitionKey": "k"} for _ in range(50)]
            status, body = api.kinesis("PutRecords", {"StreamName": "logs", "Records": recs})
            assert status == 200 and body.get("FailedRecordCount") == 0, body
        good = json.dumps({"ConsumerARN": consumer, "ShardId": "shardId-000000000000",
                           "StartingPosition": {"Type": "TRIM_HORIZON"}}).encode()
        garbage = [
            (b"application/x-amz-json-1.1", b"\x00\xffnot json at all"),
            (b"application/x-amz-json-1.1", b"[]"),
            (b"application/x-amz-json-1.1", b'{"ConsumerARN": 7}'),
            (b"application/x-amz-json-1.1", json.dumps({"ConsumerARN": "a" * 100000}).encode()),
            (b"application/x-amz-json-1.1", good.replace(b"TRIM_HORIZON", b"SIDEWAYS")),
            (b"application/x-amz-json-1.1", good.replace(b"shardId-000000000000", b"shardId-9")),
            (b"application/x-amz-cbor-1.1", b"\xbf\xff\xff\x9f" + b"\x5b" + b"\xff" * 8),
            (b"application/x-amz-cbor-1.1", b"\xa1\x6bConsumerARN\xfb" + b"\x7f" * 8),
        ]
        c = h2_wire.Client(api.port)
        try:
            for k, (ctype, payload) in enumerate(garbage):
                sid = 2 * k + 1
                c.send(frame(1, 0x4, sid, h2_wire.api_request(
                    b"Kinesis_20131202.SubscribeToShard", len(payload), ctype)))
                c.send_body(sid, len(payload))
            ids = [2 * k + 1 for k in range(len(garbage))]
            c.until(lambda c: all(i in c.status for i in ids), 10)
            statuses = [c.status.get(i) for i in ids]
            print("  garbage SubscribeToShard answers: %s" % statuses)
            assert all(s == 400 for s in statuses), statuses
        finally:
            c.close()
        # Subscribers that never read: one grants no window, one a large window but leaves its
        # socket unread.
        held = []
        try:
            for window, arn_of in zip((0, 0x7FFFFFFF), consumers):
                c = h2_wire.Client(api.port, initial_window=window)
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                if window:
                    c.send(h2_wire.window_update(0, 0x7FFFFFFF - 65535))
                sub = good.replace(consumer.encode(), arn_of.encode())
                c.send(frame(1, 0x4, 1, h2_wire.api_request(
                    b"Kinesis_20131202.SubscribeToShard", len(sub))) + frame(0, 0x1, 1, sub))
                held.append(c)
            time.sleep(1.0)
            alive(d)
            served(d, api)
            grown = rss(d) - base
            print("  two subscribers that do not read: rss +%.1f MiB" % (grown / 2**20))
            assert grown < BOUND, "RSS grew by %.1f MiB" % (grown / 2**20)
            # Unread meanwhile: reading would be progress. Then what the kernel still holds is
            # read up to the end of the connection.
            time.sleep(IDLE_S + 2.5)
            for k, c in enumerate(held):
                assert c.closed(3), "subscriber %d still connected" % k
        finally:
            for c in held:
                c.close()
        alive(d)
        served(d, api)
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
        "idle_connections": test_idle_connections,
        "emfile": test_emfile,
        "slowloris": test_slowloris,
        "large_bodies": test_large_bodies,
        "http2_malformed": test_http2_malformed,
        "event_stream": test_event_stream,
    })
