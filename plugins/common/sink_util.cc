#include "plugins/common/sink_util.h"

#include <fcntl.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>

#include "core/json.h"

namespace sluice::sink {
namespace {

std::string ScalarText(const rapidjson::Value& v) {
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  if (v.IsBool()) return v.GetBool() ? "true" : "false";
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  if (v.IsUint64()) return std::to_string(v.GetUint64());
  if (v.IsDouble()) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.17g", v.GetDouble());
    return buf;
  }
  return "";
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void FormatGuid(const uint8_t b[16], std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  out->clear();
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out->push_back('-');
    out->push_back(kHex[b[i] >> 4]);
    out->push_back(kHex[b[i] & 15]);
  }
}

}  // namespace

Result<std::vector<std::string>> ParseListOption(std::string_view text) {
  std::vector<std::string> out;
  text = Trim(text);
  if (text.empty() || text == "[]") return out;
  rapidjson::Document doc;
  Status doc_parsed = ParseJson(text, &doc);
  if (doc_parsed.ok() && doc.IsArray()) {
    for (const auto& v : doc.GetArray()) {
      if (v.IsObject() || v.IsArray()) return InvalidArgument("list items must be scalars");
      out.push_back(ScalarText(v));
    }
    return out;
  }
  // A scalar given where a list is expected arrives as "[text]".
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    out.emplace_back(Trim(text.substr(1, text.size() - 2)));
    return out;
  }
  return InvalidArgument("expected a list");
}

Result<std::vector<std::pair<std::string, std::string>>> ParseMapOption(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  text = Trim(text);
  if (text.empty() || text == "[]" || text == "{}") return out;
  rapidjson::Document doc;
  Status doc_parsed = ParseJson(text, &doc);
  if (doc_parsed.ok() && doc.IsObject()) {
    for (const auto& m : doc.GetObject()) {
      if (m.value.IsObject() || m.value.IsArray()) {
        return InvalidArgument("map values must be scalars");
      }
      out.emplace_back(std::string(m.name.GetString(), m.name.GetStringLength()),
                       ScalarText(m.value));
    }
    return out;
  }
  auto items = ParseListOption(text);
  if (!items.ok()) return InvalidArgument("expected a map or a list of key=value");
  for (const std::string& item : *items) {
    size_t eq = item.find('=');
    size_t colon = item.find(':');
    size_t cut = std::min(eq, colon);
    if (cut == std::string::npos || cut == 0) {
      return InvalidArgument("\"" + item + "\" is not key=value or \"Key: value\"");
    }
    out.emplace_back(std::string(Trim(std::string_view(item).substr(0, cut))),
                     std::string(Trim(std::string_view(item).substr(cut + 1))));
  }
  return out;
}

Result<UrlParts> SplitUrl(std::string_view url) {
  UrlParts u;
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) return InvalidArgument("not a URL: no scheme");
  u.scheme = std::string(url.substr(0, sep));
  if (u.scheme != "http" && u.scheme != "https") {
    return InvalidArgument("the URL scheme must be http or https");
  }
  std::string_view rest = url.substr(sep + 3);
  size_t slash = rest.find_first_of("/?#");
  u.authority = std::string(rest.substr(0, slash));
  if (u.authority.empty() || u.authority.find('@') != std::string::npos) {
    return InvalidArgument("the URL needs a host (and no user info)");
  }
  if (slash != std::string_view::npos) {
    if (rest[slash] != '/') return InvalidArgument("the URL must not have a query or fragment");
    u.path = std::string(rest.substr(slash));
    if (u.path.find_first_of("?#") != std::string::npos) {
      return InvalidArgument("the URL must not have a query or fragment");
    }
    while (!u.path.empty() && u.path.back() == '/') u.path.pop_back();
  }
  return u;
}

std::string StableGuid(std::string_view seed) {
  // Two FNV-1a 64-bit hashes with different offsets, then a SplitMix64 finaliser each.
  uint64_t h[2] = {0xcbf29ce484222325ull, 0x84222325cbf29ce4ull};
  for (int k = 0; k < 2; ++k) {
    for (unsigned char c : seed) {
      h[k] ^= c;
      h[k] *= 0x100000001b3ull;
    }
    uint64_t z = h[k] + 0x9e3779b97f4a7c15ull * (k + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    h[k] = z ^ (z >> 31);
  }
  uint8_t b[16];
  for (int i = 0; i < 8; ++i) {
    b[i] = static_cast<uint8_t>(h[0] >> (56 - 8 * i));
    b[8 + i] = static_cast<uint8_t>(h[1] >> (56 - 8 * i));
  }
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x50);  // name-based shape (version 5 bits)
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);
  std::string out;
  FormatGuid(b, &out);
  return out;
}

std::string RandomGuid() {
  uint8_t b[16] = {};
  int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  bool filled = false;
  if (fd >= 0) {
    filled = ::read(fd, b, sizeof(b)) == static_cast<ssize_t>(sizeof(b));
    ::close(fd);
  }
  if (!filled) {
    std::random_device rd;
    for (auto& x : b) x = static_cast<uint8_t>(rd());
  }
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);
  std::string out;
  FormatGuid(b, &out);
  return out;
}

Verdict VerdictForStatus(long status) {
  if (status >= 200 && status < 300) return Verdict::kOk;
  if (status == 0 || status == 408 || status == 429 || status >= 500) return Verdict::kRetry;
  if (status == 401 || status == 403) return Verdict::kRetryLoud;
  return Verdict::kReject;
}

uint32_t FirehoseBackoffMs(uint32_t attempt, double unit) {
  double ms = 1000.0;
  for (uint32_t i = 1; i < attempt && ms < 120000.0; ++i) ms *= 2;
  ms = std::min(ms, 120000.0);
  ms *= 0.85 + 0.30 * unit;
  return static_cast<uint32_t>(std::min(ms, 120000.0));
}

bool JsonFieldText(std::string_view record, std::string_view path, std::string* out) {
  rapidjson::Document doc;
  if (!ParseJson(record, &doc).ok() || !doc.IsObject()) return false;
  const rapidjson::Value* v = &doc;
  while (!path.empty()) {
    size_t dot = path.find('.');
    std::string_view part = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    if (!v->IsObject()) return false;
    auto it = v->FindMember(rapidjson::Value(
        rapidjson::StringRef(part.data(), static_cast<rapidjson::SizeType>(part.size()))));
    if (it == v->MemberEnd()) return false;
    v = &it->value;
  }
  if (v->IsNull() || v->IsObject() || v->IsArray()) return false;
  *out = ScalarText(*v);
  return true;
}

std::string Truncated(std::string_view s, size_t cap) {
  if (s.size() <= cap) return std::string(s);
  return std::string(s.substr(0, cap)) + "...";
}

}  // namespace sluice::sink
