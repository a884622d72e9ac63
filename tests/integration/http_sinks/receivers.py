"""Faithful protocol-level receivers for the http, opensearch and splunk sinks' tests.

No OpenSearch or Splunk server can be installed where the tests run, so these servers implement
the parts of the real protocols a sender depends on, from the public API documentation:

* FirehoseEndpoint: Amazon Data Firehose's HTTP endpoint delivery protocol 1.0 (the receiving
  side): it checks X-Amz-Firehose-Protocol-Version, -Request-Id, -Source-Arn, -Access-Key and
  -Common-Attributes, Content-Type and Content-Encoding, the body shape ({requestId, timestamp,
  records:[{data}]}, 1..10,000 records, <= 64 MiB, requestId equal to the header) and answers
  {requestId, timestamp[, errorMessage]} as the spec asks.
* BulkCluster: the OpenSearch _bulk API with NDJSON action/source pairs, basic auth or SigV4
  (signatures verified with the known secret), gzip bodies, dynamic mappings that make a field's
  first type stick (mapper_parsing_exception afterwards), create conflicts (409), per-item
  answers, /_cluster/health and HEAD /<index>.
* HecCollector: Splunk's HTTP Event Collector: /services/collector/event and /raw, token auth
  (codes 2, 3, 4), channels (codes 10, 11), event validation (codes 5, 6, 7, 12, 13 with
  invalid-event-number), gzip, indexer acknowledgement (ackId, /services/collector/ack, code 14
  when the token has acks off) and /services/collector/health (codes 17, 18).

Each binds 127.0.0.1 on an ephemeral port, serves HTTP/1.1 with keep-alive on threads, records
what it accepted, and injects failures on demand (see the `inject_*` methods).
"""
import base64
import datetime
import gzip
import hashlib
import hmac
import json
import re
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class Answer:
    def __init__(self, status, body=b"", headers=None, drop=False):
        self.status = status
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.headers = headers or {}
        self.drop = drop


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        try:
            answer = self.server.receiver.handle(self.command, url.path,
                                                 urllib.parse.parse_qs(url.query),
                                                 {k.lower(): v for k, v in self.headers.items()},
                                                 body)
        except Exception as e:  # a receiver bug must show as a 500, not a hang
            answer = Answer(500, {"error": "receiver bug: %r" % e})
        if answer.drop:
            self.close_connection = True
            return
        self.send_response(answer.status)
        if "Content-Type" not in answer.headers and answer.body:
            self.send_header("Content-Type", "application/json")
        for k, v in answer.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that gave up (its timeout) closes the connection under a late answer.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class Receiver:
    """Base: the server thread, a lock, and request counting."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self._delays = []
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.receiver = self
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def inject_delays(self, count, seconds):
        """The next `count` requests are answered after `seconds` (a slow or hung server)."""
        with self.lock:
            self._delays += [seconds] * count

    def handle(self, method, path, query, headers, body):
        with self.lock:
            self.requests += 1
            delay = self._delays.pop(0) if self._delays else 0
        if delay:
            time.sleep(delay)
        return self.serve(method, path, query, headers, body)


def _decode_body(headers, body):
    """Applies Content-Encoding; returns (bytes, error)."""
    enc = headers.get("content-encoding", "").lower()
    if enc in ("", "identity"):
        return body, None
    if enc == "gzip":
        try:
            return gzip.decompress(body), None
        except Exception as e:
            return None, "cannot gunzip the body: %s" % e
    return None, "unsupported Content-Encoding %s" % enc


# ------------------------------------------------------------------------------------------------
# Firehose HTTP endpoint delivery protocol 1.0 (receiving side)
# ------------------------------------------------------------------------------------------------
class FirehoseEndpoint(Receiver):
    MAX_BODY = 64 << 20
    MAX_RECORDS = 10000

    def __init__(self, access_key="test-key"):
        self.access_key = access_key
        self.records = []           # decoded record bytes accepted, in order
        self.request_ids = {}       # requestId -> number of requests seen with it
        self.accepted_ids = set()
        self.common_attributes = []
        self.gzip_requests = 0
        self._fail = []             # queued (status, errorMessage) for the next requests
        self._wrong_id = 0
        self.too_large_marker = None
        super().__init__()

    def inject_failures(self, count, status=503, message="endpoint unavailable"):
        with self.lock:
            self._fail += [(status, message)] * count

    def inject_wrong_request_id(self, count):
        with self.lock:
            self._wrong_id += count

    def _answer(self, status, request_id, message=None):
        body = {"requestId": request_id or "", "timestamp": int(time.time() * 1000)}
        if message is not None:
            body["errorMessage"] = message
        return Answer(status, body)

    def serve(self, method, path, query, headers, body):
        rid_header = headers.get("x-amz-firehose-request-id", "")
        if method == "HEAD":
            return Answer(405)
        if method != "POST":
            return self._answer(405, rid_header, "only POST is supported")
        if headers.get("x-amz-firehose-protocol-version") != "1.0":
            return self._answer(400, rid_header, "missing or unsupported protocol version")
        if not rid_header:
            return self._answer(400, rid_header, "missing X-Amz-Firehose-Request-Id")
        if not headers.get("x-amz-firehose-source-arn"):
            return self._answer(400, rid_header, "missing X-Amz-Firehose-Source-Arn")
        if headers.get("x-amz-firehose-access-key") != self.access_key:
            return self._answer(401, rid_header, "invalid access key")
        if not headers.get("content-type", "").startswith("application/json"):
            return self._answer(415, rid_header, "Content-Type must be application/json")
        attrs = headers.get("x-amz-firehose-common-attributes")
        if attrs is not None:
            try:
                parsed = json.loads(attrs)
                assert isinstance(parsed.get("commonAttributes"), dict)
                assert len(parsed["commonAttributes"]) <= 50
            except Exception:
                return self._answer(400, rid_header, "malformed X-Amz-Firehose-Common-Attributes")
        with self.lock:
            self.request_ids[rid_header] = self.request_ids.get(rid_header, 0) + 1
        data, err = _decode_body(headers, body)
        if err:
            return self._answer(400, rid_header, err)
        if headers.get("content-encoding") == "gzip":
            with self.lock:
                self.gzip_requests += 1
        if len(data) > self.MAX_BODY:
            return self._answer(413, rid_header, "request body larger than 64 MiB")
        try:
            doc = json.loads(data)
            rid = doc["requestId"]
            ts = doc.get("timestamp")
            records = doc["records"]
            assert isinstance(records, list) and isinstance(ts, int)
            decoded = [base64.b64decode(r["data"], validate=True) for r in records]
        except Exception as e:
            return self._answer(400, rid_header, "malformed body: %s" % e)
        if rid != rid_header:
            return self._answer(400, rid_header, "requestId differs from the header")
        if not 1 <= len(records) <= self.MAX_RECORDS:
            return self._answer(400, rid, "records must hold 1..10000 entries")
        if self.too_large_marker and any(self.too_large_marker in d for d in decoded):
            return self._answer(413, rid, "payload too large for this endpoint")
        with self.lock:
            if self._fail:
                status, message = self._fail.pop(0)
                return self._answer(status, rid, message)
            wrong = self._wrong_id > 0
            if wrong:
                self._wrong_id -= 1
            else:
                self.records.extend(decoded)
                self.accepted_ids.add(rid)
                if attrs is not None:
                    self.common_attributes.append(json.loads(attrs)["commonAttributes"])
        if wrong:  # accepted in the real world, but the answer does not match: sender retries
            return self._answer(200, str(uuid.uuid4()))
        return self._answer(200, rid)


class RawEndpoint(Receiver):
    """A plain HTTP receiver for the http sink's raw mode: NDJSON or a JSON array, with basic or
    bearer auth and required custom headers."""

    def __init__(self, authorization=None, required_headers=None):
        self.authorization = authorization
        self.required_headers = {k.lower(): v for k, v in (required_headers or {}).items()}
        self.records = []
        self._fail = []
        super().__init__()

    def inject_failures(self, count, status=503, retry_after=None):
        with self.lock:
            self._fail += [(status, retry_after)] * count

    def serve(self, method, path, query, headers, body):
        if method == "HEAD":
            return Answer(200)
        if self.authorization and headers.get("authorization") != self.authorization:
            return Answer(401, {"error": "unauthorized"})
        for k, v in self.required_headers.items():
            if headers.get(k) != v:
                return Answer(400, {"error": "missing header %s" % k})
        data, err = _decode_body(headers, body)
        if err:
            return Answer(400, {"error": err})
        ctype = headers.get("content-type", "")
        try:
            if ctype.startswith("application/x-ndjson"):
                assert data.endswith(b"\n")
                items = [json.loads(line) for line in data.split(b"\n")[:-1]]
            elif ctype.startswith("application/json"):
                items = json.loads(data)
                assert isinstance(items, list)
            else:
                return Answer(415, {"error": "unsupported content type %s" % ctype})
        except Exception as e:
            return Answer(400, {"error": "malformed body: %s" % e})
        with self.lock:
            if self._fail:
                status, retry_after = self._fail.pop(0)
                hdrs = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                return Answer(status, {"error": "injected"}, hdrs)
            self.records.extend(items)
        return Answer(200, {"accepted": len(items)})


# ------------------------------------------------------------------------------------------------
# OpenSearch _bulk
# ------------------------------------------------------------------------------------------------
def _sigv4_check(method, path, query, headers, body, keys, region, service):
    """Verifies an AWS SigV4 Authorization header; returns an error text or None."""
    auth = headers.get("authorization", "")
    m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                 r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$", auth)
    if not m:
        return "missing or malformed SigV4 Authorization"
    key_id, date, reg, svc, signed, signature = m.groups()
    if key_id not in keys:
        return "The security token included in the request is invalid."
    if reg != region or svc != service:
        return "Credential should be scoped to a valid region/service"
    amz_date = headers.get("x-amz-date", "")
    if not amz_date.startswith(date):
        return "x-amz-date does not match the credential date"
    payload_hash = headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    if payload_hash != hashlib.sha256(body).hexdigest():
        return "x-amz-content-sha256 does not match the body"
    names = signed.split(";")
    if "host" not in names:
        return "Host must be signed"
    # Non-S3 services encode each path segment twice.
    segs = [urllib.parse.quote(urllib.parse.quote(s, safe="-_.~"), safe="-_.~")
            for s in path.split("/")]
    canon_path = "/".join(segs) or "/"
    pairs = sorted((urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~"))
                   for k, vs in query.items() for v in vs)
    canon_query = "&".join("%s=%s" % p for p in pairs)
    canon_headers = "".join("%s:%s\n" % (n, " ".join(headers.get(n, "").split())) for n in names)
    creq = "\n".join([method, canon_path, canon_query, canon_headers, signed, payload_hash])
    scope = "%s/%s/%s/aws4_request" % (date, reg, svc)
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + keys[key_id]).encode()
    for part in (date, reg, svc, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return ("The request signature we calculated does not match the signature you provided.")
    return None


def _filter_path(doc, paths):
    """OpenSearch's filter_path response filtering: dotted paths, `*` for any key, arrays
    traversed implicitly; keys that match no path are dropped."""
    patterns = [p.split(".") for p in paths]

    def walk(value, pats):
        if isinstance(value, list):
            out = [walk(v, pats) for v in value]
            return [v for v in out if v is not None]
        if not isinstance(value, dict):
            return value
        out = {}
        for k, v in value.items():
            rest = [p[1:] for p in pats if p and p[0] in ("*", k)]
            if any(not r for r in rest):
                out[k] = v
            elif rest:
                sub = walk(v, rest)
                if sub not in (None, {}, []):
                    out[k] = sub
        return out
    return walk(doc, patterns)


class BulkCluster(Receiver):
    def __init__(self, users=None, sigv4_keys=None, region="us-east-1", service="es"):
        self.users = users                  # {"user": "password"} for basic auth
        self.sigv4_keys = sigv4_keys        # {"AKID": "secret"} for SigV4
        self.region, self.service = region, service
        self.indices = {}                   # index -> {id: source dict}
        self.mappings = {}                  # index -> {field: "long"|"text"|...}
        self.bulk_requests = 0
        self.gzip_requests = 0
        self._fail = []                     # whole-request failures for the next requests
        self._item_429 = 0                  # the next N items answer 429
        self.health = "green"
        super().__init__()

    def inject_failures(self, count, status=503):
        with self.lock:
            self._fail += [status] * count

    def inject_item_rejections(self, count):
        with self.lock:
            self._item_429 += count

    def docs(self):
        with self.lock:
            return [(i, d, s) for i, docs in self.indices.items() for d, s in docs.items()]

    @staticmethod
    def _error(status, etype, reason):
        return Answer(status, {"error": {"root_cause": [{"type": etype, "reason": reason}],
                                         "type": etype, "reason": reason}, "status": status})

    def _auth(self, method, path, query, headers, body):
        if self.users is not None:
            auth = headers.get("authorization", "")
            ok = False
            if auth.startswith("Basic "):
                try:
                    user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                    ok = self.users.get(user) == pw
                except Exception:
                    ok = False
            if not ok:
                return Answer(401, {"error": {"type": "security_exception",
                                              "reason": "missing authentication credentials"},
                                    "status": 401},
                              {"WWW-Authenticate": 'Basic realm="security" charset="UTF-8"'})
        if self.sigv4_keys is not None:
            err = _sigv4_check(method, path, query, headers, body, self.sigv4_keys, self.region,
                               self.service)
            if err:
                return Answer(403, {"message": err})
        return None

    def _field_type(self, value):
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, int):
            return "long"
        if isinstance(value, float):
            return "float"
        if isinstance(value, dict):
            return "object"
        return "text"

    def _index_one(self, op, index, doc_id, source_line):
        """Returns the item answer (dict without the op key wrapper)."""
        item = {"_index": index, "_id": doc_id}
        if self._item_429 > 0:
            self._item_429 -= 1
            item.update(status=429, error={
                "type": "es_rejected_execution_exception",
                "reason": "rejected execution of coordinating operation [shard_detail=[%s][0]]"
                          % index})
            return item
        try:
            source = json.loads(source_line)
            if not isinstance(source, dict):
                raise ValueError("not an object")
        except Exception:
            item.update(status=400, error={
                "type": "mapper_parsing_exception", "reason": "failed to parse",
                "caused_by": {"type": "not_x_content_exception",
                              "reason": "Compressor detection can only be called on some "
                                        "xcontent bytes or compressed xcontent bytes"}})
            return item
        mapping = self.mappings.setdefault(index, {})
        for field, value in source.items():
            t = self._field_type(value)
            known = mapping.get(field)
            if known is None:
                mapping[field] = t
            elif known != t and not (known == "float" and t == "long"):
                if known == "long" and t == "text":
                    item.update(status=400, error={
                        "type": "mapper_parsing_exception",
                        "reason": "failed to parse field [%s] of type [long] in document with "
                                  "id '%s'. Preview of field's value: '%s'" % (field, doc_id, value)})
                    return item
        docs = self.indices.setdefault(index, {})
        if doc_id is None:
            doc_id = base64.urlsafe_b64encode(uuid.uuid4().bytes[:15]).decode()
            item["_id"] = doc_id
        if op == "create" and doc_id in docs:
            item.update(status=409, error={
                "type": "version_conflict_engine_exception",
                "reason": "[%s]: version conflict, document already exists (current version [1])"
                          % doc_id, "index": index, "shard": "0"})
            return item
        created = doc_id not in docs
        docs[doc_id] = source
        item.update(_version=1, result="created" if created else "updated",
                    _shards={"total": 1, "successful": 1, "failed": 0}, _seq_no=0,
                    _primary_term=1, status=201 if created else 200)
        return item

    def serve(self, method, path, query, headers, body):
        denied = self._auth(method, path, query, headers, body)
        if denied:
            return denied
        if method == "GET" and path == "/_cluster/health":
            return Answer(200, {"cluster_name": "receiver", "status": self.health, "timed_out": False,
                                "number_of_nodes": 1, "number_of_data_nodes": 1,
                                "active_primary_shards": len(self.indices)})
        m = re.match(r"^/([^/_][^/]*)/_count$", path)
        if m and method in ("GET", "POST"):
            with self.lock:
                if m.group(1) not in self.indices:
                    return self._error(404, "index_not_found_exception",
                                       "no such index [%s]" % m.group(1))
                n = len(self.indices[m.group(1)])
            return Answer(200, {"count": n, "_shards": {"total": 1, "successful": 1,
                                                         "skipped": 0, "failed": 0}})
        if method == "HEAD" and path.count("/") == 1 and not path.startswith("/_"):
            return Answer(200 if path[1:] in self.indices else 404)
        m = re.match(r"^(?:/([^/_][^/]*))?/_bulk$", path)
        if not m or method not in ("POST", "PUT"):
            return self._error(405 if m else 400, "illegal_argument_exception",
                               "no handler found for uri [%s] and method [%s]" % (path, method))
        default_index = m.group(1)
        ctype = headers.get("content-type", "").split(";")[0].strip()
        if ctype not in ("application/json", "application/x-ndjson"):
            return Answer(406, {"error": "Content-Type header [%s] is not supported" % ctype,
                                "status": 406})
        data, err = _decode_body(headers, body)
        if err:
            return self._error(400, "parse_exception", err)
        with self.lock:
            self.bulk_requests += 1
            if headers.get("content-encoding") == "gzip":
                self.gzip_requests += 1
            if self._fail:
                status = self._fail.pop(0)
                return self._error(status, "cluster_block_exception" if status == 503 else
                                   "status_exception", "injected failure")
        if not data.endswith(b"\n"):
            return self._error(400, "illegal_argument_exception",
                               "The bulk request must be terminated by a newline [\\n]")
        lines = data.split(b"\n")[:-1]
        items = []
        errors = False
        started = time.time()
        with self.lock:
            i = 0
            while i < len(lines):
                try:
                    action = json.loads(lines[i])
                    (op, meta), = action.items()
                    assert op in ("index", "create", "update", "delete") and isinstance(meta, dict)
                except Exception:
                    return self._error(400, "illegal_argument_exception",
                                       "Malformed action/metadata line [%d]" % (i + 1))
                index = meta.get("_index", default_index)
                if index is None:
                    return self._error(400, "action_request_validation_exception",
                                       "Validation Failed: 1: index is missing;")
                if "_type" in meta:
                    return self._error(400, "illegal_argument_exception",
                                       "Action/metadata line [%d] contains an unknown parameter "
                                       "[_type]" % (i + 1))
                if op in ("update", "delete"):
                    return self._error(400, "illegal_argument_exception",
                                       "the receiver supports index and create only")
                if i + 1 >= len(lines):
                    return self._error(400, "illegal_argument_exception",
                                       "The bulk request must be terminated by a newline [\\n]")
                item = self._index_one(op, index, meta.get("_id"), lines[i + 1])
                errors = errors or "error" in item
                items.append({op: item})
                i += 2
        answer = {"took": int((time.time() - started) * 1000), "errors": errors, "items": items}
        if "filter_path" in query:
            answer = _filter_path(answer, ",".join(query["filter_path"]).split(","))
        return Answer(200, answer)


# ------------------------------------------------------------------------------------------------
# Splunk HTTP Event Collector
# ------------------------------------------------------------------------------------------------
class HecCollector(Receiver):
    def __init__(self, tokens=None, ack_tokens=None, allowed_indexes=("main",),
                 ack_after_polls=1):
        self.tokens = set(tokens or ["11111111-2222-3333-4444-555555555555"])
        self.ack_tokens = set(ack_tokens if ack_tokens is not None else self.tokens)
        self.allowed_indexes = set(allowed_indexes)
        self.ack_after_polls = ack_after_polls
        self.events = []            # indexed events: dicts (event endpoint) or raw lines
        self.channels = set()
        self.gzip_requests = 0
        self.ack_queries = 0
        self._next_ack = {}         # channel -> next ackId
        self._pending = {}          # (channel, ackId) -> [events, polls seen, lost]
        self._busy = 0
        self._lose = 0
        super().__init__()

    def inject_busy(self, count):
        with self.lock:
            self._busy += count

    def inject_lost_acks(self, count):
        with self.lock:
            self._lose += count

    @staticmethod
    def _hec(status, code, text, **extra):
        body = {"text": text, "code": code}
        body.update(extra)
        return Answer(status, body)

    def _token(self, headers, query):
        auth = headers.get("authorization")
        if auth is None:
            return None, self._hec(401, 2, "Token is required")
        parts = auth.split(" ", 1)
        if len(parts) != 2 or parts[0] != "Splunk":
            return None, self._hec(401, 3, "Invalid authorization")
        if parts[1] not in self.tokens:
            return None, self._hec(403, 4, "Invalid token")
        return parts[1], None

    def _parse_events(self, text):
        """Concatenated JSON objects; returns (events, error answer)."""
        dec = json.JSONDecoder()
        events, pos, n = [], 0, 0
        while True:
            while pos < len(text) and text[pos] in " \t\r\n":
                pos += 1
            if pos >= len(text):
                break
            try:
                obj, pos = dec.raw_decode(text, pos)
                assert isinstance(obj, dict)
            except Exception:
                return None, self._hec(400, 6, "Invalid data format", **{"invalid-event-number": n})
            if "event" not in obj:
                return None, self._hec(400, 12, "Event field is required",
                                       **{"invalid-event-number": n})
            if obj["event"] in ("", None, {}):
                return None, self._hec(400, 13, "Event field cannot be blank",
                                       **{"invalid-event-number": n})
            if "index" in obj and obj["index"] not in self.allowed_indexes:
                return None, self._hec(400, 7, "Incorrect index", **{"invalid-event-number": n})
            events.append(obj)
            n += 1
        if not events:
            return None, self._hec(400, 5, "No data")
        return events, None

    def serve(self, method, path, query, headers, body):
        if path == "/services/collector/health" and method == "GET":
            with self.lock:
                busy = self._busy > 0
            if busy:
                return self._hec(503, 18, "HEC is unhealthy, queues are full")
            return self._hec(200, 17, "HEC is healthy")
        token, denied = self._token(headers, query)
        if denied:
            return denied
        acks = token in self.ack_tokens
        channel = headers.get("x-splunk-request-channel") or (query.get("channel") or [None])[0]
        if path == "/services/collector/ack":
            if not acks:
                return self._hec(400, 14, "ACK is disabled")
            if not channel:
                return self._hec(400, 10, "Data channel is missing")
            try:
                ids = json.loads(body)["acks"]
                assert isinstance(ids, list)
            except Exception:
                return self._hec(400, 6, "Invalid data format")
            out = {}
            with self.lock:
                self.ack_queries += 1
                for ack_id in ids:
                    entry = self._pending.get((channel, ack_id))
                    if entry is None:
                        out[str(ack_id)] = False
                        continue
                    entry[1] += 1
                    if not entry[2] and entry[1] >= self.ack_after_polls:
                        if entry[0] is not None:
                            self.events.extend(entry[0])
                            entry[0] = None  # indexed once
                        out[str(ack_id)] = True
                    else:
                        out[str(ack_id)] = False
            return Answer(200, {"acks": out})
        if path not in ("/services/collector/event", "/services/collector",
                        "/services/collector/event/1.0", "/services/collector/raw",
                        "/services/collector/raw/1.0"):
            return Answer(404, {"text": "The requested URL was not found on this server.",
                                "code": 404})
        if method != "POST":
            return self._hec(400, 6, "Invalid data format")
        raw = path.startswith("/services/collector/raw")
        if (acks or raw) and not channel:
            return self._hec(400, 10, "Data channel is missing")
        if channel and not GUID.match(channel):
            return self._hec(400, 11, "Invalid data channel")
        data, err = _decode_body(headers, body)
        if err:
            return self._hec(400, 6, "Invalid data format")
        with self.lock:
            if self._busy > 0:
                self._busy -= 1
                return self._hec(503, 9, "Server is busy")
        if raw:
            idx = (query.get("index") or [None])[0]
            if idx is not None and idx not in self.allowed_indexes:
                return self._hec(400, 7, "Incorrect index")
            events = [line.decode("utf-8", "replace") for line in data.split(b"\n") if line]
            if not events:
                return self._hec(400, 5, "No data")
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                return self._hec(400, 6, "Invalid data format", **{"invalid-event-number": 0})
            events, bad = self._parse_events(text)
            if bad:
                return bad
        with self.lock:
            if headers.get("content-encoding") == "gzip":
                self.gzip_requests += 1
            if channel:
                self.channels.add(channel)
            if not acks:
                self.events.extend(events)
                return self._hec(200, 0, "Success")
            ack_id = self._next_ack.get(channel, 0)
            self._next_ack[channel] = ack_id + 1
            lost = self._lose > 0
            if lost:
                self._lose -= 1
            # Events are indexed when their ack turns true; a lost ack's events never are.
            self._pending[(channel, ack_id)] = [events, 0, lost]
        return self._hec(200, 0, "Success", ackId=ack_id)
