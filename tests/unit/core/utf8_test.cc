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
