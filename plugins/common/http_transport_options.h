// The option rows every HTTP sink shares for its transport (TLS, proxy, HTTP/2, connect timeout)
// and the one reader of them, so the http, opensearch, splunk, kinesis, firehose and s3 sinks
// document and read them alike. The timeout of a request stays each sink's own row (its default
// is its destination's; s3 names it `request_timeout`).
//
// Header-only; thread-safe (no state).
#pragma once

#include "plugins/common/http_client.h"
#include "sluice_sink.hpp"

// Rows for a sluice_option_def table, e.g. {..., SLUICE_HTTP_TRANSPORT_OPTIONS, {nullptr, ...}}.
#define SLUICE_HTTP_TRANSPORT_OPTIONS                                                                \
  {"connect_timeout", SLUICE_OPT_DURATION, "10s", "TCP and TLS connect.", 0, nullptr},               \
      {"ca_file", SLUICE_OPT_STRING,                                                                 \
       "",        "PEM CA bundle to verify the endpoint; default: system.",                          \
       0,         nullptr},                                                                          \
      {"ca_path", SLUICE_OPT_STRING, "", "Directory of hashed CA certificates; default: system.", 0, \
       nullptr},                                                                                     \
      {"insecure_skip_verify",                                                                       \
       SLUICE_OPT_BOOL,                                                                              \
       "false",                                                                                      \
       "Do not verify the TLS peer (tests only).",                                                   \
       0,                                                                                            \
       nullptr},                                                                                     \
      {"http2", SLUICE_OPT_BOOL, "false", "Negotiate HTTP/2 over TLS (ALPN).", 0, nullptr}, {        \
    "proxy", SLUICE_OPT_STRING, "", "Proxy URL; default: the http(s)_proxy environment.", 0,         \
        nullptr                                                                                      \
  }

namespace sluice::sink {

// Reads the SLUICE_HTTP_TRANSPORT_OPTIONS rows and the sink's request timeout, the option
// `timeout_key` (default `timeout_ms`).
inline void ReadHttpTransport(const sluice::Options& opts, int64_t timeout_ms, HttpOptions* http,
                              const char* timeout_key = "timeout") {
  http->timeout_ms = opts.GetInt(timeout_key, timeout_ms);
  http->connect_timeout_ms = opts.GetInt("connect_timeout", 10000);
  http->ca_file = opts.Get("ca_file");
  http->ca_path = opts.Get("ca_path");
  http->insecure_skip_verify = opts.GetBool("insecure_skip_verify", false);
  http->http2 = opts.GetBool("http2", false);
  http->proxy = opts.Get("proxy");
}

}  // namespace sluice::sink
