// HTTP/1.1 on a connection, parsed by http-parser: keep-alive, pipelining (answered in order:
// while an answer is deferred the parser pauses), Expect: 100-continue, chunked request bodies,
// and chunked streamed responses.
//
// Pipelining is bounded: once the answers waiting on the connection reach its output bound the
// parser pauses, the unparsed rest of the read is kept (at most one read buffer) and the socket
// is not read until the answers drain.
#include <http_parser.h>

#include <algorithm>
#include <cctype>

#include "core/http/http_connection.h"

namespace sluice::http {
namespace {

// Longest request target accepted (RFC 9112 recommends supporting at least 8,000 octets).
constexpr size_t kMaxTarget = 16 * 1024;

void AppendStatusLine(int status, std::string* out) {
  out->append("HTTP/1.1 ");
  out->append(std::to_string(status));
  out->push_back(' ');
  out->append(StatusText(status));
  out->append("\r\n");
}

class Http1Session;

// Chunked body writer for a streamed HTTP/1.1 response; the connection closes when it ends.
class Http1BodyWriter final : public HttpBodyWriter {
 public:
  explicit Http1BodyWriter(Connection* conn) : conn_(conn) {}
  void Write(std::string_view bytes) override {
    if (!conn_ || ended_ || bytes.empty()) return;
    char size[24];
    int n = snprintf(size, sizeof(size), "%zx\r\n", bytes.size());
    conn_->Queue(std::string_view(size, static_cast<size_t>(n)));
    conn_->Queue(bytes);
    conn_->Queue("\r\n");
    conn_->Flush();
  }
  void End() override {
    if (!conn_ || ended_) return;
    ended_ = true;
    conn_->Queue("0\r\n\r\n");
    conn_->CloseAfterWrite();
    conn_->Flush();
  }
  bool open() const override { return conn_ != nullptr && !ended_; }
  size_t pending_bytes() const override { return conn_ ? conn_->pending_write_bytes() : 0; }
  void SetOnClose(std::function<void()> cb) override { on_close_ = std::move(cb); }
  void Detach() {
    if (!conn_) return;
    conn_ = nullptr;
    if (on_close_) {
      auto cb = std::move(on_close_);
      on_close_ = nullptr;
      cb();
    }
  }

 private:
  Connection* conn_;
  bool ended_ = false;
  std::function<void()> on_close_;
};

// The deferred answer of the request an Http1Session waits on.
class Http1Responder final : public HttpResponder {
 public:
  explicit Http1Responder(Http1Session* session) : session_(session) {}
  void Complete(HttpResponse response) override;
  void Detach() { session_ = nullptr; }

 private:
  Http1Session* session_;
};

class Http1Session final : public ProtocolSession {
 public:
  explicit Http1Session(Connection* conn) : conn_(conn) {
    http_parser_init(&parser_, HTTP_REQUEST);
    parser_.data = this;
    http_parser_settings_init(&settings_);
    settings_.on_message_begin = [](http_parser* p) { return Self(p)->OnBegin(); };
    settings_.on_url = [](http_parser* p, const char* at, size_t n) {
      auto* s = Self(p);
      if (s->req_.target.size() + n > kMaxTarget) {
        s->SendError(414, "request target longer than " + std::to_string(kMaxTarget) + " bytes");
        return -1;
      }
      if (!s->Charge(n)) return -1;
      s->req_.target.append(at, n);
      return 0;
    };
    settings_.on_header_field = [](http_parser* p, const char* at, size_t n) {
      return Self(p)->OnField(at, n);
    };
    settings_.on_header_value = [](http_parser* p, const char* at, size_t n) {
      auto* s = Self(p);
      if (!s->Charge(n)) return -1;
      s->req_.headers.back().second.append(at, n);
      s->in_value_ = true;
      return 0;
    };
    settings_.on_headers_complete = [](http_parser* p) { return Self(p)->OnHeadersComplete(); };
    settings_.on_body = [](http_parser* p, const char* at, size_t n) {
      return Self(p)->OnBody(at, n);
    };
    settings_.on_message_complete = [](http_parser* p) { return Self(p)->OnComplete(); };
  }

  ~Http1Session() override {
    if (writer_) writer_->Detach();
    if (deferred_) deferred_->Detach();
    ReleaseCharged();
  }

  bool Feed(const char* data, size_t n) override {
    if (fatal_ || writer_) return !fatal_;  // input after a streamed response is ignored
    if (stalled_) {  // not expected: the connection stops reading while stalled
      backlog_.append(data, n);
      return true;
    }
    // Bytes between requests (empty lines the parser skips) start the request clock too, so that
    // a peer cannot hold the connection open by sending them slowly.
    if (!in_message_) conn_->RequestStarted();
    in_parser_ = true;
    size_t used = http_parser_execute(&parser_, &settings_, data, n);
    in_parser_ = false;
    if (fatal_) return false;
    if (parser_.http_errno != HPE_OK || used != n) {
      if (parser_.http_errno == HPE_PAUSED) {
        if (stalled_) backlog_.assign(data + used, n - used);
        // An answer deferred and completed within this parse: go on with what follows.
        if (stalled_ && !deferred_ && !close_ && !conn_->OutputFull()) return Resume();
        return !close_;
      }
      std::string msg = std::string("malformed HTTP/1.1 request: ") +
                        http_errno_description(static_cast<http_errno>(parser_.http_errno));
      SendError(400, msg);
      return false;
    }
    return !close_;
  }

  bool Busy() const override { return (writer_ != nullptr && writer_->open()) || deferred_; }
  bool Stalled() const override { return stalled_; }

  bool AnswerTimeout() override {
    if (fatal_ || writer_ || deferred_ || !in_message_) return false;
    SendError(408, "request not received within " +
                       std::to_string(conn_->options().request_timeout_ms) + " ms");
    return true;
  }

  bool Resume() override {
    if (!stalled_ || deferred_) return true;  // a deferred answer resumes when it completes
    stalled_ = false;
    http_parser_pause(&parser_, 0);
    std::string rest = std::move(backlog_);
    backlog_.clear();
    if (rest.empty()) return !close_;
    return Feed(rest.data(), rest.size());
  }

 private:
  static Http1Session* Self(http_parser* p) { return static_cast<Http1Session*>(p->data); }

  void ReleaseCharged() {
    conn_->ReleaseRequest(charged_);
    charged_ = 0;
  }

  // Charges `n` more bytes of the current request (head or body) to the server's budget; false
  // (and a 503 queued) when full.
  bool Charge(size_t n) {
    if (conn_->ChargeRequest(n)) {
      charged_ += n;
      return true;
    }
    SendError(503, "the server holds too many request bytes; retry later");
    return false;
  }

  int OnBegin() {
    ReleaseCharged();
    body_reserved_ = false;
    req_ = HttpRequest();
    req_.peer = conn_->peer();
    req_.local_peer = conn_->local_peer();
    in_value_ = false;
    in_message_ = true;
    conn_->RequestStarted();
    return 0;
  }

  int OnField(const char* at, size_t n) {
    if (!Charge(n)) return -1;
    if (in_value_ || req_.headers.empty()) req_.headers.emplace_back();
    in_value_ = false;
    std::string& name = req_.headers.back().first;
    for (size_t i = 0; i < n; i++) {
      name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(at[i]))));
    }
    return 0;
  }

  int OnHeadersComplete() {
    req_.method = http_method_str(static_cast<http_method>(parser_.method));
    size_t limit = conn_->options().max_body_size;
    // content_length is ULLONG_MAX when absent.
    if (parser_.content_length != ULLONG_MAX && parser_.content_length > limit) {
      SendError(413, "request body of " + std::to_string(parser_.content_length) +
                         " bytes exceeds the limit of " + std::to_string(limit) + " bytes");
      return -1;
    }
    // RFC 9112 section 3.2: an HTTP/1.1 request without Host is answered 400.
    if (parser_.http_major == 1 && parser_.http_minor >= 1 && req_.Header("host") == nullptr) {
      SendError(400, "HTTP/1.1 request without a Host header");
      return -1;
    }
    // The head's bytes were charged as they came; the body's are reserved here.
    if (parser_.content_length != ULLONG_MAX) {
      if (!Charge(parser_.content_length)) return -1;
      body_reserved_ = true;
    }
    const std::string* expect = req_.Header("expect");
    if (expect != nullptr && (*expect == "100-continue" || *expect == "100-Continue")) {
      conn_->Queue("HTTP/1.1 100 Continue\r\n\r\n");
      conn_->Flush();
    }
    // +16: JSON parsers with SIMD scanners read a little past the end (see kinesis_api.cc).
    if (parser_.content_length != ULLONG_MAX) req_.body.reserve(parser_.content_length + 16);
    return 0;
  }

  int OnBody(const char* at, size_t n) {
    size_t limit = conn_->options().max_body_size;
    if (req_.body.size() + n > limit) {
      SendError(413, "request body exceeds the limit of " + std::to_string(limit) + " bytes");
      return -1;
    }
    if (!body_reserved_ && !Charge(n)) return -1;  // chunked: charged as it comes
    req_.body.append(at, n);
    return 0;
  }

  int OnComplete() {
    conn_->RequestFinished();
    in_message_ = false;
    keep_alive_ = http_should_keep_alive(&parser_) != 0;
    head_ = parser_.method == HTTP_HEAD;
    HttpResponse resp;
    if (conn_->ServerFull()) {
      resp.status = 503;
      resp.headers.emplace_back("Content-Type", "text/plain");
      resp.headers.emplace_back("Retry-After", "1");
      resp.body = "the server holds too many unsent answers; retry later\n";
    } else {
      conn_->handler()(req_, &resp);
    }
    req_.body = std::string();
    if (resp.defer) {
      // Parse nothing more until the answer comes (the request's bytes stay charged).
      stalled_ = true;
      http_parser_pause(&parser_, 1);
      deferred_ = std::make_shared<Http1Responder>(this);
      auto defer = std::move(resp.defer);
      defer(deferred_);
      return 0;
    }
    ReleaseCharged();
    if (resp.stream) {
      std::string* out = conn_->out();
      AppendHead(resp, out);
      out->append("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
      writer_ = std::make_shared<Http1BodyWriter>(conn_);
      conn_->Flush();
      http_parser_pause(&parser_, 1);
      resp.stream(writer_);
      return 0;
    }
    Answer(std::move(resp));
    return 0;
  }

 public:
  // The deferred answer (Http1Responder::Complete): queued, then the requests that came after
  // it are parsed.
  void Completed(HttpResponse resp) {
    deferred_.reset();
    ReleaseCharged();
    resp.stream = nullptr;
    Answer(std::move(resp));
    if (in_parser_) return;  // Feed goes on once the parser returns
    bool ok = !close_;
    if (ok && !conn_->OutputFull()) ok = Resume();
    if (!ok) conn_->CloseAfterWrite();
    conn_->SessionProgressed();
  }

 private:
  void AppendHead(const HttpResponse& resp, std::string* out) {
    AppendStatusLine(resp.status, out);
    for (const auto& [k, v] : resp.headers) {
      out->append(k).append(": ").append(v).append("\r\n");
    }
    out->append("Server: ").append(conn_->options().server_name).append("\r\n");
  }

  // Queues a whole answer to the current request; pauses the parser when answers pile up.
  void Answer(HttpResponse resp) {
    std::string* out = conn_->out();
    AppendHead(resp, out);
    out->append("Content-Length: ").append(std::to_string(resp.body.size())).append("\r\n");
    out->append(keep_alive_ ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
    if (!head_) conn_->QueueOwned(std::move(resp.body));
    if (!keep_alive_) {
      close_ = true;
    } else if (conn_->OutputFull()) {
      // Answers are piling up unread: parse nothing more until they drain.
      stalled_ = true;
      http_parser_pause(&parser_, 1);
    }
  }

  void SendError(int status, const std::string& message) {
    fatal_ = true;
    std::string* out = conn_->out();
    AppendStatusLine(status, out);
    out->append("Content-Type: text/plain\r\nConnection: close\r\nContent-Length: ");
    out->append(std::to_string(message.size() + 1)).append("\r\n\r\n");
    out->append(message).append("\n");
  }

  Connection* conn_;
  http_parser parser_;
  http_parser_settings settings_;
  HttpRequest req_;
  bool in_value_ = false;
  bool in_message_ = false;  // between a request's first byte and its last
  bool fatal_ = false;
  bool close_ = false;
  bool stalled_ = false;
  std::string backlog_;         // received while stalled, not parsed yet
  size_t charged_ = 0;          // bytes of the current request charged to the server's budget
  bool body_reserved_ = false;  // its Content-Length was charged at the head
  std::shared_ptr<Http1BodyWriter> writer_;
  std::shared_ptr<Http1Responder> deferred_;  // the answer the connection waits for
  bool in_parser_ = false;                    // inside http_parser_execute
  bool keep_alive_ = true;                    // of the current request
  bool head_ = false;                         // the current request is a HEAD
};

void Http1Responder::Complete(HttpResponse response) {
  if (session_ == nullptr) return;
  Http1Session* s = session_;
  session_ = nullptr;
  s->Completed(std::move(response));
}

}  // namespace

std::unique_ptr<ProtocolSession> NewHttp1Session(Connection* conn) {
  return std::make_unique<Http1Session>(conn);
}

}  // namespace sluice::http
