#include "agent/admin.h"

#include <cstdio>
#include <set>

namespace sluice::agent {

Result<std::unique_ptr<AdminEndpoint>> AdminEndpoint::Create(uv_loop_t* loop,
                                                             const std::string& host, int port,
                                                             SnapshotFn snapshot) {
  std::unique_ptr<AdminEndpoint> a(new AdminEndpoint());
  a->snapshot_ = std::move(snapshot);
  http::HttpServerOptions opts;
  opts.host = host;
  opts.port = port;
  opts.max_body_size = 64 << 10;
  AdminEndpoint* self = a.get();
  ASSIGN_OR_RETURN(
      a->http_, http::HttpServer::Create(loop, opts,
                                         [self](http::HttpRequest& req, http::HttpResponse* resp) {
                                           self->Serve(req, resp);
                                         }));
  return a;
}

Status AdminEndpoint::Start() { return http_->Start().Annotate("admin endpoint"); }

void AdminEndpoint::Stop(std::function<void()> on_closed) { http_->Stop(std::move(on_closed)); }

std::string AdminEndpoint::RenderPrometheus(const std::vector<MetricSample>& samples) {
  std::string out;
  std::set<std::string> described;
  char num[64];
  for (const MetricSample& m : samples) {
    if (described.insert(m.name).second) {
      out += "# HELP " + m.name + " " + m.help + "\n";
      out += "# TYPE " + m.name + " " + m.type + "\n";
    }
    out += m.name;
    if (!m.labels.empty()) out += "{" + m.labels + "}";
    std::snprintf(num, sizeof num, " %.17g\n", m.value);
    out += num;
  }
  return out;
}

void AdminEndpoint::Serve(http::HttpRequest& request, http::HttpResponse* response) {
  std::string_view path = request.target;
  if (size_t q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  if (request.method != "GET" && request.method != "HEAD") {
    response->status = 405;
    response->headers.emplace_back("allow", "GET, HEAD");
    response->body = "only GET and HEAD are served here\n";
    return;
  }
  AdminSnapshot snap = snapshot_();
  if (path == "/health") {
    response->status = snap.healthy ? 200 : 503;
    response->headers.emplace_back("content-type", "application/json");
    response->body =
        std::string("{\"status\":\"") + (snap.healthy ? "ok" : "unhealthy") +
        "\",\"components\":" + (snap.health_detail.empty() ? "{}" : snap.health_detail) + "}\n";
  } else if (path == "/metrics") {
    response->headers.emplace_back("content-type", "text/plain; version=0.0.4");
    response->body = RenderPrometheus(snap.metrics);
  } else if (path == "/status") {
    response->headers.emplace_back("content-type", "application/json");
    response->body = snap.status_json + "\n";
  } else {
    response->status = 404;
    response->headers.emplace_back("content-type", "text/plain");
    response->body = "not found; try /health, /metrics or /status\n";
  }
}

}  // namespace sluice::agent
