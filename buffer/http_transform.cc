#include "buffer/http_transform.h"

#include <algorithm>

namespace sluice::buffer {

Result<std::unique_ptr<HttpTransform>> HttpTransform::Create(std::string url, std::string delivery,
                                                             std::chrono::milliseconds timeout,
                                                             int retries, size_t max_event_bytes) {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return InvalidArgument("transform.http: the URL must start with http:// or https://");
  }
  std::unique_ptr<HttpTransform> t(new HttpTransform());
  t->url_ = std::move(url);
  t->delivery_ = std::move(delivery);
  t->timeout_ = timeout;
  t->retries_ = retries;
  t->max_event_bytes_ = std::max<size_t>(1, max_event_bytes);
  t->http_options_.timeout_ms = timeout.count();
  t->http_options_.connect_timeout_ms = std::min<int64_t>(timeout.count(), 10000);
  ASSIGN_OR_RETURN(t->client_, sink::HttpClient::Create(t->http_options_));
  return t;
}

HttpTransform::~HttpTransform() = default;

void HttpTransform::Reset() {
  // A fresh connection for the retry.
  auto fresh = sink::HttpClient::Create(http_options_);
  client_ = fresh.ok() ? std::move(*fresh) : nullptr;
}

Status HttpTransform::Invoke(const std::string& request, std::string* answer) {
  if (client_ == nullptr) return Unavailable("POST " + url_ + ": no HTTP client");
  sink::HttpRequest req;
  req.method = "POST";
  req.url = url_;
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = request;
  auto resp = client_->Send(req);
  if (!resp.ok()) return Unavailable("POST " + url_ + ": " + resp.status().message());
  if (resp->status < 200 || resp->status > 299) {
    return Unavailable("POST " + url_ + ": HTTP " + std::to_string(resp->status));
  }
  *answer = std::move(resp->body);
  return Status::Ok();
}

}  // namespace sluice::buffer
