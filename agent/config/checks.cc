#include "agent/config/checks.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <charconv>

namespace sluice::config {
namespace {

std::string Quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  out.append(s);
  out.push_back('"');
  return out;
}

}  // namespace

Status CheckName(std::string_view name, size_t max_len) {
  bool ok = !name.empty() && name.size() <= max_len;
  for (char c : name) {
    ok = ok && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '.' || c == '-');
  }
  if (ok) return Status::Ok();
  return InvalidArgument(Quote(name) + " is not a valid name (1 to " + std::to_string(max_len) +
                         " of A-Z a-z 0-9 _ . -)");
}

Status ParseListen(std::string_view text, ListenAddress* out) {
  std::string bad = Quote(text) + " is not a listen address (use host:port, e.g. 127.0.0.1:4567)";
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return InvalidArgument(bad);
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return InvalidArgument(bad);
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos)
      return InvalidArgument(bad);  // bare IPv6 needs brackets
  }
  int value = -1;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (host.empty() || port.empty() || ec != std::errc() || ptr != port.data() + port.size() ||
      value < 0 || value > 65535) {
    return InvalidArgument(bad);
  }
  out->host = std::string(host);
  out->port = value;
  out->text = std::string(text);
  return Status::Ok();
}

Status CheckRegex(std::string_view pattern, int* captures) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), 0,
                                   &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR buffer[256];
    pcre2_get_error_message(error_code, buffer, sizeof(buffer));
    return InvalidArgument(Quote(pattern) + " is not a valid regular expression: " +
                           reinterpret_cast<const char*>(buffer) + " at offset " +
                           std::to_string(error_offset));
  }
  uint32_t count = 0;
  pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &count);
  pcre2_code_free(code);
  *captures = static_cast<int>(count);
  return Status::Ok();
}

Status CheckUrl(std::string_view url) {
  for (std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
    if (url.substr(0, scheme.size()) == scheme && url.size() > scheme.size()) return Status::Ok();
  }
  return InvalidArgument(Quote(url) + " is not an http:// or https:// URL");
}

}  // namespace sluice::config
