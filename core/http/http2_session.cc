// Cleartext HTTP/2 (prior knowledge) on a connection, through nghttp2's server session. Frames
// are read with nghttp2_session_mem_recv and written with nghttp2_session_mem_send into the
// connection's write queue, so each read turns into at most one socket write.
//
// What a peer can make the session hold is bounded: at most kMaxStreams concurrent streams with a
// kStreamWindow receive window each; a header list past kMaxHeaderList (counted as RFC 9113
// counts it, decoded) resets its stream; a request arriving while the connection's unsent answers
// are at its output bound, or while the server is past its buffered-bytes budget, is refused
// with REFUSED_STREAM before any work is done; request bodies are charged to the server budget.
// A body past the body limit (by its content-length, or by the DATA that came) is answered 413
// and, once the answer is out, the stream is reset (NO_ERROR) so that the peer stops sending;
// what it sends meanwhile is dropped, not kept.
//
// Activity, for the idle timeout, is what streams do: a request's frames arriving, an answer's
// frames going out, a stream closing. Frames of the connection alone (PING, SETTINGS,
// WINDOW_UPDATE on stream 0) do not keep a connection without streams open.
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>

#include "core/http/http_connection.h"

namespace sluice::http {
namespace {

constexpr uint32_t kMaxStreams = 100;
constexpr uint32_t kStreamWindow = 256 * 1024;
constexpr int32_t kConnectionWindow = 2 << 20;
constexpr size_t kMaxHeaderList = 64 * 1024;

class Http2Session;

// The body of one streamed HTTP/2 response: DATA frames drawn from `pending_`.
class Http2BodyWriter final : public HttpBodyWriter {
 public:
  Http2BodyWriter(Http2Session* session, int32_t stream_id)
      : session_(session), stream_id_(stream_id) {}
  void Write(std::string_view bytes) override;
  void End() override;
  bool open() const override { return session_ != nullptr && !ended_; }
  size_t pending_bytes() const override;
  void SetOnClose(std::function<void()> cb) override { on_close_ = std::move(cb); }
  void Detach() {
    if (!session_) return;
    session_ = nullptr;
    if (on_close_) {
      auto cb = std::move(on_close_);
      on_close_ = nullptr;
      cb();
    }
  }

  std::string pending_;
  size_t offset_ = 0;
  bool ended_ = false;

 private:
  Http2Session* session_;
  int32_t stream_id_;
  std::function<void()> on_close_;
};

// The deferred answer of one stream.
class Http2Responder final : public HttpResponder {
 public:
  Http2Responder(Http2Session* session, int32_t stream_id)
      : session_(session), stream_id_(stream_id) {}
  void Complete(HttpResponse response) override;
  void Detach() { session_ = nullptr; }

 private:
  Http2Session* session_;
  int32_t stream_id_;
};

struct Http2Stream {
  int32_t id = 0;
  HttpRequest request;
  bool responded = false;
  bool receiving = true;
  bool too_large = false;        // its content-length passes the body limit
  bool reset_when_sent = false;  // once the answer is out, RST_STREAM NO_ERROR if still open
  size_t header_bytes = 0;       // decoded, with RFC 9113's 32 bytes of overhead per field
  size_t charged = 0;            // request body bytes charged to the server's budget
  std::string body;              // response body
  size_t body_offset = 0;
  std::shared_ptr<Http2BodyWriter> writer;
};

class Http2Session final : public ProtocolSession {
 public:
  explicit Http2Session(Connection* conn) : conn_(conn) {}

  ~Http2Session() override {
    for (auto& [id, r] : deferred_) r->Detach();
    for (auto& [id, st] : streams_) {
      if (st->writer) st->writer->Detach();
      conn_->ReleaseRequest(st->charged);
    }
    streams_.clear();
    if (session_) nghttp2_session_del(session_);
  }

  bool Init() {
    nghttp2_session_callbacks* cbs = nullptr;
    if (nghttp2_session_callbacks_new(&cbs) != 0) return false;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, OnBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(cbs, OnHeader);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, OnDataChunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, OnFrameRecv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, OnStreamClose);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, OnFrameSend);
    int rc = nghttp2_session_server_new(&session_, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0) return false;
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxStreams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(kMaxHeaderList)},
    };
    if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 3) != 0) return false;
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
    return true;
  }

  bool Feed(const char* data, size_t n) override {
    if (n > 0) {
      in_recv_ = true;
      ssize_t rc = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(data), n);
      in_recv_ = false;
      if (rc < 0) return false;
    }
    return Pump();
  }

  bool Busy() const override { return streaming_ > 0 || !deferred_.empty(); }
  bool TracksActivity() const override { return true; }

  // The deferred answer of stream `id` (Http2Responder::Complete); dropped when the peer reset
  // the stream meanwhile.
  void Completed(int32_t id, HttpResponse resp) {
    deferred_.erase(id);
    Http2Stream* st = Find(id);
    if (st == nullptr || st->responded) return;
    conn_->ReleaseRequest(st->charged);
    st->charged = 0;
    resp.stream = nullptr;
    Respond(st, std::move(resp));
    if (in_recv_) return;  // Feed() pumps once nghttp2 returns
    if (!Pump()) conn_->CloseAfterWrite();
    conn_->SessionProgressed();
  }

  size_t HeldBytes() const override {
    size_t n = 0;
    for (const auto& [id, st] : streams_) {
      n += st->body.size() - st->body_offset;
      if (st->writer) n += st->writer->pending_.size() - st->writer->offset_;
    }
    return n;
  }

  // Moves every frame nghttp2 wants to send into the connection's queue.
  bool Pump() {
    for (;;) {
      const uint8_t* bytes = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_, &bytes);
      if (n < 0) return false;
      if (n == 0) break;
      conn_->Queue(std::string_view(reinterpret_cast<const char*>(bytes), n));
    }
    return nghttp2_session_want_read(session_) || nghttp2_session_want_write(session_);
  }

  void ResumeStream(int32_t id) {
    nghttp2_session_resume_data(session_, id);
    if (in_recv_) return;  // Feed() pumps once nghttp2 returns
    if (!Pump()) conn_->CloseAfterWrite();
    conn_->Flush();
  }

  size_t QueuedBytes() const { return conn_->pending_write_bytes(); }

 private:
  static Http2Session* Self(void* p) { return static_cast<Http2Session*>(p); }

  Http2Stream* Find(int32_t id) {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second.get();
  }

  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto* self = Self(user);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    auto st = std::make_unique<Http2Stream>();
    st->id = frame->hd.stream_id;
    st->request.http2 = true;
    st->request.peer = self->conn_->peer();
    st->request.local_peer = self->conn_->local_peer();
    self->streams_[st->id] = std::move(st);
    self->receiving_++;
    self->conn_->RequestStarted();
    self->conn_->Touch();
    return 0;
  }

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    Http2Stream* st = Self(user)->Find(frame->hd.stream_id);
    if (st == nullptr) return 0;
    st->header_bytes += namelen + valuelen + 32;
    // Past the advertised SETTINGS_MAX_HEADER_LIST_SIZE: nghttp2 resets the stream and calls
    // no more header callbacks for it.
    if (st->header_bytes > kMaxHeaderList) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (!Self(user)->conn_->ChargeRequest(namelen + valuelen)) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    st->charged += namelen + valuelen;
    std::string_view k(reinterpret_cast<const char*>(name), namelen);
    std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (k == "content-length") {
      // Past the body limit: answered 413 at the end of the headers, before any DATA is taken.
      uint64_t length = 0;
      bool digits = !v.empty() && v.size() <= 19;
      for (char ch : v) {
        digits = digits && ch >= '0' && ch <= '9';
        if (digits) length = length * 10 + static_cast<uint64_t>(ch - '0');
      }
      if (digits && length > Self(user)->conn_->options().max_body_size) st->too_large = true;
    }
    if (k == ":method") {
      st->request.method = v;
    } else if (k == ":path") {
      st->request.target = v;
    } else if (k == ":authority") {
      // Kept under both names: SDKs sign ":authority" over HTTP/2 and "host" over HTTP/1.1.
      st->request.headers.emplace_back(k, v);
      if (st->request.Header("host") == nullptr) st->request.headers.emplace_back("host", v);
    } else if (!k.empty() && k[0] != ':') {
      st->request.headers.emplace_back(k, v);  // nghttp2 enforces lowercase names
    }
    return 0;
  }

  static int OnDataChunk(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                         void* user) {
    auto* self = Self(user);
    Http2Stream* st = self->Find(id);
    if (st == nullptr || st->responded) return 0;
    self->conn_->Touch();
    if (st->request.body.size() + len > self->conn_->options().max_body_size) {
      self->TooLarge(st);
      return 0;
    }
    if (!self->conn_->ChargeRequest(len)) {
      self->Refuse(st);
      return 0;
    }
    st->charged += len;
    st->request.body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto* self = Self(user);
    if (frame->hd.type == NGHTTP2_HEADERS) {
      Http2Stream* st = self->Find(frame->hd.stream_id);
      if (st != nullptr && st->too_large && !st->responded) {
        self->TooLarge(st);
        return 0;
      }
    }
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) {
      return 0;
    }
    Http2Stream* st = self->Find(frame->hd.stream_id);
    if (st == nullptr || st->responded) return 0;
    if (self->conn_->OutputFull() || self->conn_->ServerFull()) {
      self->Refuse(st);
      return 0;
    }
    self->FinishReceiving(st);
    HttpResponse resp;
    self->conn_->handler()(st->request, &resp);
    st->request.body = std::string();
    if (resp.defer) {  // the request's bytes stay charged until the answer
      auto r = std::make_shared<Http2Responder>(self, st->id);
      self->deferred_[st->id] = r;
      auto defer = std::move(resp.defer);
      defer(r);
      return 0;
    }
    self->conn_->ReleaseRequest(st->charged);
    st->charged = 0;
    self->Respond(st, std::move(resp));
    return 0;
  }

  // An answer's frames going out are activity; after the last frame of an answer to a body that
  // was too large, the stream is reset so that the peer stops sending it.
  static int OnFrameSend(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    auto* self = Self(user);
    if (frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS) return 0;
    self->conn_->Touch();
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) return 0;
    Http2Stream* st = self->Find(frame->hd.stream_id);
    if (st == nullptr || !st->reset_when_sent) return 0;
    st->reset_when_sent = false;
    // A peer that has ended its side of the stream meanwhile needs no reset.
    nghttp2_stream* s = nghttp2_session_find_stream(session, st->id);
    nghttp2_stream_proto_state state =
        s != nullptr ? nghttp2_stream_get_state(s) : NGHTTP2_STREAM_STATE_CLOSED;
    if (state == NGHTTP2_STREAM_STATE_OPEN || state == NGHTTP2_STREAM_STATE_HALF_CLOSED_LOCAL) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
    }
    return 0;
  }

  static int OnStreamClose(nghttp2_session*, int32_t id, uint32_t, void* user) {
    auto* self = Self(user);
    self->conn_->Touch();
    auto it = self->streams_.find(id);
    if (it == self->streams_.end()) return 0;
    Http2Stream* st = it->second.get();
    self->FinishReceiving(st);
    self->conn_->ReleaseRequest(st->charged);
    if (st->writer) {
      self->streaming_--;
      st->writer->Detach();
    }
    self->streams_.erase(it);
    return 0;
  }

  // 413 for a body past the limit; the stream is reset once the answer is out (RFC 9113 8.1: a
  // server may answer before the request is complete and then ask the peer to stop, NO_ERROR).
  // The body taken so far is dropped.
  void TooLarge(Http2Stream* st) {
    size_t limit = conn_->options().max_body_size;
    HttpResponse resp;
    resp.status = 413;
    resp.headers.emplace_back("content-type", "text/plain");
    resp.body = "request body exceeds the limit of " + std::to_string(limit) + " bytes\n";
    FinishReceiving(st);
    st->request.body = std::string();
    conn_->ReleaseRequest(st->charged);
    st->charged = 0;
    st->reset_when_sent = true;
    Respond(st, std::move(resp));
  }

  // RST_STREAM REFUSED_STREAM: the request was not processed and may be retried (RFC 9113 8.7).
  void Refuse(Http2Stream* st) {
    st->responded = true;
    FinishReceiving(st);
    st->request.body = std::string();
    conn_->ReleaseRequest(st->charged);
    st->charged = 0;
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_REFUSED_STREAM);
  }

  void FinishReceiving(Http2Stream* st) {
    if (!st->receiving) return;
    st->receiving = false;
    if (--receiving_ == 0) conn_->RequestFinished();
  }

  static ssize_t ReadBody(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                          nghttp2_data_source* source, void*) {
    auto* st = static_cast<Http2Stream*>(source->ptr);
    if (st->writer) {
      Http2BodyWriter* w = st->writer.get();
      size_t n = std::min(length, w->pending_.size() - w->offset_);
      memcpy(buf, w->pending_.data() + w->offset_, n);
      w->offset_ += n;
      if (w->offset_ == w->pending_.size()) {
        w->pending_.clear();
        w->offset_ = 0;
        if (w->ended_) {
          *flags |= NGHTTP2_DATA_FLAG_EOF;
          return static_cast<ssize_t>(n);
        }
        if (n == 0) return NGHTTP2_ERR_DEFERRED;
      }
      return static_cast<ssize_t>(n);
    }
    size_t n = std::min(length, st->body.size() - st->body_offset);
    memcpy(buf, st->body.data() + st->body_offset, n);
    st->body_offset += n;
    if (st->body_offset == st->body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  void Respond(Http2Stream* st, HttpResponse resp) {
    st->responded = true;
    std::vector<std::string> names;  // lowercase copies, alive until submit returns
    names.reserve(resp.headers.size());
    std::string status = std::to_string(resp.status);
    std::string length = std::to_string(resp.body.size());
    std::vector<nghttp2_nv> nva;
    auto add = [&nva](std::string_view k, std::string_view v) {
      nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(k.data())),
                     reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), k.size(), v.size(),
                     NGHTTP2_NV_FLAG_NONE});
    };
    add(":status", status);
    for (const auto& [k, v] : resp.headers) {
      std::string lower(k);
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (lower == "connection" || lower == "keep-alive" || lower == "transfer-encoding" ||
          lower == "content-length") {
        continue;
      }
      names.push_back(std::move(lower));
      add(names.back(), v);
    }
    if (!resp.stream) add("content-length", length);
    add("server", conn_->options().server_name);
    nghttp2_data_provider prd;
    prd.source.ptr = st;
    prd.read_callback = ReadBody;
    if (resp.stream) {
      st->writer = std::make_shared<Http2BodyWriter>(this, st->id);
      streaming_++;
    } else {
      st->body = std::move(resp.body);
    }
    nghttp2_submit_response(session_, st->id, nva.data(), nva.size(), &prd);
    if (resp.stream) resp.stream(st->writer);
  }

  Connection* conn_;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, std::unique_ptr<Http2Stream>> streams_;
  std::map<int32_t, std::shared_ptr<Http2Responder>> deferred_;  // answers still to come
  int receiving_ = 0;
  int streaming_ = 0;
  bool in_recv_ = false;

  friend class Http2BodyWriter;
};

void Http2BodyWriter::Write(std::string_view bytes) {
  if (!open() || bytes.empty()) return;
  pending_.append(bytes);
  session_->ResumeStream(stream_id_);
}

void Http2BodyWriter::End() {
  if (!open()) return;
  ended_ = true;
  session_->ResumeStream(stream_id_);
}

void Http2Responder::Complete(HttpResponse response) {
  if (session_ == nullptr) return;
  Http2Session* s = session_;
  session_ = nullptr;
  s->Completed(stream_id_, std::move(response));
}

size_t Http2BodyWriter::pending_bytes() const {
  return (pending_.size() - offset_) + (session_ ? session_->QueuedBytes() : 0);
}

}  // namespace

std::unique_ptr<ProtocolSession> NewHttp2Session(Connection* conn) {
  auto s = std::make_unique<Http2Session>(conn);
  if (!s->Init()) return nullptr;
  return s;
}

}  // namespace sluice::http
