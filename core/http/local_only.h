// Requests a web browser could send to a listener that serves without authentication.
//
// A listener without credentials binds to loopback only, but a browser on the same host can still
// reach it: a page whose name is rebound to 127.0.0.1 (its requests carry that name in Host) or
// any page posting across origins (its requests carry an Origin). Such listeners refuse both;
// curl, the AWS SDKs and the sluice CLI send a loopback Host and no Origin. Mutating admin calls
// additionally require a header no HTML form can set (see agent/admin.h).
//
// THREADING: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/http/http_server.h"

namespace sluice::http {

// Why `req` must be refused on an unauthenticated listener (answer 403), or nullopt: a Host that
// is not a loopback name (a request without Host is HTTP/1.0 and allowed), or an Origin other
// than http(s)://<loopback host>.
std::optional<std::string> ForeignBrowserRequest(const HttpRequest& req);

}  // namespace sluice::http
