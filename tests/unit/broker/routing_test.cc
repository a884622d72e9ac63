#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "broker/stream_impl.h"
#include "broker_test_util.h"
#include "core/hash_key.h"

namespace sluice::broker {
namespace {

using testing::BrokerTest;

constexpr uint128 kTwo127 = static_cast<uint128>(1) << 127;

TEST(EvenRangeTest, MatchesKinesisSplit) {
  auto [s0, e0] = EvenRange(0, 1);
  EXPECT_EQ(s0, 0u);
  EXPECT_EQ(e0, kMaxHashKey);
  EXPECT_EQ(EvenRange(0, 2).second, kTwo127 - 1);
  EXPECT_EQ(EvenRange(1, 2).first, kTwo127);
  EXPECT_EQ(EvenRange(1, 2).second, kMaxHashKey);
  // 2^128 / 3 = 113427455640312821154458202477256070485 (floor).
  EXPECT_EQ(HashKeyToString(EvenRange(1, 3).first), "113427455640312821154458202477256070485");
  EXPECT_EQ(HashKeyToString(EvenRange(0, 3).second), "113427455640312821154458202477256070484");
  EXPECT_EQ(HashKeyToString(EvenRange(2, 3).first), "226854911280625642308916404954512140970");
  EXPECT_EQ(EvenRange(2, 3).second, kMaxHashKey);
  for (int n : {1, 2, 3, 4, 5, 7, 16}) {
    for (int i = 0; i + 1 < n; ++i)
      EXPECT_EQ(EvenRange(i, n).second + 1, EvenRange(i + 1, n).first);
  }
}

TEST(HashKeyTest, Md5Vectors) {
  // MD5("") = d41d8cd98f00b204e9800998ecf8427e; MD5("a") = 0cc175b9c0f1b6a831c399e269772661.
  EXPECT_EQ(HashKeyOf(""),
            (static_cast<uint128>(0xd41d8cd98f00b204ull) << 64) | 0xe9800998ecf8427eull);
  EXPECT_EQ(HashKeyOf("a"),
            (static_cast<uint128>(0x0cc175b9c0f1b6a8ull) << 64) | 0x31c399e269772661ull);
}

// The per-thread context gives every thread the same answers, call after call.
TEST(HashKeyTest, ReusedContextsAgreeAcrossCallsAndThreads) {
  std::vector<uint128> here;
  std::string k;
  for (int i = 0; i < 300; ++i) {
    k.push_back(static_cast<char>('a' + i % 26));
    here.push_back(HashKeyOf(k));
  }
  std::vector<uint128> there;
  std::thread([&] {
    std::string k2;
    for (int i = 0; i < 300; ++i) {
      k2.push_back(static_cast<char>('a' + i % 26));
      there.push_back(HashKeyOf(k2));
    }
  }).join();
  EXPECT_EQ(here, there);
  EXPECT_EQ(HashKeyOf("a"),
            (static_cast<uint128>(0x0cc175b9c0f1b6a8ull) << 64) | 0x31c399e269772661ull);
}

class RoutingTest : public BrokerTest {};

TEST_F(RoutingTest, PartitionKeysLandOnTheirRange) {
  OpenBroker();
  Stream* s = MakeStream("r", 4);
  std::vector<std::string> keys;
  for (int i = 0; i < 64; ++i) keys.push_back(testing::Cat("key-", i));
  std::vector<PutRecordIn> in;
  for (const auto& k : keys) in.push_back({k, "x", std::nullopt});
  std::vector<PutRecordOut> out;
  ASSERT_TRUE(s->PutBatch(in, &out).ok());
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE(out[i].status.ok());
    // Four even shards: the top two bits of the MD5 pick the shard.
    EXPECT_EQ(out[i].shard_index, static_cast<uint32_t>(HashKeyOf(keys[i]) >> 126)) << keys[i];
  }
}

TEST_F(RoutingTest, ExplicitHashKeyBoundaries) {
  OpenBroker();
  Stream* s = MakeStream("e", 2);
  struct Case {
    const char* key;
    uint32_t shard;
  } cases[] = {{"0", 0},
               {"170141183460469231731687303715884105727", 0},   // 2^127-1
               {"170141183460469231731687303715884105728", 1},   // 2^127
               {"340282366920938463463374607431768211455", 1}};  // 2^128-1
  for (const auto& c : cases) {
    auto key = ParseHashKey(c.key);
    ASSERT_TRUE(key.ok()) << c.key;
    PutRecordIn in{"pk", "d", *key};
    std::vector<PutRecordOut> out;
    ASSERT_TRUE(s->PutBatch({&in, 1}, &out).ok());
    EXPECT_EQ(out[0].shard_index, c.shard) << c.key;
  }
  EXPECT_FALSE(ParseHashKey("340282366920938463463374607431768211456").ok());  // 2^128
}

TEST_F(RoutingTest, ValidatesBatches) {
  OpenBroker();
  Stream* s = MakeStream("v", 1);
  std::vector<PutRecordOut> out;
  PutRecordIn empty_key{"", "d", std::nullopt};
  EXPECT_EQ(s->PutBatch({&empty_key, 1}, &out).code(), Code::kInvalidArgument);
  std::string long_key(257, 'k');
  PutRecordIn lk{long_key, "d", std::nullopt};
  EXPECT_EQ(s->PutBatch({&lk, 1}, &out).code(), Code::kInvalidArgument);
  std::string key256;
  for (int i = 0; i < 256; ++i) key256 += "\xc3\xa9";  // 256 characters, 512 bytes
  PutRecordIn ok_key{key256, "d", std::nullopt};
  EXPECT_TRUE(s->PutBatch({&ok_key, 1}, &out).ok());
  std::string big((1 << 20) + 1, 'x');
  PutRecordIn bd{"k", big, std::nullopt};
  EXPECT_EQ(s->PutBatch({&bd, 1}, &out).code(), Code::kInvalidArgument);
  std::vector<PutRecordIn> many(501, PutRecordIn{"k", "d", std::nullopt});
  EXPECT_EQ(s->PutBatch(many, &out).code(), Code::kInvalidArgument);
}

TEST_F(RoutingTest, OffsetsAndSequenceNumbersIncrease) {
  OpenBroker();
  Stream* s = MakeStream("o", 1);
  auto a = PutN(s, 10, "a");
  auto b = PutN(s, 10, "b");
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(a[i].offset, static_cast<uint64_t>(i));
    EXPECT_EQ(b[i].offset, static_cast<uint64_t>(10 + i));
  }
  // (2^62 | shard) << 64 | offset: 2^126 = 85070591730234615865843651857942052864.
  EXPECT_EQ(SequenceNumber(0, 5), "85070591730234615865843651857942052869");
  EXPECT_EQ(SequenceNumber(1, 0), "85070591730234615884290395931651604480");
  auto p = ParseSequenceNumber("85070591730234615884290395931651604481");
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->legacy);
  EXPECT_EQ(p->shard, 1u);
  EXPECT_EQ(p->offset, 1u);
  // The form before (epoch << 64 | offset) still parses, marked legacy.
  auto old = ParseSequenceNumber("18446744073709551617");
  ASSERT_TRUE(old.ok());
  EXPECT_TRUE(old->legacy);
  EXPECT_EQ(old->shard, 1u);
  EXPECT_EQ(old->offset, 1u);
  EXPECT_FALSE(ParseSequenceNumber("12x").ok());
  // A high word that is neither form was not issued here.
  EXPECT_FALSE(ParseSequenceNumber("340282366920938463463374607431768211455").ok());
  char buf[kMaxSequenceChars];
  for (uint32_t shard : {0u, 1u, 7u, 123456789u, ~0u}) {
    for (uint64_t offset : {0ull, 9ull, 10000000000000000000ull, ~0ull}) {
      std::string s = SequenceNumber(shard, offset);
      EXPECT_EQ(std::string_view(buf, FormatSequenceNumber(shard, offset, buf)), s);
      auto q = ParseSequenceNumber(s);
      ASSERT_TRUE(q.ok()) << s;
      EXPECT_EQ(q->shard, shard);
      EXPECT_EQ(q->offset, offset);
      EXPECT_FALSE(q->legacy);
    }
  }
  auto got = ReadAll(s, 0);
  ASSERT_EQ(got.size(), 20u);
  EXPECT_EQ(got[0], "a0");
  EXPECT_EQ(got[19], "b9");
}

}  // namespace
}  // namespace sluice::broker
