// HttpClient: one HTTP/1.1 or HTTP/2 client on a libcurl easy handle, for the network sinks.
//
// The handle is reused for every request, so connections (and TLS sessions) are kept alive
// between batches. TLS peer and host verification are on unless `insecure_skip_verify` is set.
// A proxy comes from the options or, when unset, from the usual environment variables
// (http_proxy, https_proxy, no_proxy), which libcurl reads itself.
//
// THREADING: not thread-safe; one HttpClient per sink instance (calls on one instance never
// overlap; Start/Wait run requests concurrently on the calling thread). OWNERSHIP: a request's
// body and headers are views that must stay valid during Send; the body is sent without a copy.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace sluice::sink {

struct HttpOptions {
  int64_t connect_timeout_ms = 10000;
  int64_t timeout_ms = 60000;  // whole request, connect included
  bool insecure_skip_verify = false;
  std::string ca_file;  // PEM bundle; empty: the system default
  std::string ca_path;  // directory of hashed certificates; empty: the system default
  bool http2 = false;   // negotiate HTTP/2 (ALPN over TLS, prior knowledge never)
  std::string proxy;    // empty: from the environment (unless use_env_proxy is false)
  bool use_env_proxy = true;
  std::string user_agent = "sluice";
};

using HttpHeader = std::pair<std::string, std::string>;

struct HttpRequest {
  std::string_view method = "GET";  // GET, HEAD, PUT, POST, DELETE, ...
  std::string url;                  // absolute, already percent-encoded
  std::vector<HttpHeader> headers;  // sent as given; no Content-Type is added
  std::string_view body;            // not copied
};

struct HttpResponse {
  long status = 0;
  std::vector<HttpHeader> headers;  // names lower-cased, of the final response
  std::string body;
  // The first header named `name` (lower case), or "" when absent.
  std::string_view Header(std::string_view name) const;
};

class HttpClient final {
 public:
  static Result<std::unique_ptr<HttpClient>> Create(const HttpOptions& options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request and reads the whole answer. Any HTTP status is a response; a transport
  // failure is an error: Code::kUnavailable (retryable: connect, DNS, timeout, reset, TLS
  // handshake) or Code::kInvalidArgument (a malformed URL or an unsupported option), with
  // curl's message.
  Result<HttpResponse> Send(const HttpRequest& request);
  // Whether the last transfer that failed (Send, or one Wait returned) had sent its request
  // before it failed: the connection reset or timed out after it, so the server may have acted
  // on it. False when it failed before (connection refused, DNS, TLS handshake).
  bool last_failure_sent() const { return last_failure_sent_; }
  // Requests in flight together (each on its own connection, or multiplexed over one with
  // HTTP/2), each in a slot (0, 1, ...; a slot keeps its handle, so its connection stays alive
  // between requests): Start begins `request` in a free slot (its body must stay valid until its
  // answer); Wait returns once one of them has finished: its slot and answer, as Send would
  // give it. The caller bounds the slots.
  Status Start(size_t slot, const HttpRequest& request);
  std::pair<size_t, Result<HttpResponse>> Wait();
  size_t in_flight() const { return running_; }

 private:
  struct Transfer;
  explicit HttpClient(const HttpOptions& options);
  void Prepare(const HttpRequest& request, Transfer* t);
  Result<HttpResponse> Finish(const HttpRequest& request, int code, Transfer* t);
  HttpOptions options_;
  void* curl_ = nullptr;   // CURL*
  void* multi_ = nullptr;  // CURLM* of Start/Wait, made on first use
  std::vector<std::unique_ptr<Transfer>> slots_;
  std::deque<std::pair<size_t, int>> done_;  // finished slots, with curl's code
  size_t running_ = 0;
  bool last_failure_sent_ = false;
};

// Parses a Retry-After header value given in seconds; 0 when absent or not a number.
uint32_t RetryAfterMs(std::string_view value);

}  // namespace sluice::sink
