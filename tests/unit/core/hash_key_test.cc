#include "core/hash_key.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(HashKeyTest, Md5BigEndian) {
  // MD5("") = d41d8cd98f00b204e9800998ecf8427e; MD5("a") = 0cc175b9c0f1b6a831c399e269772661.
  EXPECT_EQ(HashKeyToString(HashKeyOf("")), "281949768489412648962353822266799178366");
  EXPECT_EQ(HashKeyToString(HashKeyOf("a")), "16955237001963240173058271559858726497");
}

TEST(HashKeyTest, DecimalBounds) {
  EXPECT_EQ(*ParseHashKey("0"), 0u);
  EXPECT_EQ(*ParseHashKey("340282366920938463463374607431768211455"), kMaxHashKey);
  EXPECT_EQ(HashKeyToString(kMaxHashKey), "340282366920938463463374607431768211455");
  uint128 half = static_cast<uint128>(1) << 127;
  EXPECT_EQ(HashKeyToString(half), "170141183460469231731687303715884105728");
  EXPECT_EQ(*ParseHashKey("170141183460469231731687303715884105727"), half - 1);
  EXPECT_FALSE(ParseHashKey("340282366920938463463374607431768211456").ok());  // 2^128
  EXPECT_FALSE(ParseHashKey("1000000000000000000000000000000000000000").ok());
  for (const char* bad : {"", "-1", "+1", "1e3", "12a", " 1"}) {
    EXPECT_FALSE(ParseHashKey(bad).ok()) << bad;
  }
}

TEST(HashKeyTest, RoundTrip) {
  for (const char* key : {"x", "partition-7", "日本"}) {
    uint128 v = HashKeyOf(key);
    EXPECT_EQ(*ParseHashKey(HashKeyToString(v)), v);
  }
}

}  // namespace
}  // namespace sluice
