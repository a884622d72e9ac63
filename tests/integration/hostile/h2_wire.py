"""HTTP/2 frames and HPACK, as little as the hostile-client tests need: frames built by hand
(including malformed ones), and a client that reads the server's frames and decodes the
`:status` of its answers."""
import selectors
import socket
import struct
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4

NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, STREAM_CLOSED, \
    FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, CONNECT_ERROR, \
    ENHANCE_YOUR_CALM = range(12)


def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


def settings(**kv):
    ids = {"header_table_size": 1, "max_concurrent_streams": 3, "initial_window_size": 4,
           "max_frame_size": 5}
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", ids[k], v) for k, v in kv.items()))


def window_update(stream, increment):
    return frame(WINDOW_UPDATE, 0, stream, struct.pack(">I", increment))


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


def request_headers(method_post=True, path=b"/"):
    # :method POST/GET, :scheme http, :path, :authority 127.0.0.1 (static table indexes).
    p = b"\x84" if path == b"/" else b"\x04" + hpack_int(len(path), 7, 0) + path
    return (b"\x83" if method_post else b"\x82") + b"\x86" + p + \
        b"\x01" + hpack_int(9, 7, 0) + b"127.0.0.1"


def api_request(target, length=None, content_type=b"application/x-amz-json-1.1", path=b"/"):
    """A header block of a POST to the Kinesis API (or another `path`)."""
    block = request_headers(True, path) + literal(b"x-amz-target", target) + \
        literal(b"content-type", content_type) + literal(b"x-sluice-admin", b"1")
    if length is not None:
        block += literal(b"content-length", str(length).encode())
    return block


# RFC 7541 Appendix B, the codes of the ten digits: enough for a status.
_HUFFMAN_DIGITS = {"00000": "0", "00001": "1", "00010": "2", "011001": "3", "011010": "4",
                   "011011": "5", "011100": "6", "011101": "7", "011110": "8", "011111": "9"}
_STATIC_STATUS = {8: "200", 9: "204", 10: "206", 11: "304", 12: "400", 13: "404", 14: "500"}


def _read_int(block, i, prefix_bits):
    limit = (1 << prefix_bits) - 1
    value = block[i] & limit
    i += 1
    if value < limit:
        return value, i
    shift = 0
    while True:
        b = block[i]
        i += 1
        value += (b & 127) << shift
        shift += 7
        if not b & 128:
            return value, i


def _read_string(block, i):
    huffman = bool(block[i] & 0x80)
    n, i = _read_int(block, i, 7)
    raw = block[i:i + n]
    if not huffman:
        return raw.decode("latin-1"), i + n
    bits = "".join("{:08b}".format(b) for b in raw)
    out, code = "", ""
    for bit in bits:
        code += bit
        if code in _HUFFMAN_DIGITS:
            out += _HUFFMAN_DIGITS[code]
            code = ""
    return (out if set(code) <= {"1"} and len(code) < 8 else "?"), i + n


class Client:
    """One HTTP/2 connection: the preface and SETTINGS sent at once, frames read as they come.
    The HPACK dynamic table is followed (without eviction: the tests' answers are few) so that
    `:status` is read right in every answer."""

    def __init__(self, port, initial_window=None, connect_timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=connect_timeout)
        kv = {} if initial_window is None else {"initial_window_size": initial_window}
        self.sock.sendall(PREFACE + settings(**kv))
        self.buf = b""
        self.eof = False
        self.table = []  # (name, value), newest first
        self.status = {}  # stream -> ":status"
        self.rst = {}  # stream -> error code
        self.goaway = None  # error code
        self.window = 65535  # the server's connection window for our DATA
        self.stream_window = {}
        self.initial_window = 65535
        self.frames = []  # (type, flags, stream, payload), all read so far

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def decode(self, stream, block):
        i = 0
        while i < len(block):
            b = block[i]
            if b & 0x80:
                idx, i = _read_int(block, i, 7)
                if idx >= 62:
                    name, value = self.table[idx - 62]
                else:
                    name, value = (":status", _STATIC_STATUS[idx]) if idx in _STATIC_STATUS \
                        else ("static-%d" % idx, "")
            elif b & 0xE0 == 0x20:  # dynamic table size update
                _, i = _read_int(block, i, 5)
                continue
            else:
                bits = 6 if b & 0x40 else 4
                idx, i = _read_int(block, i, bits)
                if idx == 0:
                    name, i = _read_string(block, i)
                elif idx >= 62:
                    name = self.table[idx - 62][0]
                else:
                    name = ":status" if idx in _STATIC_STATUS else "static-%d" % idx
                value, i = _read_string(block, i)
                if b & 0x40:
                    self.table.insert(0, (name, value))
            if name == ":status":
                self.status[stream] = int(value) if value.isdigit() else value

    def read_frame(self, timeout):
        """The next frame, or None at EOF or when `timeout` passes."""
        deadline = time.time() + timeout
        while True:
            if len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + n:
                    ftype, flags = self.buf[3], self.buf[4]
                    stream = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
                    payload = self.buf[9:9 + n]
                    self.buf = self.buf[9 + n:]
                    self.handle(ftype, flags, stream, payload)
                    return ftype, flags, stream, payload
            left = deadline - time.time()
            if self.eof or left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                return None
            except OSError:  # reset
                chunk = b""
            if not chunk:
                self.eof = True
            self.buf += chunk

    def pump(self):
        """One read of what the socket holds, every whole frame in it handled."""
        self.sock.settimeout(0.5)
        try:
            chunk = self.sock.recv(1 << 16)
        except socket.timeout:
            return
        except OSError:  # reset
            chunk = b""
        if not chunk:
            self.eof = True
        self.buf += chunk
        while len(self.buf) >= 9 and len(self.buf) >= 9 + int.from_bytes(self.buf[:3], "big"):
            self.read_frame(0)

    def handle(self, ftype, flags, stream, payload):
        self.frames.append((ftype, flags, stream, payload))
        if ftype == HEADERS:
            self.decode(stream, payload)  # the server sends neither padding nor priority
        elif ftype == RST_STREAM:
            self.rst[stream] = struct.unpack(">I", payload)[0]
        elif ftype == GOAWAY:
            self.goaway = struct.unpack(">I", payload[4:8])[0]
        elif ftype == SETTINGS and not flags & ACK:
            for k in range(0, len(payload), 6):
                ident, value = struct.unpack(">HI", payload[k:k + 6])
                if ident == 4:
                    for s in self.stream_window:
                        self.stream_window[s] += value - self.initial_window
                    self.initial_window = value
            try:
                self.send(frame(SETTINGS, ACK, 0, b""))
            except OSError:
                pass  # the server has closed: what it sent before is still read
        elif ftype == WINDOW_UPDATE:
            inc = struct.unpack(">I", payload)[0]
            if stream == 0:
                self.window += inc
            else:
                self.stream_window[stream] = self.stream_window.get(
                    stream, self.initial_window) + inc

    def until(self, done, timeout):
        """Reads frames until done(self) or EOF or `timeout`; returns done(self)."""
        deadline = time.time() + timeout
        while not done(self):
            if self.read_frame(max(0.0, deadline - time.time())) is None:
                break
        return done(self)

    def closed(self, timeout):
        """Whether the server closes the connection within `timeout` (frames read meanwhile)."""
        deadline = time.time() + timeout
        while not self.eof and time.time() < deadline:
            self.read_frame(deadline - time.time())
        return self.eof

    def send_body(self, stream, total, chunk=16384, timeout=10.0):
        """DATA on `stream`, within the windows the server grants, until `total` bytes are sent
        or the stream is reset or answered or the connection ends; returns the bytes sent."""
        sent = 0
        self.stream_window.setdefault(stream, self.initial_window)
        deadline = time.time() + timeout
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ)
        try:
            while sent < total and time.time() < deadline:
                if stream in self.rst or stream in self.status or self.goaway is not None or \
                        self.eof:
                    break
                n = min(chunk, total - sent, self.window, self.stream_window[stream])
                if n > 0:
                    self.send(frame(DATA, END_STREAM if sent + n == total else 0, stream,
                                    b"b" * n))
                    sent += n
                    self.window -= n
                    self.stream_window[stream] -= n
                # Frames the server sent meanwhile (window updates, the answer).
                if sel.select(0 if n > 0 else 0.5):
                    self.pump()
        finally:
            sel.close()
        return sent
