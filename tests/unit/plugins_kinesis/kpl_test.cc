// KPL aggregated records: what the aggregator writes, the de-aggregator reads back; sizes are
// known before adding; a record that is not an aggregate is said to be one.
#include "plugins/kinesis/kpl.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "plugins/kinesis/kinesis_protocol.h"

namespace sluice::kinesis {
namespace {

TEST(KplTest, AggregatesRoundTripWithTheirKeysInOrder) {
  KplAggregator agg;
  std::vector<std::pair<std::string, std::string>> in;
  for (int i = 0; i < 300; ++i) {
    in.emplace_back("user-" + std::to_string(i % 7),
                    std::string("line ") + std::to_string(i) + std::string(i % 200, 'x'));
  }
  in.emplace_back("binary", std::string("\0\x80\xff", 3));
  in.emplace_back("empty", "");
  for (const auto& [k, d] : in) {
    size_t predicted = agg.SizeWith(k, d);
    agg.Add(k, d);
    EXPECT_EQ(agg.size(), predicted);
  }
  std::string record;
  agg.Finish(&record);
  EXPECT_EQ(record.size(), agg.size());
  EXPECT_EQ(record.substr(0, 4), std::string("\xF3\x89\x9A\xC2"));
  std::vector<UserRecord> out;
  ASSERT_TRUE(Deaggregate(record, &out));
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].partition_key, in[i].first) << i;
    EXPECT_EQ(out[i].data, in[i].second) << i;
    EXPECT_EQ(out[i].explicit_hash_key, "");
  }
  // Cleared, it starts a new aggregate.
  agg.Clear();
  EXPECT_TRUE(agg.empty());
  agg.Add("k", "v");
  record.clear();
  agg.Finish(&record);
  ASSERT_TRUE(Deaggregate(record, &out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].partition_key, "k");
}

TEST(KplTest, WhatIsNotAnAggregateIsSaidToBeNone) {
  std::vector<UserRecord> out;
  EXPECT_FALSE(Deaggregate("plain record", &out));
  EXPECT_FALSE(Deaggregate("", &out));
  KplAggregator agg;
  agg.Add("k", "data");
  std::string record;
  agg.Finish(&record);
  std::string bad = record;
  bad[bad.size() - 1] ^= 1;  // the MD5
  EXPECT_FALSE(Deaggregate(bad, &out));
  bad = record;
  bad[6] ^= 0x40;  // the message (and so its MD5 no longer matches)
  EXPECT_FALSE(Deaggregate(bad, &out));
  EXPECT_TRUE(Deaggregate(record, &out));
}

TEST(KplTest, AnAggregateFillsUpTo1MiB) {
  KplAggregator agg;
  std::string data(1000, 'd');
  size_t n = 0;
  while (agg.SizeWith("key", data) + 3 <= kMaxRecordBytes) {
    agg.Add("key", data);
    ++n;
  }
  std::string record;
  agg.Finish(&record);
  EXPECT_LE(record.size() + 3, kMaxRecordBytes);
  EXPECT_GT(record.size() + 3 + 1010, kMaxRecordBytes);  // one more would not fit
  std::vector<UserRecord> out;
  ASSERT_TRUE(Deaggregate(record, &out));
  EXPECT_EQ(out.size(), n);
}

TEST(KplTest, ListShardsGivesTheOpenShardsSorted) {
  std::vector<ShardRange> shards;
  std::string token;
  ASSERT_TRUE(ParseListShards(R"({"Shards":[
    {"ShardId":"shardId-000000000002","HashKeyRange":{"StartingHashKey":"170141183460469231731687303715884105728","EndingHashKey":"340282366920938463463374607431768211455"},"SequenceNumberRange":{"StartingSequenceNumber":"5"}},
    {"ShardId":"shardId-000000000000","HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"340282366920938463463374607431768211455"},"SequenceNumberRange":{"StartingSequenceNumber":"1","EndingSequenceNumber":"4"}},
    {"ShardId":"shardId-000000000001","HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"170141183460469231731687303715884105727"},"SequenceNumberRange":{"StartingSequenceNumber":"5"}}
  ],"NextToken":"tok"})",
                              &shards, &token));
  ASSERT_EQ(shards.size(), 2u);  // the closed parent is left out
  EXPECT_EQ(shards[0].start_text, "0");
  EXPECT_EQ(shards[1].start_text, "170141183460469231731687303715884105728");
  EXPECT_EQ(token, "tok");
  shards.clear();
  EXPECT_FALSE(ParseListShards(R"({"Shards":[{"ShardId":"x"}]})", &shards, &token));
  EXPECT_FALSE(ParseListShards("nope", &shards, &token));
}

}  // namespace
}  // namespace sluice::kinesis
