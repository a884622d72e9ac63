// A small HTTP server on a libuv loop: HTTP/1.1 with keep-alive (http-parser) and HTTP/2
// (nghttp2, chosen when a connection opens with the HTTP/2 preface: prior knowledge in clear,
// or after ALPN chose h2 on TLS). With `tls` set every connection is TLS (core/http/tls_server.h).
//
// Requests are handed to one handler as method, target, headers and a complete body; the handler
// answers with status, headers and either a body or a streamed body (HttpBodyWriter). Bodies over
// `max_body_size` get 413 with a message naming the limit, before any of the body is held when
// the length is announced; then HTTP/1.1 closes the connection and HTTP/2 resets the stream
// (NO_ERROR) once the answer is out.
//
// What a peer can hold open is bounded in time. A connection on which nothing moves for
// `idle_timeout` is closed: no request bytes arrive and the peer takes no answer bytes (HTTP/2
// counts its streams' frames only, so PINGs and SETTINGS keep nothing open; a streamed or
// deferred answer keeps the connection open while none of it waits for the peer). A request
// that takes longer than `request_timeout` from its first byte to its last is cut (HTTP/1.1 with
// 408); bytes before a request (empty lines, the HTTP/2 preface) run that clock too. Past
// `max_connections` a new connection is closed as soon as it is accepted; out of file
// descriptors, libuv accepts and closes pending connections with a descriptor it keeps aside,
// so the listener does not spin.
//
// THREADING: everything runs on the loop's thread: Create, Start, Stop, the handler and every
// HttpBodyWriter and HttpResponder method. OWNERSHIP: the loop is not owned and must outlive the
// server; the server must not be destroyed before the `on_closed` callback of Stop() has run (or
// before Start()).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace sluice::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

class TlsServerContext;

struct HttpRequest {
  std::string method;
  std::string target;  // path and query as received
  Headers headers;     // names lowercased, in arrival order
  std::string body;
  bool http2 = false;
  std::string peer;  // "ip:port", or "unix:uid=<uid>" on a Unix socket
  // Arrived on a Unix socket whose peer runs as this process's user or root (checked when the
  // connection was accepted; others are closed unanswered).
  bool local_peer = false;

  // The first value of a header (name in lowercase), or nullptr.
  const std::string* Header(std::string_view lower_name) const;
};

// A streamed response body. Write() queues bytes; End() finishes the response. Once the peer
// goes away (or the server stops) open() turns false, writes are dropped and the on-close
// callback runs once. Held by the handler through a shared_ptr; safe to outlive the connection.
class HttpBodyWriter {
 public:
  virtual ~HttpBodyWriter() = default;
  virtual void Write(std::string_view bytes) = 0;
  virtual void End() = 0;
  virtual bool open() const = 0;
  // Bytes queued but not yet handed to the socket (for back-pressure).
  virtual size_t pending_bytes() const = 0;
  virtual void SetOnClose(std::function<void()> on_close) = 0;
};

struct HttpResponse;

// An answer the handler gives later (its work runs on another thread): Complete() hands it to
// the connection, on the loop's thread, never from inside the `defer` callback itself. Once the
// connection or the HTTP/2 stream is gone, Complete drops the answer. Meanwhile an HTTP/1.1
// connection reads no further request (answers stay in order); HTTP/2 streams go on.
class HttpResponder {
 public:
  virtual ~HttpResponder() = default;
  virtual void Complete(HttpResponse response) = 0;
};

struct HttpResponse {
  int status = 200;
  Headers headers;
  std::string body;
  // When set, `body` is ignored and the response is streamed: the callback gets the writer once
  // the headers are queued (HTTP/2: DATA frames; HTTP/1.1: chunked encoding).
  std::function<void(std::shared_ptr<HttpBodyWriter>)> stream;
  // When set, everything else is ignored: the callback gets the responder that answers later
  // (a deferred answer is not streamed). The request's bytes stay charged until it does.
  std::function<void(std::shared_ptr<HttpResponder>)> defer;
};

using HttpHandler = std::function<void(HttpRequest& request, HttpResponse* response)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port (see HttpServer::port())
  size_t max_body_size = 8 << 20;
  uint64_t idle_timeout_ms = 120000;    // nothing moves on the connection (see above)
  uint64_t request_timeout_ms = 30000;  // from a request's first byte to its last
  // Each open connection costs about 1 KiB of memory idle over HTTP/1.1 and 14 KiB over HTTP/2
  // (session state), on top of what it holds under `max_buffered_bytes`.
  int max_connections = 2048;
  // Memory a peer can make the server hold. A connection whose unsent answers pass
  // `max_connection_output` stops being read (HTTP/1.1 pipelining, an HTTP/2 peer that grants no
  // window) until they drain. Across all connections, request bodies being received plus answers
  // not yet sent are held under `max_buffered_bytes`: past it a new request gets 503 (HTTP/2:
  // REFUSED_STREAM) and does no work. Request heads count against it too.
  size_t max_connection_output = 4 << 20;
  size_t max_buffered_bytes = 64 << 20;
  std::string server_name = "sluice";
  // Set: listen on this Unix socket path instead of host:port (created owner-only, replacing a
  // stale socket file; only peers running as this process's user or root are served).
  std::string unix_path;
  // Set: connections are TLS with this context (shared, so a reload reaches every server using
  // it). Unset: plaintext.
  std::shared_ptr<TlsServerContext> tls;
};

class HttpServer final {
 public:
  static Result<std::unique_ptr<HttpServer>> Create(uv_loop_t* loop, HttpServerOptions options,
                                                    HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens. Errors name the address. Once Start() has been called (even when it
  // failed), Stop() must run and its callback fire before the server is destroyed.
  Status Start();
  // Closes the listener and every connection; `on_closed` runs once every handle is closed.
  void Stop(std::function<void()> on_closed);
  int port() const { return port_; }
  size_t connection_count() const;
  // Request bodies being received plus answers not yet sent, over all connections.
  size_t buffered_bytes() const;
  // TLS handshakes that failed (no common version or cipher, a client certificate missing or
  // not trusted, bytes that are not TLS).
  uint64_t tls_handshake_failures() const;

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

// "Bad Request" etc.; "Unknown" for codes it does not know.
std::string_view StatusText(int status);

}  // namespace sluice::http
