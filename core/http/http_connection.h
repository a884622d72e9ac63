// Internal to the HTTP server: one accepted TCP connection and the protocol session behind it.
//
// THREADING: loop thread only. OWNERSHIP: the server's Impl owns every Connection; a Connection
// owns its session and frees itself in its close callback.
#pragma once

#include <openssl/ssl.h>
#include <uv.h>

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/http/http_server.h"

namespace sluice::http {

class Connection;

// A protocol on top of a connection: HTTP/1.1 or HTTP/2.
class ProtocolSession {
 public:
  virtual ~ProtocolSession() = default;
  // Consumes received bytes. Returns false when the connection must close (after flushing).
  virtual bool Feed(const char* data, size_t n) = 0;
  // True while a streamed response is being written (no idle timeout then).
  virtual bool Busy() const = 0;
  // Answer bytes the session holds that are not in the connection's write queue yet (HTTP/2
  // bodies waiting for flow-control window).
  virtual size_t HeldBytes() const { return 0; }
  // True while the session has received bytes it has not parsed yet because answers are
  // waiting to drain (HTTP/1.1 pipelining); Resume() parses them once the connection drained.
  // Resume returns false when the connection must close.
  virtual bool Stalled() const { return false; }
  virtual bool Resume() { return true; }
  // True when the session says itself what counts as activity (Connection::Touch) for the idle
  // timeout; false: every byte read or written does. HTTP/2 counts its streams' frames only, so
  // that PINGs or SETTINGS sent to keep a connection open do not.
  virtual bool TracksActivity() const { return false; }
  // The request in progress took longer than the request timeout: queues the answer that says
  // so (HTTP/1.1: 408) and returns true, or returns false when there is none to give. The
  // connection closes either way.
  virtual bool AnswerTimeout() { return false; }
};

std::unique_ptr<ProtocolSession> NewHttp1Session(Connection* conn);
// Returns nullptr if nghttp2 fails to set up.
std::unique_ptr<ProtocolSession> NewHttp2Session(Connection* conn);

class Connection final {
 public:
  Connection(HttpServer::Impl* server, uv_loop_t* loop, bool unix_socket);
  ~Connection();
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&handle_); }
  bool local_peer() const { return local_peer_; }

  // Queues bytes for the socket; Flush() hands the queue to libuv in one write.
  void Queue(std::string_view bytes) { out_.append(bytes); }
  std::string* out() { return &out_; }
  // Queues a large buffer without copying it (a response body): it becomes its own iovec.
  void QueueOwned(std::string&& bytes);
  void Flush();
  // Closes once queued writes are done.
  void CloseAfterWrite();
  void Close();
  bool closing() const { return closing_; }
  size_t pending_write_bytes() const { return writing_bytes_ + out_.size() + segments_bytes_; }

  void OnRead(const char* data, ssize_t n);
  // Makes the connection TLS (before its first byte is read); false: out of memory.
  bool StartTls(SSL* ssl);
  // Whether answers waiting on this connection are at its bound: a session stops taking requests.
  bool OutputFull() const;
  // Server-wide budget for requests being received, heads and bodies (see
  // HttpServerOptions::max_buffered_bytes). ChargeRequest fails, charging nothing, when `n` more
  // would pass the budget; what a connection charged and did not release is released when it
  // closes.
  bool ChargeRequest(size_t n);
  void ReleaseRequest(size_t n);
  // Whether the server is past its buffered-bytes budget (a new request must be refused).
  bool ServerFull() const;
  void StartReading();
  void RequestStarted();   // the first byte of a request arrived
  void RequestFinished();  // a whole request arrived
  void Touch();            // activity: the idle timeout starts again
  // After a session queued bytes outside Feed (a deferred answer): writes them and reads again
  // when the session no longer holds back.
  void SessionProgressed();

  const HttpServerOptions& options() const;
  HttpHandler& handler();
  const std::string& peer() const { return peer_; }
  uint64_t Now() const { return uv_now(loop_); }
  bool TimedOut(uint64_t now) const;
  // Closes a connection past its timeout, after the answer the session gives (a 408).
  void CloseTimedOut(uint64_t now);

  std::list<Connection*>::iterator self;  // position in the server's list

 private:
  friend struct HttpServer::Impl;
  static void OnWriteDone(uv_write_t* req, int status);
  // Brings the server's count of held bytes up to date with this connection's and stops or
  // resumes reading by the output bound.
  void Account();
  void FeedSession(const char* data, size_t n);
  // TLS: ciphertext in, the handshake advanced, plaintext handed to FeedSession.
  void TlsRead(const char* data, size_t n);
  // TLS: the plaintext queued (out_, segments_) encrypted, and every byte the TLS engine has for
  // the peer (handshake, alerts, records) taken into `into`.
  void TlsSeal(std::vector<std::string>* into);

  union Handle {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } handle_;
  bool unix_ = false;
  bool local_peer_ = false;  // a Unix-socket peer of our user (or root)
  HttpServer::Impl* server_;
  uv_loop_t* loop_;
  std::unique_ptr<ProtocolSession> session_;
  std::string detect_;  // first bytes, until the protocol is known
  std::string out_;
  std::vector<std::string> segments_;  // queued before out_, in order
  size_t segments_bytes_ = 0;
  std::string peer_;
  size_t writing_bytes_ = 0;
  int writes_in_flight_ = 0;
  bool close_after_write_ = false;
  bool closing_ = false;
  uint64_t last_activity_ms_ = 0;
  uint64_t request_started_ms_ = 0;  // 0: no request in progress
  size_t accounted_output_ = 0;      // part of the server's held bytes that is this output
  size_t charged_request_ = 0;       // part of the server's held bytes that is requests
  bool reading_ = false;
  SSL* ssl_ = nullptr;                  // owned; null on a plaintext connection
  BIO* tls_in_ = nullptr;               // owned by ssl_: ciphertext received
  BIO* tls_out_ = nullptr;              // owned by ssl_: ciphertext to send
  bool tls_ready_ = false;              // handshake done
  bool closing_pending_error_ = false;  // the TLS engine failed to seal: close
};

}  // namespace sluice::http
