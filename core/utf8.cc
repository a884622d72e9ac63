#include "core/utf8.h"

#include <cstdint>
#include <cstring>

namespace sluice {

size_t Utf8Chars(std::string_view s) {
  // Eight bytes at a time: a word without a byte >= 0x80 is eight characters (keys and most log
  // text are ASCII); a word with one counts the bytes that do not continue a sequence.
  size_t n = 0;
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if ((w & 0x8080808080808080ull) == 0) {
      n += 8;
      continue;
    }
    // A continuation byte is 10xxxxxx: bit 7 set and bit 6 clear.
    uint64_t cont = w & ~(w << 1) & 0x8080808080808080ull;
    n += 8 - static_cast<size_t>(__builtin_popcountll(cont));
  }
  for (; i < s.size(); ++i) n += (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80;
  return n;
}

namespace {

// Length of the well-formed sequence at s[i], or 0 (RFC 3629 table 3-7).
size_t SequenceAt(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  auto in = [](unsigned char c, unsigned char lo, unsigned char hi) { return c >= lo && c <= hi; };
  unsigned char c = b(0);
  size_t left = s.size() - i;
  if (c < 0x80) return 1;
  if (in(c, 0xC2, 0xDF)) return left >= 2 && in(b(1), 0x80, 0xBF) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (left < 3 || !in(b(2), 0x80, 0xBF)) return 0;
    unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
    unsigned char hi = c == 0xED ? 0x9F : 0xBF;
    return in(b(1), lo, hi) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (left < 4 || !in(b(2), 0x80, 0xBF) || !in(b(3), 0x80, 0xBF)) return 0;
    unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
    unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
    return in(b(1), lo, hi) ? 4 : 0;
  }
  return 0;
}

}  // namespace

std::string ValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = SequenceAt(s, i);
    if (n == 0) {
      out.append("\xEF\xBF\xBD");
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace sluice
