#include "agent/admin.h"

#include <openssl/crypto.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <set>

#include "core/http/local_only.h"
#include "core/loopback.h"

namespace sluice::agent {

Result<std::unique_ptr<AdminEndpoint>> AdminEndpoint::Create(
    uv_loop_t* loop, const std::string& host, int port, AdminHandlers handlers,
    std::shared_ptr<http::TlsServerContext> tls, std::string token, std::string socket_path,
    AdminLimits limits) {
  std::unique_ptr<AdminEndpoint> a(new AdminEndpoint());
  a->handlers_ = std::move(handlers);
  a->token_ = std::move(token);
  a->loopback_ = IsLoopbackHost(host);
  http::HttpServerOptions opts;
  opts.host = host;
  opts.port = port;
  opts.max_body_size = 8 << 20;  // a PutRecords through /api
  opts.idle_timeout_ms = limits.idle_timeout_ms;
  opts.request_timeout_ms = limits.request_timeout_ms;
  opts.max_connections = limits.max_connections;
  opts.tls = std::move(tls);
  AdminEndpoint* self = a.get();
  auto serve = [self](http::HttpRequest& req, http::HttpResponse* resp) { self->Serve(req, resp); };
  ASSIGN_OR_RETURN(a->http_, http::HttpServer::Create(loop, opts, serve));
  if (!socket_path.empty()) {
    http::HttpServerOptions u = opts;
    u.tls = nullptr;  // a local socket: the peer is checked by its user id instead
    u.unix_path = std::move(socket_path);
    ASSIGN_OR_RETURN(a->unix_, http::HttpServer::Create(loop, u, serve));
  }
  return a;
}

Status AdminEndpoint::Start() {
  RETURN_IF_ERROR(http_->Start().Annotate("admin endpoint"));
  if (unix_) RETURN_IF_ERROR(unix_->Start().Annotate("admin endpoint"));
  return Status::Ok();
}

void AdminEndpoint::Stop(std::function<void()> on_closed) {
  if (!unix_) {
    http_->Stop(std::move(on_closed));
    return;
  }
  auto left = std::make_shared<int>(2);
  auto done = [left, cb = std::move(on_closed)]() {
    if (--*left == 0 && cb) cb();
  };
  http_->Stop(done);
  unix_->Stop(done);
}

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

namespace {

void Text(http::HttpResponse* response, int status, std::string body) {
  response->status = status;
  response->headers.emplace_back("content-type", "text/plain");
  response->body = std::move(body);
}

}  // namespace

bool AdminEndpoint::HasToken(const http::HttpRequest& request) const {
  if (token_.empty()) return false;
  const std::string* h = request.Header("authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (h == nullptr || h->size() != kBearer.size() + token_.size() ||
      h->compare(0, kBearer.size(), kBearer) != 0) {
    return false;
  }
  return CRYPTO_memcmp(h->data() + kBearer.size(), token_.data(), token_.size()) == 0;
}

void AdminEndpoint::Serve(http::HttpRequest& request, http::HttpResponse* response) {
  std::string_view path = request.target;
  if (size_t q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  response->headers.emplace_back("cache-control", "no-store");
  // A Unix-socket peer of the daemon's own user (or root) is trusted as the token is.
  const bool token = request.local_peer || HasToken(request);
  if (!token) {
    // Never a browser page's request (a page cannot send the token).
    if (std::optional<std::string> foreign = http::ForeignBrowserRequest(request)) {
      Text(response, 403, *foreign + "\n");
      return;
    }
    const bool needs_token =
        !token_.empty() && (request.method == "POST" || (!loopback_ && path != "/health"));
    if (needs_token) {
      response->headers.emplace_back("www-authenticate", "Bearer realm=\"sluice admin\"");
      Text(response, 401,
           request.Header("authorization") == nullptr
               ? "this call needs Authorization: Bearer <the token in admin.auth.token_file>\n"
               : "the bearer token is not the one in admin.auth.token_file\n");
      return;
    }
  }

  if (request.method == "POST") {
    if (path == "/reload" && handlers_.reload) {
      // A header no HTML form can send, so a page cannot post a reload (CSRF); a request with the
      // token is not a page's.
      if (!token && request.Header("x-sluice-admin") == nullptr) {
        Text(response, 403, "POST /reload needs the header X-Sluice-Admin: 1\n");
        return;
      }
      // The answer is streamed: its body is written once the reload is done (flows stop
      // asynchronously). A rejected config is known at once and answered with 400.
      auto result = std::make_shared<std::optional<ReloadReply>>();
      auto writer = std::make_shared<std::shared_ptr<http::HttpBodyWriter>>();
      handlers_.reload([result, writer](ReloadReply r) {
        if (*writer) {
          (*writer)->Write(r.body);
          (*writer)->End();
        } else {
          *result = std::move(r);
        }
      });
      response->headers.emplace_back("content-type", "application/json");
      if (result->has_value()) {
        response->status = (*result)->status;
        response->body = std::move((*result)->body);
        return;
      }
      response->stream = [writer](std::shared_ptr<http::HttpBodyWriter> w) { *writer = w; };
      return;
    }
    if (path == "/api" && handlers_.api) {
      const std::string* target = request.Header("x-amz-target");
      constexpr std::string_view kPrefix = "Kinesis_20131202.";
      if (target == nullptr || target->compare(0, kPrefix.size(), kPrefix) != 0) {
        Text(response, 400, "X-Amz-Target: Kinesis_20131202.<Operation> is required\n");
        return;
      }
      std::string answer;
      int status = 200;
      handlers_.api(std::string_view(*target).substr(kPrefix.size()), request.body, &status,
                    &answer);
      response->status = status;
      response->headers.emplace_back("content-type", "application/x-amz-json-1.1");
      response->body = std::move(answer);
      return;
    }
    Text(response, 404, "POST serves /reload and /api\n");
    return;
  }
  if (request.method != "GET" && request.method != "HEAD") {
    response->headers.emplace_back("allow", "GET, HEAD, POST");
    Text(response, 405, "GET, HEAD and POST are served here\n");
    return;
  }
  if (path == "/" || path == "/index.html") {
    response->headers.emplace_back("content-type", "text/html; charset=utf-8");
    response->body = std::string(StatusPage());
    return;
  }
  if (path != "/health" && path != "/metrics" && path != "/status") {
    Text(response, 404, "not found; try /, /health, /metrics or /status\n");
    return;
  }
  AdminSnapshot snap = handlers_.snapshot();
  if (path == "/health") {
    response->status = snap.healthy ? 200 : 503;
    response->headers.emplace_back("content-type", "application/json");
    response->body =
        std::string("{\"status\":\"") +
        (!snap.healthy   ? "unhealthy"
         : snap.degraded ? "degraded"
                         : "ok") +
        "\",\"components\":" + (snap.health_detail.empty() ? "{}" : snap.health_detail) + "}\n";
  } else if (path == "/metrics") {
    response->headers.emplace_back("content-type", "text/plain; version=0.0.4");
    response->body = RenderPrometheus(snap.metrics);
  } else {
    response->headers.emplace_back("content-type", "application/json");
    response->body = snap.status_json + "\n";
  }
}

}  // namespace sluice::agent
