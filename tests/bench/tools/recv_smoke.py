#!/usr/bin/env python3
"""Smoke test of sluice-bench-recv: a few requests of every kind, checked against GET /__count.

  recv_smoke.py PATH/sluice-bench-recv

Exits 1 on a mismatch.
"""
import gzip
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time


class Receiver:
    def __init__(self, binary, mode, work):
        self.port_file = os.path.join(work, mode + ".port")
        self.proc = subprocess.Popen([binary, "--port-file", self.port_file, "--mode", mode],
                                     stdout=subprocess.PIPE)
        deadline = time.time() + 10
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit("the receiver did not start")
            time.sleep(0.01)
        with open(self.port_file) as f:
            self.port = int(f.read())

    def post(self, body, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        c.request("POST", "/", body=body, headers=headers or {})
        r = c.getresponse()
        answer = r.read()
        c.close()
        return r.status, r.getheader("Content-Type"), answer

    def count(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        c.request("GET", "/__count")
        doc = json.loads(c.getresponse().read())
        c.close()
        return doc

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=10)
        return self.proc.returncode, json.loads(out)


def raw(port, data):
    """Sends bytes as they are; returns all the receiver answers before it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def main():
    binary = sys.argv[1]
    failures = []

    def check(what, got, want):
        if got != want:
            failures.append("%s: got %r, want %r" % (what, got, want))

    with tempfile.TemporaryDirectory() as work:
        r = Receiver(binary, "ndjson", work)
        try:
            lines = b"".join(b'{"seq":%d,"msg":"hello"}\n' % i for i in range(1000))
            check("plain status", r.post(lines)[0], 200)
            # Two gzip members, as a sink that compresses in pieces may send.
            z = gzip.compress(lines[:10000]) + gzip.compress(lines[10000:])
            check("gzip status", r.post(z, {"Content-Encoding": "gzip"})[0], 200)
            # The last member's ISIZE undersizes the first one: the inflate buffer has to grow.
            big = lines * 40
            z = gzip.compress(big) + gzip.compress(b"x\n")
            check("gzip grown status", r.post(z, {"Content-Encoding": "gzip"})[0], 200)
            # Chunked, in pieces that split lines, with a keep-alive request pipelined after it.
            chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p)
                               for p in (b"a\nb", b"b\n", b"c\nd\n")) + b"0\r\n\r\n"
            answer = raw(r.port, b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                         b"\r\n" + chunked +
                         b"PUT /y HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                         b"Connection: close\r\n\r\ne\n")
            check("chunked + pipelined answers", answer.count(b"HTTP/1.1 200 OK"), 2)
            answer = raw(r.port, b"NOT HTTP AT ALL\r\n\r\n")
            check("malformed answer", answer.split(b"\r\n")[0], b"HTTP/1.1 400 Bad Request")
            answer = raw(r.port, b"POST / HTTP/1.1\r\nContent-Length: 300000000\r\n\r\n")
            check("oversized answer", answer.split(b"\r\n")[0],
                  b"HTTP/1.1 413 Payload Too Large")
            answer = raw(r.port, b"POST / HTTP/1.1\r\nContent-Length: 4\r\n"
                         b"Content-Encoding: gzip\r\nConnection: close\r\n\r\nnope")
            check("bad gzip answer", answer.split(b"\r\n")[0], b"HTTP/1.1 400 Bad Request")
            z = gzip.compress(lines)[:-6]
            answer = raw(r.port, b"POST / HTTP/1.1\r\nContent-Length: %d\r\n"
                         b"Content-Encoding: gzip\r\nConnection: close\r\n\r\n%s" % (len(z), z))
            check("truncated gzip answer", answer.split(b"\r\n")[0],
                  b"HTTP/1.1 400 Bad Request")
            want = {"records": 2000 + 40000 + 1 + 5,
                    "bytes": 2 * len(lines) + len(big) + 2 + 9 + 2, "requests": 5}
            check("ndjson counts", r.count(), want)
        finally:
            rc, final = r.stop()
        check("exit status", rc, 0)
        check("counts printed on SIGTERM", final, want)

        r = Receiver(binary, "firehose", work)
        try:
            body = json.dumps({"requestId": "req-1", "timestamp": 1,
                               "records": [{"data": "YQ=="}, {"data": "Yg=="},
                                           {"data": "Yw=="}]}).replace(" ", "").encode()
            status, ctype, answer = r.post(body)
            check("firehose status", status, 200)
            check("firehose content type", ctype, "application/json")
            doc = json.loads(answer)
            check("firehose requestId", doc.get("requestId"), "req-1")
            check("firehose timestamp", isinstance(doc.get("timestamp"), int), True)
            status, _, answer = r.post(gzip.compress(body.replace(b'"requestId":"req-1",', b"")),
                                       {"Content-Encoding": "gzip",
                                        "X-Amz-Firehose-Request-Id": "req-2"})
            check("firehose header requestId", json.loads(answer).get("requestId"), "req-2")
            want = {"records": 6, "bytes": 2 * len(body) - len(b'"requestId":"req-1",'),
                    "requests": 2}
            check("firehose counts", r.count(), want)
        finally:
            rc, final = r.stop()
        check("firehose exit status", rc, 0)

    for f in failures:
        print("FAIL " + f)
    if failures:
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
