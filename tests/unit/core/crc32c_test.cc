#include "core/crc32c.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace sluice::crc32c {
namespace {

TEST(Crc32cTest, StandardVectors) {
  // RFC 3720 B.4 and the common check value.
  EXPECT_EQ(Value("123456789", 9), 0xe3069283u);
  char zeros[32] = {0};
  EXPECT_EQ(Value(zeros, 32), 0x8a9136aau);
  char ones[32];
  std::memset(ones, 0xff, sizeof ones);
  EXPECT_EQ(Value(ones, 32), 0x62a8ab43u);
  char inc[32];
  for (int i = 0; i < 32; ++i) inc[i] = static_cast<char>(i);
  EXPECT_EQ(Value(inc, 32), 0x46dd794eu);
}

TEST(Crc32cTest, HardwareAndPortableAgree) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<char>(i * 31 + 7));
  for (size_t n = 0; n < data.size(); n += 13) {
    EXPECT_EQ(Extend(0, data.data(), n), ExtendPortable(0, data.data(), n)) << n;
  }
}

TEST(Crc32cTest, InterleavedAgreesAtEveryLengthAndAlignment) {
  // Lengths around the interleaving threshold and part sizes, the long loop's 12 KiB blocks, odd
  // alignments and a non-zero starting CRC.
  std::string data;
  uint32_t rng = 1;
  for (int i = 0; i < 3 * 4096 * 2 + 200; ++i) {
    rng = rng * 1103515245u + 12345u;
    data.push_back(static_cast<char>(rng >> 24));
  }
  for (size_t n = 0; n < 1200; ++n) {
    for (size_t at : {0, 1, 5}) {
      ASSERT_EQ(Extend(0x1234567u, data.data() + at, n),
                ExtendPortable(0x1234567u, data.data() + at, n))
          << n << " at " << at;
    }
  }
  for (size_t n : {4095u, 4096u, 12287u, 12288u, 12289u, 24576u, 24600u, 24775u}) {
    ASSERT_EQ(Extend(7, data.data() + 3, n), ExtendPortable(7, data.data() + 3, n)) << n;
  }
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  std::string a = "hello ", b = "world";
  EXPECT_EQ(Extend(Value(a.data(), a.size()), b.data(), b.size()), Value("hello world", 11));
}

TEST(Crc32cTest, MaskRoundTrips) {
  uint32_t c = Value("foo", 3);
  EXPECT_NE(Mask(c), c);
  EXPECT_EQ(Unmask(Mask(c)), c);
}

}  // namespace
}  // namespace sluice::crc32c
