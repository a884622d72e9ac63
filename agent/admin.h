// The admin HTTP endpoint (127.0.0.1:4195 by default):
//   GET  /          the status page: one self-contained HTML page polling /status
//   GET  /health    liveness and per-sink health (JSON; 503 when a component is failing)
//   GET  /metrics   Prometheus text, names after the Kinesis and Firehose CloudWatch metrics
//   GET  /status    JSON: streams, shards, consumers and lag, sources and files, deliveries
//   POST /reload    re-reads the configuration (as SIGHUP does); 400 with the errors if invalid;
//                   needs the header X-Sluice-Admin (which no HTML form can send) or the token
//   POST /api       the Kinesis Data Streams JSON API (X-Amz-Target: Kinesis_20131202.*), used by
//                   `sluice streams` and `sluice cat` so they work without broker.api.listen
// Every answer is built by the daemon's callbacks on the loop thread; the endpoint holds no state.
// Without a token it listens on loopback only (config check) and refuses requests with a
// non-loopback Host or a foreign Origin (core/http/local_only.h), so web pages cannot reach it.
// With a token (admin.auth), POST /reload and POST /api need `Authorization: Bearer <token>`
// wherever it listens, and on a non-loopback address every path but /health does too; a request
// carrying the token is not a browser page's, so its Host is not checked. On admin.socket (a Unix
// socket, owner-only) a peer of the daemon's user or root may do everything without the token.
//
// THREADING: loop thread only. OWNERSHIP: the loop must outlive the endpoint; destroy it only after
// Stop()'s callback ran.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/http/http_server.h"
#include "core/http/tls_server.h"
#include "core/status.h"

namespace sluice::agent {

// One Prometheus sample: `name{labels} value`. Labels are pre-rendered `k="v",k2="v2"`.
struct MetricSample {
  std::string name;
  std::string help;
  std::string type;  // counter | gauge
  std::string labels;
  double value = 0;
};

struct AdminSnapshot {
  bool healthy = true;
  bool degraded = false;      // healthy, but records are going to the error output
  std::string health_detail;  // JSON object text of per-component health
  std::string status_json;    // the /status document
  std::vector<MetricSample> metrics;
};

// The outcome of a reload request: `status` 200 when applied, 400 when the new config was
// rejected (the old one keeps running); `body` is the JSON answer.
struct ReloadReply {
  int status = 200;
  std::string body;
};

// What one client may hold of the endpoint (HttpServerOptions' fields of the same names), on
// each of its listeners.
struct AdminLimits {
  uint64_t idle_timeout_ms = 120000;
  uint64_t request_timeout_ms = 30000;
  int max_connections = 2048;
};

struct AdminHandlers {
  std::function<AdminSnapshot()> snapshot;
  // Starts a reload; `done` is called once (possibly later, on the loop) with the outcome.
  std::function<void(std::function<void(ReloadReply)> done)> reload;
  // One Kinesis API call: operation (after "Kinesis_20131202."), JSON body; fills status and body.
  std::function<void(std::string_view operation, std::string& body, int* status,
                     std::string* answer)>
      api;
};

class AdminEndpoint final {
 public:
  // `tls` set: the endpoint serves https only.
  // `token` non-empty: the bearer token the mutating calls need (see above). `socket_path`
  // non-empty: the endpoint also listens on that Unix socket (owner-only), where peers running as
  // the daemon's user or root may do everything without the token.
  static Result<std::unique_ptr<AdminEndpoint>> Create(
      uv_loop_t* loop, const std::string& host, int port, AdminHandlers handlers,
      std::shared_ptr<http::TlsServerContext> tls = nullptr, std::string token = "",
      std::string socket_path = "", AdminLimits limits = {});
  Status Start();
  void Stop(std::function<void()> on_closed);
  // Replaces the bearer token (a reload read the token file again); the next request needs the
  // new one. On the loop thread, as every request is served.
  void SetToken(std::string token) { token_ = std::move(token); }
  int port() const { return http_->port(); }

  // Renders samples in the Prometheus text exposition format (HELP and TYPE once per name).
  static std::string RenderPrometheus(const std::vector<MetricSample>& samples);
  // The status page (admin_page.cc).
  static std::string_view StatusPage();

 private:
  AdminEndpoint() = default;
  void Serve(http::HttpRequest& request, http::HttpResponse* response);

  // Whether `request` carries the bearer token (constant time in the token's bytes).
  bool HasToken(const http::HttpRequest& request) const;

  AdminHandlers handlers_;
  std::unique_ptr<http::HttpServer> http_;
  std::unique_ptr<http::HttpServer> unix_;  // admin.socket, when set
  std::string token_;
  bool loopback_ = true;  // listening on a loopback address
};

}  // namespace sluice::agent
