#include "core/base64.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <random>

namespace sluice {
namespace {

TEST(Base64Test, Rfc4648Vectors) {
  const std::pair<const char*, const char*> kVectors[] = {{"", ""},
                                                          {"f", "Zg=="},
                                                          {"fo", "Zm8="},
                                                          {"foo", "Zm9v"},
                                                          {"foob", "Zm9vYg=="},
                                                          {"fooba", "Zm9vYmE="},
                                                          {"foobar", "Zm9vYmFy"}};
  for (auto [plain, encoded] : kVectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    EXPECT_EQ(*Base64Decode(encoded), plain);
  }
}

TEST(Base64Test, BinaryRoundTrip) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t n = 0; n <= all.size(); n += 17) {
    std::string part = all.substr(0, n);
    EXPECT_EQ(*Base64Decode(Base64Encode(part)), part);
  }
}

TEST(Base64Test, RejectsMalformed) {
  for (const char* bad : {"Zg=", "Z===", "Zm9v\n", "Zm 9", "Zg==Zg==", "Zm9*", "=Zm9"}) {
    EXPECT_FALSE(Base64Decode(bad).ok()) << bad;
  }
}

// The tables against OpenSSL's codec, on random inputs of every length up to a few quanta and
// longer: the same text, and the same bytes back.
TEST(Base64Test, AgreesWithOpenSsl) {
  std::mt19937 rng(7);
  for (size_t n = 0; n < 2000; n += (n < 64 ? 1 : 97)) {
    std::string in(n, '\0');
    for (char& c : in) c = static_cast<char>(rng());
    std::string expected(Base64EncodedSize(n) + 1, '\0');
    expected.resize(static_cast<size_t>(
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(expected.data()),
                        reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(n))));
    ASSERT_EQ(Base64Encode(in), expected) << n;
    ASSERT_EQ(*Base64Decode(expected), in) << n;
  }
}

TEST(Base64Test, NamesTheBadCharacterAndAppendsNothing) {
  std::string out = "kept";
  Status st = Base64DecodeAppend("Zm9vZm9vZm9vZm9vZm-v", &out);
  EXPECT_EQ(st.message(), "invalid base64 character at offset 18");
  EXPECT_EQ(out, "kept");
  st = Base64DecodeAppend("Zm9vZm9vZ=9v", &out);
  EXPECT_EQ(st.message(), "base64 padding in the middle");
  st = Base64DecodeAppend("Zm9vZ\x80==", &out);
  EXPECT_EQ(st.message(), "invalid base64 character at offset 5");
  EXPECT_EQ(out, "kept");
}

TEST(Base64Test, AppendKeepsPrefix) {
  std::string out = "x:";
  Base64Append("foo", &out);
  EXPECT_EQ(out, "x:Zm9v");
}

}  // namespace
}  // namespace sluice
