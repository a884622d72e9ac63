#include "core/http/local_only.h"

#include "core/loopback.h"

namespace sluice::http {

std::optional<std::string> ForeignBrowserRequest(const HttpRequest& req) {
  if (const std::string* host = req.Header("host"); host != nullptr && !IsLoopbackHost(*host)) {
    return "Host " + *host +
           " is not a loopback name; this listener has no authentication and answers only "
           "requests for localhost or a loopback address";
  }
  if (const std::string* origin = req.Header("origin"); origin != nullptr) {
    std::string_view o = *origin;
    std::string_view rest;
    if (o.substr(0, 7) == "http://") {
      rest = o.substr(7);
    } else if (o.substr(0, 8) == "https://") {
      rest = o.substr(8);
    }
    if (rest.empty() || !IsLoopbackHost(rest)) {
      return "Origin " + *origin +
             " is not a loopback origin; this listener has no authentication and refuses "
             "cross-site requests";
    }
  }
  return std::nullopt;
}

}  // namespace sluice::http
