#include "broker/iterator.h"

#include <gtest/gtest.h>

#include "broker_test_util.h"
#include "core/base64.h"

namespace sluice::broker {
namespace {

class IteratorTest : public testing::BrokerTest {
 protected:
  uint64_t Start(Stream* s, IteratorType t, std::string_view seq = "", int64_t ts = 0) {
    auto tok = GetShardIterator(broker_->iterators(), *s, 0, t, seq, ts);
    EXPECT_TRUE(tok.ok()) << tok.status().ToString();
    auto pos = broker_->iterators().Decode(*tok);
    EXPECT_TRUE(pos.ok()) << pos.status().ToString();
    EXPECT_EQ(pos->stream, s->name());
    EXPECT_EQ(pos->shard_index, 0u);
    return pos->offset;
  }
};

TEST_F(IteratorTest, EveryType) {
  OpenBroker();
  Stream* s = MakeStream("it", 1);
  int64_t t0 = clock_.NowMs();
  PutN(s, 5, "a");
  clock_.Advance(10);
  PutN(s, 5, "b");
  EXPECT_EQ(Start(s, IteratorType::kTrimHorizon), 0u);
  EXPECT_EQ(Start(s, IteratorType::kLatest), 10u);
  EXPECT_EQ(Start(s, IteratorType::kAtSequenceNumber, SequenceNumber(0, 3)), 3u);
  EXPECT_EQ(Start(s, IteratorType::kAfterSequenceNumber, SequenceNumber(0, 3)), 4u);
  EXPECT_EQ(Start(s, IteratorType::kAtTimestamp, "", t0 + 5), 5u);
  EXPECT_EQ(Start(s, IteratorType::kAtTimestamp, "", t0 - 5), 0u);
  EXPECT_FALSE(GetShardIterator(broker_->iterators(), *s, 0, IteratorType::kAtSequenceNumber,
                                SequenceNumber(1, 3), 0)
                   .ok());  // another shard's number
  // Numbers of the form before (epoch << 64 | offset) still name an offset of this shard.
  EXPECT_EQ(Start(s, IteratorType::kAtSequenceNumber, "3"), 3u);
  EXPECT_FALSE(GetShardIterator(broker_->iterators(), *s, 0, IteratorType::kAtSequenceNumber,
                                "18446744073709551619", 0)
                   .ok());  // epoch 1: not this shard's
  EXPECT_FALSE(GetShardIterator(broker_->iterators(), *s, 7, IteratorType::kLatest, "", 0).ok());
  EXPECT_EQ(*ParseIteratorType("AT_TIMESTAMP"), IteratorType::kAtTimestamp);
  EXPECT_FALSE(ParseIteratorType("SOMETIME").ok());
}

TEST_F(IteratorTest, ExpiresWithTheClock) {
  BrokerOptions o = Options();
  o.iterator_ttl = std::chrono::milliseconds(1000);
  OpenBroker(o);
  std::string tok = broker_->iterators().Encode("s", 2, 42);
  clock_.Advance(1000);
  EXPECT_TRUE(broker_->iterators().Decode(tok).ok());
  clock_.Advance(1);
  EXPECT_EQ(broker_->iterators().Decode(tok).status().code(), Code::kExpired);
}

TEST_F(IteratorTest, CannotBeForged) {
  OpenBroker();
  std::string tok = broker_->iterators().Encode("stream-a", 1, 7);
  auto raw = Base64Decode(tok);
  ASSERT_TRUE(raw.ok());
  // Point it at another shard: the MAC no longer matches.
  std::string forged = *raw;
  forged[1] ^= 1;
  EXPECT_EQ(broker_->iterators().Decode(Base64Encode(forged)).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(broker_->iterators().Decode("garbage!").status().code(), Code::kInvalidArgument);
  // A codec with another key refuses it; the same data dir's key survives a restart.
  FakeClock clock;
  IteratorCodec other(std::string(32, 'k'), &clock, std::chrono::milliseconds(300000));
  EXPECT_FALSE(other.Decode(tok).ok());
  OpenBroker();
  auto pos = broker_->iterators().Decode(tok);
  ASSERT_TRUE(pos.ok());
  EXPECT_EQ(pos->stream, "stream-a");
  EXPECT_EQ(pos->shard_index, 1u);
  EXPECT_EQ(pos->offset, 7u);
}

}  // namespace
}  // namespace sluice::broker
