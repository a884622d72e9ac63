#include "broker/api/api_token.h"

#include <gtest/gtest.h>

namespace sluice::broker::api {
namespace {

TEST(TokenCodecTest, RoundTripsAndRejectsForgeries) {
  TokenCodec codec(std::string(32, 'k'));
  TokenFields f;
  f.kind = kTokenListShards;
  f.issued_ms = 1700000000123;
  f.shard_index = 7;
  f.offset = 99;
  f.name = "my-stream";
  f.extra = "AT_LATEST";
  std::string token = codec.Encode(f);
  Result<TokenFields> back = codec.Decode(token, kTokenListShards);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->issued_ms, f.issued_ms);
  EXPECT_EQ(back->shard_index, 7u);
  EXPECT_EQ(back->offset, 99u);
  EXPECT_EQ(back->name, "my-stream");
  EXPECT_EQ(back->extra, "AT_LATEST");
  // Another kind, another key, a flipped byte, garbage: all refused.
  EXPECT_FALSE(codec.Decode(token, kTokenListStreams).ok());
  EXPECT_FALSE(TokenCodec(std::string(32, 'x')).Decode(token, kTokenListShards).ok());
  std::string flipped = token;
  flipped[4] = flipped[4] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(codec.Decode(flipped, kTokenListShards).ok());
  EXPECT_FALSE(codec.Decode("not base64!", kTokenListShards).ok());
  EXPECT_FALSE(codec.Decode("", kTokenListShards).ok());
}

}  // namespace
}  // namespace sluice::broker::api
