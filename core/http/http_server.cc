#include "core/http/http_server.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <list>

#include "core/http/http_connection.h"
#include "core/http/tls_server.h"
#include "core/log.h"

namespace sluice::http {

namespace {
constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct WriteReq {
  uv_write_t req;
  std::vector<std::string> data;
  size_t bytes = 0;
};

// The uid of a Unix socket's peer, or -1.
long PeerUid(uv_stream_t* s) {
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(s), &fd) != 0) return -1;
  struct ucred cred {};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
  return static_cast<long>(cred.uid);
}

std::string PeerName(uv_tcp_t* tcp) {
  sockaddr_storage ss{};
  int len = sizeof(ss);
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char ip[INET6_ADDRSTRLEN] = {0};
  int port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    uv_ip4_name(a, ip, sizeof(ip));
    port = ntohs(a->sin_port);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    uv_ip6_name(a, ip, sizeof(ip));
    port = ntohs(a->sin6_port);
  }
  return std::string(ip) + ":" + std::to_string(port);
}
}  // namespace

const std::string* HttpRequest::Header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return &v;
  }
  return nullptr;
}

std::string_view StatusText(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

struct HttpServer::Impl {
  uv_loop_t* loop;
  HttpServerOptions options;
  HttpHandler handler;
  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } listener{};
  uv_timer_t sweep{};
  bool listening = false;
  bool stopping = false;
  int open_handles = 0;   // listener, timer and connections not yet closed
  size_t held_bytes = 0;  // requests being received (heads and bodies), answers not yet sent
  uint64_t tls_failures = 0;
  std::list<Connection*> connections;
  std::function<void()> on_closed;

  void HandleClosed() {
    if (--open_handles == 0 && on_closed) {
      auto cb = std::move(on_closed);
      on_closed = nullptr;
      cb();
    }
  }

  static void OnConnection(uv_stream_t* server, int status) {
    auto* self = static_cast<Impl*>(server->data);
    if (status < 0) {
      SLUICE_LOG(Warn, "http accept failed").With("error", uv_strerror(status));
      return;
    }
    const bool unix_socket = !self->options.unix_path.empty();
    auto* conn = new Connection(self, self->loop, unix_socket);
    self->open_handles++;
    if (uv_accept(server, conn->stream()) != 0 ||
        static_cast<int>(self->connections.size()) >= self->options.max_connections) {
      conn->self = self->connections.insert(self->connections.end(), conn);
      conn->Close();
      return;
    }
    conn->self = self->connections.insert(self->connections.end(), conn);
    if (unix_socket) {
      long uid = PeerUid(conn->stream());
      if (uid < 0 || (uid != 0 && uid != static_cast<long>(geteuid()))) {
        SLUICE_LOG(Warn, "unix socket peer of another user refused")
            .With("socket", self->options.unix_path)
            .With("uid", static_cast<int64_t>(uid));
        conn->Close();
        return;
      }
      conn->local_peer_ = true;
      conn->peer_ = "unix:uid=" + std::to_string(uid);
    } else {
      conn->peer_ = PeerName(&conn->handle_.tcp);
      uv_tcp_nodelay(&conn->handle_.tcp, 1);
    }
    if (self->options.tls && !conn->StartTls(self->options.tls->NewSession())) {
      conn->Close();
      return;
    }
    conn->StartReading();
  }

  static void OnSweep(uv_timer_t* t) {
    auto* self = static_cast<Impl*>(t->data);
    uint64_t now = uv_now(self->loop);
    for (auto it = self->connections.begin(); it != self->connections.end();) {
      Connection* c = *it++;  // Close() may not erase, but stay safe
      if (!c->closing() && c->TimedOut(now)) c->CloseTimedOut(now);
    }
  }
};

Connection::Connection(HttpServer::Impl* server, uv_loop_t* loop, bool unix_socket)
    : unix_(unix_socket), server_(server), loop_(loop) {
  if (unix_) {
    uv_pipe_init(loop, &handle_.pipe, 0);
    handle_.pipe.data = this;
  } else {
    uv_tcp_init(loop, &handle_.tcp);
    handle_.tcp.data = this;
  }
  last_activity_ms_ = uv_now(loop);
}

Connection::~Connection() { SSL_free(ssl_); }

bool Connection::StartTls(SSL* ssl) {
  if (ssl == nullptr) return false;
  ssl_ = ssl;
  tls_in_ = BIO_new(BIO_s_mem());
  tls_out_ = BIO_new(BIO_s_mem());
  if (tls_in_ == nullptr || tls_out_ == nullptr) {
    BIO_free(tls_in_);
    BIO_free(tls_out_);
    tls_in_ = tls_out_ = nullptr;
    return false;
  }
  // A read from an empty input BIO means "want more", not end of file.
  BIO_set_mem_eof_return(tls_in_, -1);
  SSL_set_bio(ssl_, tls_in_, tls_out_);
  SSL_set_accept_state(ssl_);
  return true;
}

void Connection::TlsRead(const char* data, size_t n) {
  if (BIO_write(tls_in_, data, static_cast<int>(n)) != static_cast<int>(n)) {
    Close();
    return;
  }
  auto fail = [this](const char* what, int err) {
    unsigned long e = ERR_peek_last_error();
    char reason[256] = "";
    if (e != 0) ERR_error_string_n(e, reason, sizeof(reason));
    ERR_clear_error();
    SLUICE_LOG(Debug, "tls connection closed")
        .With("peer", peer_)
        .With("stage", what)
        .With("ssl_error", err)
        .With("reason", reason);
    if (std::string_view(what) == "handshake") ++server_->tls_failures;
    // The alert the engine queued goes out before the close.
    Flush();
    CloseAfterWrite();
  };
  if (!tls_ready_) {
    int rc = SSL_do_handshake(ssl_);
    if (rc != 1) {
      int err = SSL_get_error(ssl_, rc);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        Flush();  // the handshake's next flight
        return;
      }
      fail("handshake", err);
      return;
    }
    tls_ready_ = true;
  }
  // Records in, plaintext to the session, 16 KiB (one record) at a time.
  char plain[16 * 1024];
  while (!closing_ && !close_after_write_) {
    int r = SSL_read(ssl_, plain, sizeof(plain));
    if (r > 0) {
      FeedSession(plain, static_cast<size_t>(r));
      continue;
    }
    int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
    if (err == SSL_ERROR_ZERO_RETURN) {  // the peer's close_notify
      Flush();
      CloseAfterWrite();
      return;
    }
    fail("read", err);
    return;
  }
  Flush();  // what the engine answered outside records of ours (session tickets, key updates)
}

void Connection::TlsSeal(std::vector<std::string>* into) {
  auto seal = [this](const std::string& plain) {
    size_t done = 0;
    while (done < plain.size()) {
      int chunk = static_cast<int>(std::min<size_t>(plain.size() - done, 1 << 20));
      int w = SSL_write(ssl_, plain.data() + done, chunk);
      if (w <= 0) return false;  // a memory BIO takes everything: an engine error
      done += static_cast<size_t>(w);
    }
    return true;
  };
  bool ok = true;
  for (const std::string& piece : segments_) ok = ok && seal(piece);
  if (!out_.empty()) ok = ok && seal(out_);
  segments_.clear();
  out_.clear();
  if (!ok) {
    ERR_clear_error();
    closing_pending_error_ = true;
  }
  size_t pending = BIO_ctrl_pending(tls_out_);
  if (pending == 0) return;
  std::string cipher(pending, '\0');
  int got = BIO_read(tls_out_, cipher.data(), static_cast<int>(pending));
  cipher.resize(got > 0 ? static_cast<size_t>(got) : 0);
  if (!cipher.empty()) into->push_back(std::move(cipher));
}

const HttpServerOptions& Connection::options() const { return server_->options; }
HttpHandler& Connection::handler() { return server_->handler; }

bool Connection::TimedOut(uint64_t now) const {
  if (request_started_ms_ != 0 && now - request_started_ms_ > options().request_timeout_ms) {
    return true;
  }
  // A streamed or deferred answer keeps the connection open while nothing of it waits for the
  // peer. Bytes the peer does not take (no flow-control window, a socket it leaves unread) are
  // no activity: such a connection is closed at the idle timeout like any silent one.
  if (session_ && session_->Busy() && pending_write_bytes() + session_->HeldBytes() == 0) {
    return false;
  }
  return now - last_activity_ms_ > options().idle_timeout_ms;
}

void Connection::CloseTimedOut(uint64_t now) {
  const bool in_request =
      request_started_ms_ != 0 && now - request_started_ms_ > options().request_timeout_ms;
  SLUICE_LOG(Debug, "http connection timed out")
      .With("peer", peer_)
      .With("timeout", in_request ? "request" : "idle");
  // An answer goes out only where the peer's socket takes it now: a 408 waiting behind unsent
  // bytes would keep the connection open past its timeout.
  if (in_request && !close_after_write_ && pending_write_bytes() == 0 && session_ &&
      session_->AnswerTimeout()) {
    Flush();
    CloseAfterWrite();
    // A peer that does not read it is closed at the next sweep (the request clock still runs).
    return;
  }
  Close();
}

void Connection::StartReading() {
  if (reading_ || closing_ || close_after_write_) return;
  reading_ = true;
  uv_read_start(
      stream(),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        // One shared read buffer: sessions copy what they keep before returning.
        static thread_local char storage[64 * 1024];
        buf->base = storage;
        buf->len = sizeof(storage);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        static_cast<Connection*>(s->data)->OnRead(buf->base, n);
      });
}

bool Connection::OutputFull() const {
  size_t held = pending_write_bytes() + (session_ ? session_->HeldBytes() : 0);
  return held >= options().max_connection_output;
}

bool Connection::ServerFull() const {
  return server_->held_bytes > server_->options.max_buffered_bytes;
}

bool Connection::ChargeRequest(size_t n) {
  if (server_->held_bytes + n > server_->options.max_buffered_bytes) return false;
  server_->held_bytes += n;
  charged_request_ += n;
  return true;
}

void Connection::ReleaseRequest(size_t n) {
  n = std::min(n, charged_request_);
  charged_request_ -= n;
  server_->held_bytes -= n;
}

void Connection::Account() {
  size_t out = pending_write_bytes() + (session_ ? session_->HeldBytes() : 0);
  server_->held_bytes = server_->held_bytes - accounted_output_ + out;
  accounted_output_ = out;
  if (closing_) return;
  // Unsent bytes in the socket's queue mean the peer is not reading: stop taking its requests
  // (HTTP/2 answers held for window are bounded by refusing streams instead, so that its
  // WINDOW_UPDATE frames are still read).
  bool stop =
      pending_write_bytes() >= options().max_connection_output || (session_ && session_->Stalled());
  if (stop && reading_) {
    uv_read_stop(stream());
    reading_ = false;
  } else if (!stop && !reading_) {
    StartReading();
  }
}

void Connection::RequestStarted() {
  if (request_started_ms_ == 0) request_started_ms_ = std::max<uint64_t>(Now(), 1);
}
void Connection::RequestFinished() { request_started_ms_ = 0; }
void Connection::Touch() { last_activity_ms_ = Now(); }

void Connection::SessionProgressed() {
  Flush();
  if (!closing_) Account();
}

void Connection::OnRead(const char* data, ssize_t n) {
  if (n == 0) return;
  if (n < 0) {  // EOF or error
    Close();
    return;
  }
  if (!session_ || !session_->TracksActivity()) Touch();
  if (closing_ || close_after_write_) return;
  if (ssl_ != nullptr) {
    TlsRead(data, static_cast<size_t>(n));
  } else {
    FeedSession(data, static_cast<size_t>(n));
  }
  if (!closing_) Account();
}

void Connection::FeedSession(const char* data, size_t n) {
  if (!session_) {
    // Decide between HTTP/2 (prior knowledge) and HTTP/1.1 on the first bytes. A preface sent
    // slowly is a request sent slowly: the request timeout runs from its first byte.
    RequestStarted();
    detect_.append(data, n);
    size_t m = std::min(detect_.size(), kH2Preface.size());
    bool h2_prefix = std::string_view(detect_).substr(0, m) == kH2Preface.substr(0, m);
    if (h2_prefix && detect_.size() < kH2Preface.size()) return;  // need more bytes
    session_ = h2_prefix ? NewHttp2Session(this) : NewHttp1Session(this);
    if (!session_) {
      Close();
      return;
    }
    std::string first = std::move(detect_);
    detect_.clear();
    if (h2_prefix) RequestFinished();  // the preface is no request: streams start their clocks
    if (!session_->Feed(first.data(), first.size())) CloseAfterWrite();
    Flush();
    return;
  }
  if (!session_->Feed(data, n)) CloseAfterWrite();
  Flush();
}

void Connection::QueueOwned(std::string&& bytes) {
  if (bytes.size() < 16 * 1024) {
    out_.append(bytes);
    return;
  }
  if (!out_.empty()) {
    segments_bytes_ += out_.size();
    segments_.push_back(std::move(out_));
    out_.clear();
  }
  segments_bytes_ += bytes.size();
  segments_.push_back(std::move(bytes));
}

void Connection::Flush() {
  const bool tls_pending = ssl_ != nullptr && BIO_ctrl_pending(tls_out_) > 0;
  if (closing_ || (out_.empty() && segments_.empty() && !tls_pending)) {
    if (close_after_write_ && writes_in_flight_ == 0) Close();
    return;
  }
  auto* w = new WriteReq;
  if (ssl_ != nullptr) {
    TlsSeal(&w->data);
    if (closing_pending_error_) {
      delete w;
      Close();
      return;
    }
  } else {
    w->data.swap(segments_);
    if (!out_.empty()) w->data.push_back(std::move(out_));
  }
  out_.clear();
  segments_bytes_ = 0;
  if (w->data.empty()) {
    delete w;
    if (close_after_write_ && writes_in_flight_ == 0) Close();
    return;
  }
  w->req.data = this;
  std::vector<uv_buf_t> bufs;
  bufs.reserve(w->data.size());
  for (std::string& d : w->data) {
    bufs.push_back(uv_buf_init(d.data(), static_cast<unsigned>(d.size())));
    w->bytes += d.size();
  }
  writing_bytes_ += w->bytes;
  writes_in_flight_++;
  int rc =
      uv_write(&w->req, stream(), bufs.data(), static_cast<unsigned>(bufs.size()), OnWriteDone);
  if (rc != 0) {
    writing_bytes_ -= w->bytes;
    writes_in_flight_--;
    delete w;
    Close();
  }
}

void Connection::OnWriteDone(uv_write_t* req, int status) {
  auto* w = reinterpret_cast<WriteReq*>(req);
  auto* c = static_cast<Connection*>(req->data);
  c->writing_bytes_ -= w->bytes;
  c->writes_in_flight_--;
  delete w;
  if (!c->session_ || !c->session_->TracksActivity()) c->Touch();
  if (status < 0) {
    c->Close();
    return;
  }
  if (c->close_after_write_ && c->writes_in_flight_ == 0 && c->out_.empty() &&
      c->segments_.empty()) {
    c->Close();
    return;
  }
  c->Flush();
  // Pipelined requests held back while answers drained are parsed now.
  if (!c->closing_ && !c->close_after_write_ && c->session_ && c->session_->Stalled() &&
      !c->OutputFull()) {
    if (!c->session_->Resume()) c->CloseAfterWrite();
    c->Flush();
  }
  if (!c->closing_) c->Account();
}

void Connection::CloseAfterWrite() {
  close_after_write_ = true;
  uv_read_stop(stream());
  reading_ = false;
  if (writes_in_flight_ == 0 && out_.empty() && segments_.empty()) Close();
}

void Connection::Close() {
  if (closing_) return;
  closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_), [](uv_handle_t* h) {
    auto* c = static_cast<Connection*>(h->data);
    HttpServer::Impl* server = c->server_;
    server->connections.erase(c->self);
    c->session_.reset();  // detaches streamed-body writers
    server->held_bytes -= c->accounted_output_ + c->charged_request_;
    delete c;
    server->HandleClosed();
  });
}

Result<std::unique_ptr<HttpServer>> HttpServer::Create(uv_loop_t* loop, HttpServerOptions options,
                                                       HttpHandler handler) {
  if (loop == nullptr) return InvalidArgument("http server: no loop");
  if (!handler) return InvalidArgument("http server: no handler");
  if (options.port < 0 || options.port > 65535) {
    return InvalidArgument("http server: port " + std::to_string(options.port) + " out of range");
  }
  if (options.idle_timeout_ms == 0 || options.request_timeout_ms == 0) {
    return InvalidArgument("http server: timeouts must be positive");
  }
  auto impl = std::make_unique<Impl>();
  impl->loop = loop;
  impl->options = std::move(options);
  impl->handler = std::move(handler);
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() = default;

size_t HttpServer::connection_count() const { return impl_->connections.size(); }
size_t HttpServer::buffered_bytes() const { return impl_->held_bytes; }
uint64_t HttpServer::tls_handshake_failures() const { return impl_->tls_failures; }

Status HttpServer::Start() {
  Impl* s = impl_.get();
  if (s->listening) return InvalidArgument("http server: already started");
  uint64_t every = std::min(s->options.idle_timeout_ms, s->options.request_timeout_ms) / 4;
  every = std::clamp<uint64_t>(every, 5, 1000);
  if (!s->options.unix_path.empty()) {
    const std::string& path = s->options.unix_path;
    if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
      return InvalidArgument("http server: unix socket path " + path + " is longer than " +
                             std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes");
    }
    // A socket file left by a process that is gone is replaced; any other file is not touched.
    struct stat st;
    if (lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        return IoError("http server: " + path + " exists and is not a socket");
      }
      unlink(path.c_str());
    }
    uv_pipe_init(s->loop, &s->listener.pipe, 0);
    s->listener.pipe.data = s;
    s->open_handles++;
    s->listening = true;
    // Owner-only from the start: the umask covers the window between bind and chmod.
    mode_t old = umask(0077);
    int rc = uv_pipe_bind(&s->listener.pipe, path.c_str());
    umask(old);
    if (rc == 0) chmod(path.c_str(), 0600);
    if (rc == 0) {
      rc = uv_listen(reinterpret_cast<uv_stream_t*>(&s->listener.pipe), 128, Impl::OnConnection);
    }
    uv_timer_init(s->loop, &s->sweep);
    s->sweep.data = s;
    s->open_handles++;
    if (rc != 0) {
      return IoError("http server: cannot listen on unix socket " + path + ": " + uv_strerror(rc));
    }
    uv_timer_start(&s->sweep, Impl::OnSweep, every, every);
    return Status::Ok();
  }
  const std::string where = s->options.host + ":" + std::to_string(s->options.port);
  sockaddr_storage addr{};
  bool v6 = s->options.host.find(':') != std::string::npos;
  int rc = v6 ? uv_ip6_addr(s->options.host.c_str(), s->options.port,
                            reinterpret_cast<sockaddr_in6*>(&addr))
              : uv_ip4_addr(s->options.host.c_str(), s->options.port,
                            reinterpret_cast<sockaddr_in*>(&addr));
  if (rc != 0) return InvalidArgument("http server: bad listen address " + where);
  uv_tcp_init(s->loop, &s->listener.tcp);
  s->listener.tcp.data = s;
  s->open_handles++;
  s->listening = true;
  rc = uv_tcp_bind(&s->listener.tcp, reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&s->listener.tcp), 1024, Impl::OnConnection);
  }
  uv_timer_init(s->loop, &s->sweep);
  s->sweep.data = s;
  s->open_handles++;
  if (rc != 0) {
    return IoError("http server: cannot listen on " + where + ": " + uv_strerror(rc));
  }
  sockaddr_storage bound{};
  int len = sizeof(bound);
  uv_tcp_getsockname(&s->listener.tcp, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  uv_timer_start(&s->sweep, Impl::OnSweep, every, every);
  return Status::Ok();
}

void HttpServer::Stop(std::function<void()> on_closed) {
  Impl* s = impl_.get();
  if (!s->listening || s->stopping) {
    if (on_closed && !s->listening) on_closed();
    return;
  }
  s->stopping = true;
  s->on_closed = std::move(on_closed);
  auto done = [](uv_handle_t* h) { static_cast<Impl*>(h->data)->HandleClosed(); };
  uv_close(reinterpret_cast<uv_handle_t*>(&s->listener), done);
  if (!s->options.unix_path.empty()) unlink(s->options.unix_path.c_str());
  uv_timer_stop(&s->sweep);
  uv_close(reinterpret_cast<uv_handle_t*>(&s->sweep), done);
  for (Connection* c : s->connections) c->Close();
}

}  // namespace sluice::http
