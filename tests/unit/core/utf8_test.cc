#include "core/utf8.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(Utf8Test, CountsCharactersNotBytes) {
  EXPECT_EQ(Utf8Chars(""), 0u);
  EXPECT_EQ(Utf8Chars("abc"), 3u);
  EXPECT_EQ(Utf8Chars("\xC3\xA9t\xC3\xA9"), 3u);  // été
  EXPECT_EQ(Utf8Chars("\xF0\x9F\x98\x80"), 1u);   // one emoji, 4 bytes
}

TEST(Utf8Test, CountsWordAtATimeAsByteAtATime) {
  // Every length up to 40 and every mix of ASCII, leading and continuation bytes, against a
  // plain count of the bytes that are not 10xxxxxx.
  uint32_t rng = 12345;
  for (int round = 0; round < 2000; ++round) {
    std::string s(static_cast<size_t>(round % 41), '\0');
    for (char& c : s) {
      rng = rng * 1103515245u + 12345u;
      static constexpr unsigned char kBytes[] = {'a', 0x7f, 0x80, 0xbf, 0xc3, 0xe2, 0xf0, 0xff};
      c = static_cast<char>(kBytes[(rng >> 16) & 7]);
    }
    size_t want = 0;
    for (unsigned char c : s) want += (c & 0xC0) != 0x80;
    ASSERT_EQ(Utf8Chars(s), want) << round;
  }
}

TEST(Utf8Test, ValidTextIsKept) {
  std::string s = "plain \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";
  EXPECT_EQ(ValidUtf8(s), s);
}

TEST(Utf8Test, InvalidBytesBecomeReplacementCharacters) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(ValidUtf8("a\xFF"
                      "b"),
            "a" + r + "b");
  EXPECT_EQ(ValidUtf8("\xC0\xAF"), r + r);                  // overlong '/'
  EXPECT_EQ(ValidUtf8("\xED\xA0\x80"), r + r + r);          // a surrogate
  EXPECT_EQ(ValidUtf8("\xF4\x90\x80\x80"), r + r + r + r);  // past U+10FFFF
  EXPECT_EQ(ValidUtf8("\xE2\x82"), r + r);                  // truncated at the end
}

}  // namespace
}  // namespace sluice
