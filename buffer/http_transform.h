// The `http` transform: each event POSTed to a URL in the Lambda invoke shape (a function under
// the Lambda runtime interface emulator works unchanged: .../2015-03-31/functions/function/
// invocations), through the sinks' HTTP client (plugins/common): TLS verified, connections kept.
//
// THREADING: one HttpTransform per delivery worker; not thread-safe.
#pragma once

#include "buffer/transform.h"
#include "plugins/common/http_client.h"

namespace sluice::buffer {

// POSTs each event (Content-Type: application/json) and takes the 2xx response body as the
// answer; other statuses, timeouts and connection failures are failed invocations.
class HttpTransform final : public Transform {
 public:
  static Result<std::unique_ptr<HttpTransform>> Create(std::string url, std::string delivery,
                                                       std::chrono::milliseconds timeout,
                                                       int retries,
                                                       size_t max_event_bytes = 1u << 20);
  ~HttpTransform() override;

 private:
  HttpTransform() = default;
  Status Invoke(const std::string& request, std::string* answer) override;
  void Reset() override;

  std::string url_;
  sink::HttpOptions http_options_;
  std::unique_ptr<sink::HttpClient> client_;  // kept for connection reuse; new after a failure
};

}  // namespace sluice::buffer
