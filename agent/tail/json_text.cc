#include "agent/tail/json_text.h"

namespace sluice::agent {

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (end - p <= n) return false;
    for (int i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    p += n + 1;
  }
  return true;
}

namespace {

// Length of the valid UTF-8 sequence at p, or 0.
size_t ValidSequence(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80             ? 1
             : (c & 0xE0) == 0xC0 ? 2
             : (c & 0xF0) == 0xE0 ? 3
             : (c & 0xF8) == 0xF0 ? 4
                                  : 0;
  if (n == 0 || i + n > s.size()) return 0;
  return IsValidUtf8(s.substr(i, n)) ? n : 0;
}

}  // namespace

void WriteString(JsonWriter* w, std::string_view s, std::string* scratch) {
  if (IsValidUtf8(s)) {
    w->String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    return;
  }
  scratch->clear();
  for (size_t i = 0; i < s.size();) {
    size_t n = ValidSequence(s, i);
    if (n > 0) {
      scratch->append(s.data() + i, n);
      i += n;
      continue;
    }
    auto b = static_cast<unsigned char>(s[i]);
    scratch->push_back(static_cast<char>(0xC0 | (b >> 6)));
    scratch->push_back(static_cast<char>(0x80 | (b & 0x3F)));
    ++i;
  }
  w->String(scratch->data(), static_cast<rapidjson::SizeType>(scratch->size()));
}

}  // namespace sluice::agent
