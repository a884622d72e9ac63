// sluice-bench-recv: an HTTP receiver for the end-to-end benchmark (tests/bench/e2e/run.py) that
// counts what the http sinks deliver, fast enough that it is never what a row measures.
//
//   sluice-bench-recv --port-file PATH [--mode ndjson|firehose] [--threads N]
//
// Listens on 127.0.0.1 on an ephemeral port, written to PATH (atomically, by rename). Any method
// and path; HTTP/1.1 keep-alive and pipelining; Content-Length or chunked bodies, gzip-encoded
// ones inflated first. ndjson counts the body's newlines and answers an empty 200; firehose counts
// {"data": objects and answers as a Firehose HTTP endpoint does. GET /__count answers
// {"records":N,"bytes":N,"requests":N} (bytes: decoded body bytes) and is not counted; SIGTERM or
// SIGINT prints the same line and exits 0.
#include <arpa/inet.h>
#include <http_parser.h>
#include <libdeflate.h>
#include <netinet/in.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr uint64_t kMaxBody = uint64_t{256} << 20;
constexpr size_t kReadBufferSize = size_t{256} << 10;
// Bounds of a connection's inflate buffer. A member's ISIZE trailer is only a hint (it is the
// size mod 2^32, and a peer may lie), so it sizes the first attempt up to kMaxInflateHint and
// doubling past a short one stops at kMaxInflated: a gzip bomb gets a 413, not all the memory.
constexpr size_t kMinInflated = size_t{64} << 10;
constexpr size_t kMaxInflateHint = size_t{512} << 20;
constexpr size_t kMaxInflated = size_t{2} << 30;
// The requestId leads a Firehose request body; a prefix this long always holds it.
constexpr size_t kHeadKeep = 1024;
constexpr std::string_view kRecordMark = "{\"data\":";
constexpr size_t kCarry = kRecordMark.size() - 1;

enum class Mode { kNdjson, kFirehose };
Mode g_mode = Mode::kNdjson;

std::atomic<uint64_t> g_records{0}, g_bytes{0}, g_requests{0};

std::string CountJson() {
  char buf[128];
  int n = std::snprintf(buf, sizeof buf, "{\"records\":%llu,\"bytes\":%llu,\"requests\":%llu}",
                        static_cast<unsigned long long>(g_records.load()),
                        static_cast<unsigned long long>(g_bytes.load()),
                        static_cast<unsigned long long>(g_requests.load()));
  return std::string(buf, static_cast<size_t>(n));
}

uint64_t CountNewlines(const char* p, size_t n) {
  uint64_t count = 0;
  const char* end = p + n;
  while (p < end) {
    const void* q = std::memchr(p, '\n', static_cast<size_t>(end - p));
    if (!q) break;
    ++count;
    p = static_cast<const char*>(q) + 1;
  }
  return count;
}

// '{' is rare in a Firehose body outside the record objects (base64 data has none), so finding
// it with memchr first is faster than a general substring search.
uint64_t CountMarks(const char* p, size_t n) {
  uint64_t count = 0;
  const char* end = p + n;
  while (static_cast<size_t>(end - p) >= kRecordMark.size()) {
    const void* q = std::memchr(p, '{', static_cast<size_t>(end - p) - kCarry);
    if (!q) break;
    p = static_cast<const char*>(q);
    if (std::memcmp(p, kRecordMark.data(), kRecordMark.size()) == 0) {
      ++count;
      p += kRecordMark.size();
    } else {
      ++p;
    }
  }
  return count;
}

struct Worker {
  uv_loop_t loop;
  uv_tcp_t listener;
  int fd = -1;
  http_parser_settings settings;
  // One loop thread reads and parses one buffer at a time, so one buffer each serves every
  // connection of the loop.
  std::vector<char> read_buf = std::vector<char>(kReadBufferSize);
  libdeflate_decompressor* inflater = nullptr;
};

enum class Header { kOther, kEncoding, kRequestId, kExpect };

struct Conn {
  uv_tcp_t tcp;
  uv_write_t write_req;
  http_parser parser;
  Worker* worker = nullptr;
  // Responses of the requests parsed from one read go out in one write; `out` collects them
  // while `in_flight` is being written.
  std::string out, in_flight;
  bool writing = false;
  bool closing = false;
  int reject = 0;  // a status to answer (and close) with when a callback stops the parser

  // The request being parsed; the strings keep their capacity from one request to the next.
  std::string url, field, value, request_id, head;
  Header header = Header::kOther;
  bool in_value = false;
  bool gzip = false;
  bool expect_continue = false;
  // libdeflate inflates whole members only, so a gzip body is collected first. Both buffers keep
  // their size from one request to the next: the next body is most likely as large.
  std::string gz_body;
  std::unique_ptr<char[]> inflated;
  size_t inflated_size = 0;
  uint64_t raw_bytes = 0, body_bytes = 0, records = 0;
  char carry[kCarry];
  size_t carry_len = 0;

  void Consume(const char* p, size_t n);
  int Gunzip();
  void GrowInflated(size_t size);
};

Conn* ConnOf(http_parser* p) { return static_cast<Conn*>(p->data); }

void Conn::Consume(const char* p, size_t n) {
  body_bytes += n;
  if (g_mode == Mode::kNdjson) {
    records += CountNewlines(p, n);
    return;
  }
  if (head.size() < kHeadKeep) head.append(p, std::min(n, kHeadKeep - head.size()));
  // A mark split between two pieces of the body: it starts in the last kCarry bytes seen.
  char joined[2 * kCarry];
  size_t take = std::min(n, kCarry);
  std::memcpy(joined, carry, carry_len);
  std::memcpy(joined + carry_len, p, take);
  for (size_t i = 0; i < carry_len && i + kRecordMark.size() <= carry_len + take; ++i) {
    if (std::memcmp(joined + i, kRecordMark.data(), kRecordMark.size()) == 0) ++records;
  }
  records += CountMarks(p, n);
  if (n >= kCarry) {
    std::memcpy(carry, p + n - kCarry, kCarry);
    carry_len = kCarry;
  } else {
    size_t total = carry_len + take;
    size_t keep = std::min(total, kCarry);
    std::memmove(carry, joined + total - keep, keep);
    carry_len = keep;
  }
}

void Conn::GrowInflated(size_t size) {
  // Not a vector: zero-filling hundreds of MiB that the decompressor overwrites anyway costs.
  inflated.reset(new char[size]);
  inflated_size = size;
}

// Inflates gz_body member by member (members may be concatenated) and counts what comes out: 0,
// or the status to reject the request with.
int Conn::Gunzip() {
  const auto* in = reinterpret_cast<const unsigned char*>(gz_body.data());
  size_t left = gz_body.size();
  while (left > 0) {
    // The body's last 4 bytes are the ISIZE of its last member: exact for the usual body of one
    // member, and a start for the others.
    size_t hint = kMinInflated;
    if (left >= 4) {
      const unsigned char* t = in + left - 4;
      size_t isize = size_t{t[0]} | size_t{t[1]} << 8 | size_t{t[2]} << 16 | size_t{t[3]} << 24;
      hint = std::clamp(isize, kMinInflated, kMaxInflateHint);
    }
    if (hint > inflated_size) GrowInflated(hint);
    for (;;) {
      size_t in_used = 0, out_used = 0;
      libdeflate_result rc = libdeflate_gzip_decompress_ex(
          worker->inflater, in, left, inflated.get(), inflated_size, &in_used, &out_used);
      if (rc == LIBDEFLATE_SUCCESS) {
        Consume(inflated.get(), out_used);
        in += in_used;
        left -= in_used;
        break;
      }
      if (rc != LIBDEFLATE_INSUFFICIENT_SPACE) return 400;
      if (inflated_size >= kMaxInflated) return 413;
      GrowInflated(std::min(inflated_size * 2, kMaxInflated));
    }
  }
  return 0;
}

void FinishHeader(Conn* c) {
  if (!c->in_value) return;
  c->in_value = false;
  if (c->header == Header::kEncoding) {
    c->gzip =
        strcasecmp(c->value.c_str(), "gzip") == 0 || strcasecmp(c->value.c_str(), "x-gzip") == 0;
  } else if (c->header == Header::kRequestId) {
    c->request_id = c->value;
  } else if (c->header == Header::kExpect) {
    c->expect_continue = strcasecmp(c->value.c_str(), "100-continue") == 0;
  }
}

int OnMessageBegin(http_parser* p) {
  Conn* c = ConnOf(p);
  c->url.clear();
  c->field.clear();
  c->value.clear();
  c->request_id.clear();
  c->head.clear();
  c->header = Header::kOther;
  c->in_value = false;
  c->gzip = false;
  c->expect_continue = false;
  c->gz_body.clear();
  c->raw_bytes = c->body_bytes = c->records = 0;
  c->carry_len = 0;
  return 0;
}

int OnUrl(http_parser* p, const char* at, size_t n) {
  Conn* c = ConnOf(p);
  if (c->url.size() < 256) c->url.append(at, n);
  return 0;
}

int OnHeaderField(http_parser* p, const char* at, size_t n) {
  Conn* c = ConnOf(p);
  if (c->in_value) {
    FinishHeader(c);
    c->field.clear();
  }
  c->field.append(at, n);
  return 0;
}

int OnHeaderValue(http_parser* p, const char* at, size_t n) {
  Conn* c = ConnOf(p);
  if (!c->in_value) {
    c->in_value = true;
    c->value.clear();
    const char* f = c->field.c_str();
    c->header = strcasecmp(f, "content-encoding") == 0            ? Header::kEncoding
                : strcasecmp(f, "x-amz-firehose-request-id") == 0 ? Header::kRequestId
                : strcasecmp(f, "expect") == 0                    ? Header::kExpect
                                                                  : Header::kOther;
  }
  if (c->header != Header::kOther) c->value.append(at, n);
  return 0;
}

int OnHeadersComplete(http_parser* p) {
  Conn* c = ConnOf(p);
  FinishHeader(c);
  c->field.clear();
  if ((p->flags & F_CONTENTLENGTH) && p->content_length > kMaxBody) {
    c->reject = 413;
    return -1;
  }
  if (c->gzip && (p->flags & F_CONTENTLENGTH)) c->gz_body.reserve(p->content_length);
  // Without this, a client that asks (curl does for large bodies) waits a second before sending
  // the body.
  if (c->expect_continue) c->out.append("HTTP/1.1 100 Continue\r\n\r\n");
  return 0;
}

int OnBody(http_parser* p, const char* at, size_t n) {
  Conn* c = ConnOf(p);
  c->raw_bytes += n;
  if (c->raw_bytes > kMaxBody) {
    c->reject = 413;
    return -1;
  }
  if (c->gzip) {
    c->gz_body.append(at, n);
  } else {
    c->Consume(at, n);
  }
  return 0;
}

void AppendResponse(Conn* c, const char* content_type, std::string_view body, bool keep_alive) {
  char head[256];
  int n = std::snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\n%s%s%sContent-Length: %zu\r\n%s\r\n",
                        content_type ? "Content-Type: " : "", content_type ? content_type : "",
                        content_type ? "\r\n" : "", body.size(),
                        keep_alive ? "" : "Connection: close\r\n");
  c->out.append(head, static_cast<size_t>(n));
  c->out.append(body);
}

// The requestId of a Firehose body (`"requestId"\s*:\s*"..."`), from its first kHeadKeep bytes.
std::string_view BodyRequestId(const std::string& head) {
  size_t k = head.find("\"requestId\"");
  if (k == std::string::npos) return {};
  size_t i = k + 11;
  auto skip = [&] {
    while (i < head.size() &&
           (head[i] == ' ' || head[i] == '\t' || head[i] == '\n' || head[i] == '\r'))
      ++i;
  };
  skip();
  if (i >= head.size() || head[i] != ':') return {};
  ++i;
  skip();
  if (i >= head.size() || head[i] != '"') return {};
  size_t end = head.find('"', ++i);
  if (end == std::string::npos) return {};
  return std::string_view(head).substr(i, end - i);
}

int OnMessageComplete(http_parser* p) {
  Conn* c = ConnOf(p);
  bool keep_alive = http_should_keep_alive(p) != 0;
  std::string_view path(c->url);
  path = path.substr(0, path.find('?'));
  bool count = p->method == HTTP_GET && path == "/__count";
  // Before `closing` is set: OnRead answers a rejected request only on a connection still open.
  if (c->gzip && !count) {
    if (int status = c->Gunzip(); status != 0) {
      c->reject = status;
      return -1;
    }
  }
  if (!keep_alive) c->closing = true;
  if (count) {
    AppendResponse(c, "application/json", CountJson(), keep_alive);
    return 0;
  }
  g_records.fetch_add(c->records, std::memory_order_relaxed);
  g_bytes.fetch_add(c->body_bytes, std::memory_order_relaxed);
  g_requests.fetch_add(1, std::memory_order_relaxed);
  if (g_mode == Mode::kNdjson) {
    AppendResponse(c, nullptr, {}, keep_alive);
    return 0;
  }
  std::string_view id = BodyRequestId(c->head);
  if (id.empty()) id = c->request_id;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  char body[512];
  int n = std::snprintf(body, sizeof body, "{\"requestId\":\"%.*s\",\"timestamp\":%lld}",
                        static_cast<int>(std::min<size_t>(id.size(), 400)), id.data(),
                        static_cast<long long>(ms));
  AppendResponse(c, "application/json", std::string_view(body, static_cast<size_t>(n)), keep_alive);
  return 0;
}

void OnClosed(uv_handle_t* h) { delete static_cast<Conn*>(h->data); }

void Close(Conn* c) {
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&c->tcp))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), OnClosed);
  }
}

void Flush(Conn* c);

void OnWritten(uv_write_t* req, int status) {
  Conn* c = static_cast<Conn*>(req->data);
  c->writing = false;
  c->in_flight.clear();
  if (status < 0) {
    Close(c);
    return;
  }
  Flush(c);
}

void Flush(Conn* c) {
  if (c->writing) return;
  if (!c->out.empty()) {
    uv_buf_t buf = uv_buf_init(c->out.data(), static_cast<unsigned>(c->out.size()));
    int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1);
    if (n < 0 && n != UV_EAGAIN) {
      Close(c);
      return;
    }
    size_t done = n > 0 ? static_cast<size_t>(n) : 0;
    if (done < c->out.size()) {
      c->in_flight.assign(c->out, done);
      c->out.clear();
      buf = uv_buf_init(c->in_flight.data(), static_cast<unsigned>(c->in_flight.size()));
      c->write_req.data = c;
      c->writing = true;
      if (uv_write(&c->write_req, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1, OnWritten) <
          0) {
        c->writing = false;
        Close(c);
      }
      return;
    }
    c->out.clear();
  }
  if (c->closing) Close(c);
}

void OnAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  Worker* w = static_cast<Conn*>(h->data)->worker;
  *buf = uv_buf_init(w->read_buf.data(), static_cast<unsigned>(w->read_buf.size()));
}

void OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  Conn* c = static_cast<Conn*>(s->data);
  if (nread < 0) {
    Close(c);
    return;
  }
  if (nread == 0 || c->closing) return;
  size_t n = static_cast<size_t>(nread);
  size_t parsed = http_parser_execute(&c->parser, &c->worker->settings, buf->base, n);
  // A request without keep-alive ends the connection; what follows it is not looked at.
  if (!c->closing &&
      (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK || parsed != n || c->parser.upgrade)) {
    if (c->reject == 413) {
      c->out.append(
          "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    } else {
      c->out.append("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
    c->closing = true;
  }
  if (c->closing) uv_read_stop(s);
  Flush(c);
}

void OnConnection(uv_stream_t* listener, int status) {
  if (status < 0) return;
  Worker* w = static_cast<Worker*>(listener->data);
  Conn* c = new Conn;
  c->worker = w;
  uv_tcp_init(&w->loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    Close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), OnAlloc, OnRead);
}

void RunWorker(Worker* w) {
  uv_loop_init(&w->loop);
  w->inflater = libdeflate_alloc_decompressor();
  if (!w->inflater) {
    std::fprintf(stderr, "sluice-bench-recv: out of memory\n");
    std::_Exit(1);
  }
  http_parser_settings_init(&w->settings);
  w->settings.on_message_begin = OnMessageBegin;
  w->settings.on_url = OnUrl;
  w->settings.on_header_field = OnHeaderField;
  w->settings.on_header_value = OnHeaderValue;
  w->settings.on_headers_complete = OnHeadersComplete;
  w->settings.on_body = OnBody;
  w->settings.on_message_complete = OnMessageComplete;
  uv_tcp_init(&w->loop, &w->listener);
  w->listener.data = w;
  if (uv_tcp_open(&w->listener, w->fd) != 0 ||
      uv_listen(reinterpret_cast<uv_stream_t*>(&w->listener), 1024, OnConnection) != 0) {
    std::fprintf(stderr, "sluice-bench-recv: cannot listen\n");
    std::_Exit(1);
  }
  uv_run(&w->loop, UV_RUN_DEFAULT);
}

// Every worker has its own listening socket on the same port (SO_REUSEPORT): the kernel spreads
// the connections, and no loop hands sockets to another.
int Listen(uint16_t port, uint16_t* bound) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 1024) != 0) {
    close(fd);
    return -1;
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *bound = ntohs(addr.sin_port);
  return fd;
}

int Usage() {
  std::fprintf(stderr,
               "usage: sluice-bench-recv --port-file PATH [--mode ndjson|firehose] "
               "[--threads N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string port_file;
  int threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--port-file") {
      port_file = v;
    } else if (k == "--mode") {
      if (v == "ndjson") {
        g_mode = Mode::kNdjson;
      } else if (v == "firehose") {
        g_mode = Mode::kFirehose;
      } else {
        return Usage();
      }
    } else if (k == "--threads") {
      threads = std::atoi(v.c_str());
    } else {
      return Usage();
    }
  }
  if (port_file.empty() || (argc % 2) != 1 || threads < 1 || threads > 64) return Usage();

  // Every thread inherits this mask, so only sigwait below sees the signals.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::vector<Worker> workers(static_cast<size_t>(threads));
  uint16_t port = 0;
  for (auto& w : workers) {
    w.fd = Listen(port, &port);
    if (w.fd < 0) {
      std::perror("sluice-bench-recv: listen");
      return 1;
    }
  }
  // The sockets listen already, so a client that reads the port can connect at once.
  std::string tmp = port_file + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f || std::fprintf(f, "%u\n", static_cast<unsigned>(port)) < 0 || std::fclose(f) != 0 ||
      std::rename(tmp.c_str(), port_file.c_str()) != 0) {
    std::perror("sluice-bench-recv: port file");
    return 1;
  }
  for (auto& w : workers) std::thread(RunWorker, &w).detach();

  int sig = 0;
  sigwait(&stop, &sig);
  std::printf("%s\n", CountJson().c_str());
  std::fflush(stdout);
  std::_Exit(0);
}
