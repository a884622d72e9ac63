#!/usr/bin/env python3
"""The sink conformance suite: every HTTP sink .so (http, opensearch, splunk) is loaded through
its C ABI (sluice_plugin.h) exactly as the host loads it, and must answer the same situations
the same way against its faithful receiver (receivers.py):

  ok       every record accepted: SLUICE_DELIVER_OK, the receiver holds every record
  retry    the service is down (503): RETRY with an error code; a retry later succeeds
  reject   the service refuses the records for good: REJECT, or PARTIAL with REJECT outcomes
  partial  some records fail transiently, some for good: PARTIAL, per-record RETRY / REJECT / OK,
           and sending the RETRY ones again delivers them
  timeout  the service answers after the sink's timeout: RETRY (a timeout code)
  health   healthy against the receiver; unhealthy against a closed port
  docs     every option of the sink's table is documented, as declared, in docs/http_sinks.md

Usage: conformance_test.py PLUGIN_DIR [sink ...]
"""
import ctypes
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import receivers  # noqa: E402

OK, RETRY, REJECT, PARTIAL = 0, 1, 2, 3


class OptDef(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("type", ctypes.c_int),
                ("default_value", ctypes.c_char_p), ("doc", ctypes.c_char_p),
                ("required", ctypes.c_int), ("enum_values", ctypes.c_char_p)]


class Option(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("value", ctypes.c_char_p)]


LOGFN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t)
COUNTFN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint64)


class HostServices(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("abi_minor", ctypes.c_uint32),
                ("host_ctx", ctypes.c_void_p), ("host_log", LOGFN),
                ("host_counter_add", COUNTFN)]


class Record(ctypes.Structure):
    _fields_ = [("data", ctypes.c_char_p), ("len", ctypes.c_size_t),
                ("arrival_ms", ctypes.c_int64), ("record_id", ctypes.c_char_p)]


class Batch(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("attempt", ctypes.c_uint32),
                ("batch_id", ctypes.c_char_p), ("object_key", ctypes.c_char_p),
                ("object_data", ctypes.c_void_p), ("object_len", ctypes.c_size_t),
                ("content_encoding", ctypes.c_char_p), ("records", ctypes.POINTER(Record)),
                ("record_count", ctypes.c_size_t)]


class RecordOutcome(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int32), ("retry_after_ms", ctypes.c_uint32),
                ("reason", ctypes.c_char_p)]


class DeliverResult(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("retry_after_ms", ctypes.c_uint32),
                ("error_code", ctypes.c_char * 64), ("error_message", ctypes.c_char * 512),
                ("outcomes", ctypes.POINTER(RecordOutcome))]


CREATE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(HostServices), ctypes.POINTER(Option),
                          ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p,
                          ctypes.c_size_t)
DELIVER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(Batch),
                           ctypes.POINTER(DeliverResult))
HEALTH = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t)
DESTROY = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class Plugin(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("abi_major", ctypes.c_uint32),
                ("abi_minor", ctypes.c_uint32), ("kind", ctypes.c_uint32),
                ("flags", ctypes.c_uint32), ("name", ctypes.c_char_p),
                ("version", ctypes.c_char_p), ("doc", ctypes.c_char_p),
                ("options", ctypes.POINTER(OptDef)), ("on_create", CREATE),
                ("on_deliver", DELIVER), ("on_healthcheck", HEALTH), ("on_destroy", DESTROY)]


UNITS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "B": 1, "KiB": 1 << 10,
         "MiB": 1 << 20, "GiB": 1 << 30, "KB": 1000, "MB": 1000 ** 2}


def normalise(opt_type, text):
    """The host's normalisation of a default: durations to ms, sizes to bytes."""
    if opt_type in (4, 5):  # SLUICE_OPT_DURATION, SLUICE_OPT_SIZE
        num = text.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        return str(int(float(num) * UNITS[text[len(num):] or ("ms" if opt_type == 4 else "B")]))
    if opt_type == 7:  # SLUICE_OPT_LIST: a scalar becomes a one-item flow list
        return "[" + text + "]"
    return text


class Sink:
    """One plugin instance, driven as the host drives it (options: normalised values)."""

    def __init__(self, path, options):
        self.lib = ctypes.CDLL(path)
        entry = self.lib.sluice_plugin_entry
        entry.restype = ctypes.POINTER(Plugin)
        entry.argtypes = [ctypes.c_uint32, ctypes.c_uint32]
        self.table = entry(1, 0).contents
        assert self.table.kind == 2, "an HTTP sink is a record sink"
        values, i = {}, 0
        while self.table.options[i].name:  # defaults from the table, as the host applies them
            d = self.table.options[i]
            if d.default_value is not None:
                values[d.name.decode()] = normalise(d.type & 0xff, d.default_value.decode())
            i += 1
        values.update(options)
        self.counters = {}
        self.logs = []
        self._log = LOGFN(lambda ctx, lvl, msg, n: self.logs.append(ctypes.string_at(msg, n)))
        self._count = COUNTFN(lambda ctx, name, d: self.counters.__setitem__(
            name.decode(), self.counters.get(name.decode(), 0) + d))
        self.host = HostServices(ctypes.sizeof(HostServices), 0, None, self._log, self._count)
        opts = (Option * len(values))(*[Option(k.encode(), v.encode()) for k, v in values.items()])
        self.inst = ctypes.c_void_p()
        err = ctypes.create_string_buffer(512)
        rc = self.table.on_create(ctypes.byref(self.host), opts, len(values),
                                  ctypes.byref(self.inst), err, 512)
        if rc != 0:
            raise AssertionError("create failed: " + err.value.decode())

    def deliver(self, records, batch_id="batch-1", attempt=1):
        """records: [(record_id, bytes)]; returns (code, result, [outcome per record])."""
        self._keep = [(rid.encode(), data) for rid, data in records]
        recs = (Record * len(records))(*[Record(d, len(d), int(time.time() * 1000), rid)
                                         for rid, d in self._keep])
        b = Batch(ctypes.sizeof(Batch), attempt, batch_id.encode(), None, None, 0, b"", recs,
                  len(records))
        outcomes = (RecordOutcome * len(records))()
        res = DeliverResult(ctypes.sizeof(DeliverResult), 0, b"", b"", outcomes)
        code = self.table.on_deliver(self.inst, ctypes.byref(b), ctypes.byref(res))
        outs = [(o.code, o.retry_after_ms, (o.reason or b"").decode()) for o in outcomes]
        return code, res, outs

    def healthy(self):
        err = ctypes.create_string_buffer(512)
        return self.table.on_healthcheck(self.inst, err, 512) == 0, err.value.decode()

    def close(self):
        self.table.on_destroy(self.inst)


def closed_port_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "http://127.0.0.1:%d" % port


def records(first, count, make=None):
    make = make or (lambda n: {"seq": n, "n": n})
    return [("0-%d" % n, json.dumps(make(n)).encode()) for n in range(first, first + count)]


# ------------------------------------------------------------------------------------------------
# Per-sink adapters: how to build the sink, read what the receiver holds, and make it fail.
# ------------------------------------------------------------------------------------------------
def run_suite(plugin_dir, adapter):
    results = []
    path = os.path.join(plugin_dir, adapter.name + ".so")
    adapter.path = path
    r = adapter.start()
    try:
        # ok
        s = Sink(path, adapter.options(r.url))
        code, res, _ = s.deliver(records(1, 20))
        assert code == OK, (code, res.error_code, res.error_message)
        assert set(range(1, 21)) <= adapter.seqs()
        results.append("ok")
        # retry: the service is down, then back
        adapter.down()
        code, res, _ = s.deliver(records(21, 5), batch_id="batch-2")
        assert code == RETRY and res.error_code, (code, res.error_code)
        code, res, _ = s.deliver(records(21, 5), batch_id="batch-2", attempt=2)
        assert code == OK, (code, res.error_code, res.error_message)
        assert set(range(21, 26)) <= adapter.seqs()
        results.append("retry")
        # reject
        out = adapter.reject(s)
        results.append("reject: " + out)
        # partial
        out = adapter.partial(path, r.url)
        results.append("partial: " + out)
        # timeout
        r.inject_delays(1, 2.5)
        t0 = time.time()
        code, res, _ = s.deliver(records(300, 2), batch_id="batch-t")
        assert code == RETRY, (code, res.error_code)
        assert b"imeout" in res.error_code or b"imeout" in res.error_message, res.error_code
        assert time.time() - t0 < 2.4
        results.append("timeout (%s)" % res.error_code.decode())
        # health
        ok, err = s.healthy()
        assert ok, err
        s.close()
        dead = Sink(path, adapter.options(closed_port_url()))
        ok, err = dead.healthy()
        assert not ok and err
        dead.close()
        results.append("health")
    finally:
        time.sleep(0.1)
        r.close()
    return results


class Http:
    name = "http"

    def start(self):
        self.r = receivers.FirehoseEndpoint(access_key="k1")
        return self.r

    def options(self, url, **extra):
        o = {"url": url + "/ingest", "access_key": "k1", "timeout": "1000"}
        o.update(extra)
        return o

    def seqs(self):
        return {json.loads(d)["seq"] for d in self.r.records}

    def down(self):
        self.r.inject_failures(1, 503, "down")

    def reject(self, s):
        self.r.too_large_marker = b"POISON"
        code, res, _ = s.deliver(records(100, 3, lambda n: {"seq": n, "m": "POISON"}), "b-r")
        self.r.too_large_marker = None
        assert code == REJECT, (code, res.error_code)
        assert res.error_code == b"HttpEndpoint.ResponseCode.413", res.error_code
        return res.error_code.decode()

    def partial(self, path, url):
        # One request per record: the second gets 503, the third 413, the others 200.
        s = Sink(path, self.options(url, max_records="1"))
        self.r.too_large_marker = b"POISON"
        recs = records(200, 4, lambda n: {"seq": n, "m": "POISON" if n == 202 else ""})
        # Requests go in order: the first succeeds, then the injected 503 hits the second.
        orig = self.r.serve
        calls = []

        def serve(*a):
            calls.append(1)
            if len(calls) == 2:
                return self.r._answer(503, a[3].get("x-amz-firehose-request-id"), "busy")
            return orig(*a)
        self.r.serve = serve
        try:
            code, res, outs = s.deliver(recs, "b-p")
        finally:
            self.r.serve = orig
            self.r.too_large_marker = None
        assert code == PARTIAL, code
        assert [o[0] for o in outs] == [OK, RETRY, REJECT, OK], outs
        assert outs[1][1] > 0, "a retried chunk carries Firehose's back-off as retry-after"
        code, _, _ = s.deliver([recs[1]], "b-p", attempt=2)
        assert code == OK
        assert {200, 201, 203} <= self.seqs() and 202 not in self.seqs()
        s.close()
        return "OK/RETRY/REJECT/OK per request"


class OpenSearch:
    name = "opensearch"

    def start(self):
        self.r = receivers.BulkCluster()
        return self.r

    def options(self, url, **extra):
        o = {"endpoint": url, "index": "conf", "timeout": "1000"}
        o.update(extra)
        return o

    def seqs(self):
        return {d["seq"] for _, _, d in self.r.docs()}

    def down(self):
        self.r.inject_failures(1, 503)

    def reject(self, s):
        # "n" is a long in the index by now: text values are mapping errors for every record.
        code, res, outs = s.deliver(records(100, 3, lambda n: {"seq": n, "n": "x%d" % n}), "b-r")
        assert code == PARTIAL and all(o[0] == REJECT for o in outs), (code, outs)
        reason = json.loads(outs[0][2])
        assert reason["esIndexName"] == "conf" and reason["esDocumentId"] == "0-100", reason
        return "mapper_parsing_exception, esDocumentId %s" % reason["esDocumentId"]

    def partial(self, path, url):
        s = Sink(path, self.options(url))
        self.r.inject_item_rejections(1)  # the first item: 429
        recs = records(200, 4, lambda n: {"seq": n, "n": "text" if n == 202 else n})
        code, res, outs = s.deliver(recs, "b-p")
        assert code == PARTIAL, code
        assert [o[0] for o in outs] == [RETRY, OK, REJECT, OK], outs
        code, _, _ = s.deliver([recs[0]], "b-p", attempt=2)
        assert code == OK
        assert {200, 201, 203} <= self.seqs() and 202 not in self.seqs()
        s.close()
        return "429 item retried alone, mapping error rejected"


TOKEN = "11111111-2222-3333-4444-555555555555"


class Splunk:
    name = "splunk"

    def start(self):
        self.r = receivers.HecCollector(tokens=[TOKEN], allowed_indexes=["main"])
        return self.r

    def options(self, url, **extra):
        o = {"endpoint": url, "token": TOKEN, "endpoint_type": "event",
             "ack_poll_interval": "20", "timeout": "1000"}
        o.update(extra)
        return o

    def seqs(self):
        return {e["event"]["seq"] for e in self.r.events}

    @staticmethod
    def event(n, index="main"):
        return {"event": {"seq": n}, "index": index}

    def down(self):
        self.r.inject_busy(1)

    def reject(self, _):
        s = Sink(self.path, self.options(self.r.url, event_envelope="false"))
        code, res, _ = s.deliver(records(100, 1, lambda n: self.event(n, "nope")), "b-r")
        s.close()
        assert code == REJECT and res.error_code == b"Splunk.InvalidIndex", (code, res.error_code)
        return res.error_code.decode()

    def partial(self, path, url):
        s = Sink(path, self.options(url, event_envelope="false"))
        recs = records(200, 4, lambda n: self.event(n, "nope" if n == 202 else "main"))
        code, res, outs = s.deliver(recs, "b-p")
        assert code == PARTIAL, code
        assert [o[0] for o in outs] == [RETRY, RETRY, REJECT, RETRY], outs
        code, _, _ = s.deliver([recs[0], recs[1], recs[3]], "b-p", attempt=2)
        assert code == OK
        assert {200, 201, 203} <= self.seqs() and 202 not in self.seqs()
        s.close()
        return "invalid-event-number rejected alone"


SINKS = {"http": Http, "opensearch": OpenSearch, "splunk": Splunk}

TYPE_NAMES = {1: "string", 2: "integer", 3: "bool", 4: "duration", 5: "size", 6: "enum", 7: "list"}
SECRET = 0x100  # SLUICE_OPT_SECRET, a flag OR-ed into the type


def check_docs(plugin_dir, name):
    """Every option of the sink's table appears, as documented, in docs/http_sinks.md."""
    docs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "docs",
                        "http_sinks.md")
    text = open(docs).read()
    lib = ctypes.CDLL(os.path.join(plugin_dir, name + ".so"))
    entry = lib.sluice_plugin_entry
    entry.restype = ctypes.POINTER(Plugin)
    entry.argtypes = [ctypes.c_uint32, ctypes.c_uint32]
    table = entry(1, 0).contents
    i, rows = 0, 0
    while table.options[i].name:
        o = table.options[i]
        t = TYPE_NAMES[o.type & 0xff]
        if o.enum_values:
            t += " (`" + o.enum_values.decode().replace("|", "`, `") + "`)"
        if o.type & SECRET:
            t += ", secret"
        d = o.default_value.decode() if o.default_value is not None else ""
        row = "| `%s` | %s | %s | %s | %s |" % (o.name.decode(), t, ("`%s`" % d) if d else "",
                                               "yes" if o.required else "no",
                                               o.doc.decode().replace("|", "\\|"))
        assert row in text, "docs/http_sinks.md lacks or differs on: " + row
        i += 1
        rows += 1
    return "docs (%d options)" % rows


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    failed = 0
    for name in sys.argv[2:] or list(SINKS):
        t0 = time.time()
        try:
            res = run_suite(sys.argv[1], SINKS[name]())
            res.append(check_docs(sys.argv[1], name))
            print("PASS %s (%.1fs): %s" % (name, time.time() - t0, "; ".join(res)))
        except Exception as e:
            import traceback
            traceback.print_exc()
            failed += 1
            print("FAIL %s: %r" % (name, e))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
