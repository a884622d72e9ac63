// The client side of the CLI's talking subcommands (`sluice status`, `sluice streams ...`,
// `sluice cat`): blocking HTTP/1.1 calls to the running daemon's admin endpoint (GET /status and
// POST /api, the Kinesis Data Streams JSON API). Uses libcurl; one call at a time.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice::agent {

struct HttpAnswer {
  long status = 0;
  std::string body;
};

// How to reach an admin endpoint that serves TLS (admin.tls).
struct AdminTls {
  bool on = false;
  std::string ca_file;    // trust anchors; empty: the system's
  std::string cert_file;  // a client certificate (mutual TLS), with its key
  std::string key_file;
};

// How the CLI proves itself to the admin endpoint: admin.auth's bearer token, or by talking
// over admin.socket (the daemon checks the peer's user), or neither.
struct AdminAuth {
  std::string token;
  std::string unix_socket;  // set: connect to this Unix socket instead of the address
};

class AdminClient final {
 public:
  // `address` is host:port of the admin endpoint; with `tls.on`, https and verified.
  explicit AdminClient(std::string address, AdminTls tls = {}, AdminAuth auth = {})
      : base_(auth.unix_socket.empty() ? (tls.on ? "https://" : "http://") + std::move(address)
                                       : "http://localhost"),
        tls_(std::move(tls)),
        auth_(std::move(auth)) {}

  // GET a path ("/status"); an error only when the daemon cannot be reached.
  Result<HttpAnswer> Get(std::string_view path) const;
  // One Kinesis API call through POST /api. Non-2xx answers become an error naming the Kinesis
  // error type and message.
  Result<std::string> Kinesis(std::string_view operation, const std::string& json) const;
  Result<HttpAnswer> Post(std::string_view path, const std::string& body,
                          std::string_view target) const;

 private:
  std::string base_;
  AdminTls tls_;
  AdminAuth auth_;
};

// The status document rendered as terminal tables.
Result<std::string> RenderStatusTable(const std::string& status_json);

}  // namespace sluice::agent
