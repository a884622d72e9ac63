#include "core/loopback.h"

#include <arpa/inet.h>

#include <cctype>
#include <string>

namespace sluice {
namespace {

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool AllDigits(std::string_view s) {
  if (s.empty() || s.size() > 5) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

bool IsLoopbackHost(std::string_view host) {
  std::string name;
  if (!host.empty() && host.front() == '[') {  // [v6] or [v6]:port
    size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !AllDigits(rest.substr(1)))) return false;
    name = std::string(host.substr(1, close - 1));
    in6_addr a6{};
    return inet_pton(AF_INET6, name.c_str(), &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
  }
  size_t colon = host.rfind(':');
  if (colon != std::string_view::npos) {
    if (host.find(':') != colon) {  // a bare IPv6 address, no port
      name = std::string(host);
      in6_addr a6{};
      return inet_pton(AF_INET6, name.c_str(), &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
    }
    if (!AllDigits(host.substr(colon + 1))) return false;
    host = host.substr(0, colon);
  }
  if (EqualsNoCase(host, "localhost")) return true;
  name = std::string(host);
  in_addr a4{};
  // inet_pton takes only the dotted-quad form: "127.1" or "0x7f.1" are not addresses here.
  return inet_pton(AF_INET, name.c_str(), &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

}  // namespace sluice
