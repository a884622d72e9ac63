// The admin HTTP endpoint (127.0.0.1:4195 by default): GET /health, /metrics (Prometheus text),
// /status (JSON). It only reads: every answer is built from a Snapshot the daemon provides on the
// loop thread, so the endpoint holds no state of its own.
//
// THREADING: loop thread only. OWNERSHIP: the loop must outlive the endpoint; destroy it only after
// Stop()'s callback ran.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "broker/api/http_server.h"
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
  std::string health_detail;  // JSON object text of per-component health
  std::string status_json;    // the /status document
  std::vector<MetricSample> metrics;
};

class AdminEndpoint final {
 public:
  using SnapshotFn = std::function<AdminSnapshot()>;
  static Result<std::unique_ptr<AdminEndpoint>> Create(uv_loop_t* loop, const std::string& host,
                                                       int port, SnapshotFn snapshot);
  Status Start();
  void Stop(std::function<void()> on_closed);
  int port() const { return http_->port(); }

  // Renders samples in the Prometheus text exposition format (HELP and TYPE once per name).
  static std::string RenderPrometheus(const std::vector<MetricSample>& samples);

 private:
  AdminEndpoint() = default;
  void Serve(http::HttpRequest& request, http::HttpResponse* response);

  SnapshotFn snapshot_;
  std::unique_ptr<http::HttpServer> http_;
};

}  // namespace sluice::agent
