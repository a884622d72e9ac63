#include <gtest/gtest.h>

#include <algorithm>

#include "broker/stream_impl.h"
#include "broker_test_util.h"

namespace sluice::broker {
namespace {

constexpr uint128 kTwo127 = static_cast<uint128>(1) << 127;

class ReshardTest : public testing::BrokerTest {};

TEST_F(ReshardTest, SplitLineageAndSequenceNumbers) {
  OpenBroker();
  Stream* s = MakeStream("sp", 1);
  auto before = PutN(s, 5, "p", kTwo127);
  ASSERT_TRUE(s->SplitShard(0, kTwo127).ok());
  auto shards = s->ListShards();
  ASSERT_EQ(shards.size(), 3u);
  EXPECT_FALSE(shards[0].open);
  EXPECT_EQ(shards[0].ending_sequence_number, SequenceNumber(0, 4));
  EXPECT_EQ(shards[1].parent_shard_id, "shardId-000000000000");
  EXPECT_EQ(shards[1].starting_hash_key, 0u);
  EXPECT_EQ(shards[1].ending_hash_key, kTwo127 - 1);
  EXPECT_EQ(shards[2].starting_hash_key, kTwo127);
  EXPECT_EQ(shards[2].ending_hash_key, kMaxHashKey);
  auto after = PutN(s, 1, "c", kTwo127);
  EXPECT_EQ(after[0].shard_index, 2u);
  auto parent_seq = *ParseHashKey(SequenceNumber(0, before[4].offset));
  auto child_seq = *ParseHashKey(SequenceNumber(2, after[0].offset));
  EXPECT_GT(child_seq, parent_seq);
  EXPECT_EQ(s->SplitShard(0, kTwo127).code(), Code::kInvalidArgument);  // closed
  EXPECT_EQ(s->SplitShard(1, 0).code(), Code::kInvalidArgument);        // not inside
  ReadBatch b;
  ASSERT_TRUE(s->Read(0, 0, ReadLimits{}, &b).ok());
  EXPECT_EQ(b.records.size(), 5u);
  EXPECT_TRUE(b.shard_end);
  EXPECT_TRUE(s->WaitForData(0, 5, std::chrono::milliseconds(0)));  // closed: nothing to wait for
}

TEST_F(ReshardTest, MergeLineage) {
  OpenBroker();
  Stream* s = MakeStream("mg", 3);
  EXPECT_EQ(s->MergeShards(0, 2).code(), Code::kInvalidArgument);  // not adjacent
  ASSERT_TRUE(s->MergeShards(1, 2).ok());
  auto child = s->GetShard(3);
  ASSERT_TRUE(child.ok());
  EXPECT_EQ(child->parent_shard_id, "shardId-000000000001");
  EXPECT_EQ(child->adjacent_parent_shard_id, "shardId-000000000002");
  EXPECT_EQ(child->starting_hash_key, EvenRange(1, 3).first);
  EXPECT_EQ(child->ending_hash_key, kMaxHashKey);
  EXPECT_EQ(s->options().shards, 2);
}

TEST_F(ReshardTest, ParentBeforeChild) {
  OpenBroker();
  Stream* s = MakeStream("kcl", 1);
  ASSERT_TRUE(s->RegisterConsumer("app").ok());
  EXPECT_EQ(s->RegisterConsumer("app").code(), Code::kAlreadyExists);
  PutN(s, 3, "p");
  ASSERT_TRUE(s->SplitShard(0, kTwo127).ok());
  EXPECT_EQ(s->ReadableShards("app"), (std::vector<uint32_t>{0}));
  ASSERT_TRUE(s->Checkpoint("app", 0, 2).ok());
  EXPECT_EQ(s->ReadableShards("app"), (std::vector<uint32_t>{0}));
  ASSERT_TRUE(s->Checkpoint("app", 0, 3).ok());
  EXPECT_EQ(s->ReadableShards("app"), (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(s->Checkpoint("app", 1, 9).code(), Code::kInvalidArgument);  // past the end
  EXPECT_EQ(s->Checkpoint("nobody", 1, 0).code(), Code::kNotFound);
  EXPECT_EQ(*s->GetCheckpoint("app", 0), 3u);
  EXPECT_EQ(s->GetCheckpoint("app", 1).status().code(), Code::kNotFound);
  EXPECT_TRUE(s->ReadableShards("nobody").empty());
}

TEST_F(ReshardTest, UpdateShardCountScalesUniformly) {
  OpenBroker();
  Stream* s = MakeStream("u", 2);
  EXPECT_EQ(s->UpdateShardCount(5).code(), Code::kInvalidArgument);
  ASSERT_TRUE(s->UpdateShardCount(3).ok());
  std::vector<ShardInfo> open;
  for (auto& i : s->ListShards()) {
    if (i.open) open.push_back(i);
    int parents = i.parent_shard_id.has_value() + i.adjacent_parent_shard_id.has_value();
    EXPECT_LE(parents, 2);
  }
  std::sort(open.begin(), open.end(),
            [](auto& a, auto& b) { return a.starting_hash_key < b.starting_hash_key; });
  ASSERT_EQ(open.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(open[i].starting_hash_key, EvenRange(i, 3).first);
    EXPECT_EQ(open[i].ending_hash_key, EvenRange(i, 3).second);
  }
  ASSERT_TRUE(s->UpdateShardCount(2).ok());
  EXPECT_EQ(s->options().shards, 2);
}

TEST_F(ReshardTest, UpdateShardCountEveryValidTarget) {
  OpenBroker();
  int n = 0;
  for (int from = 1; from <= 5; ++from) {
    for (int target = (from + 1) / 2; target <= 2 * from; ++target) {
      Stream* s = MakeStream(testing::Cat("u", n++), from);
      PutN(s, 3, "x", kMaxHashKey);
      ASSERT_TRUE(s->UpdateShardCount(target).ok()) << from << " -> " << target;
      std::vector<ShardInfo> open;
      for (auto& i : s->ListShards()) {
        if (i.open) open.push_back(i);
      }
      std::sort(open.begin(), open.end(),
                [](auto& a, auto& b) { return a.starting_hash_key < b.starting_hash_key; });
      ASSERT_EQ(open.size(), static_cast<size_t>(target)) << from << " -> " << target;
      for (int i = 0; i < target; ++i) {
        EXPECT_EQ(open[i].starting_hash_key, EvenRange(i, target).first);
        EXPECT_EQ(open[i].ending_hash_key, EvenRange(i, target).second);
      }
      // Every key still routes to an open shard, and child numbers exceed the parents'.
      auto out = PutN(s, 1, "y", kMaxHashKey);
      ASSERT_TRUE(out[0].status.ok());
      EXPECT_GT(*ParseHashKey(SequenceNumber(out[0].shard_index, out[0].offset)),
                *ParseHashKey(SequenceNumber(0, 2)));
    }
  }
}

TEST_F(ReshardTest, RestartKeepsStreamsLineageAndCheckpoints) {
  OpenBroker();
  Stream* s = MakeStream("keep", 2);
  ASSERT_TRUE(s->SetRetentionHours(48).ok());
  ASSERT_TRUE(s->RegisterConsumer("c1").ok());
  const int64_t registered = s->ConsumerCreatedMs("c1");
  EXPECT_EQ(registered, clock_.NowMs());
  PutN(s, 4, "x");
  ASSERT_TRUE(s->SplitShard(1, kTwo127 + 5).ok());
  ASSERT_TRUE(s->Checkpoint("c1", 0, 3).ok());
  auto shards_before = s->ListShards();
  OpenBroker();
  EXPECT_EQ(broker_->ListStreams(), (std::vector<std::string>{"keep"}));
  s = *broker_->GetStream("keep");
  auto shards = s->ListShards();
  ASSERT_EQ(shards.size(), shards_before.size());
  for (size_t i = 0; i < shards.size(); ++i) {
    EXPECT_EQ(shards[i].shard_id, shards_before[i].shard_id);
    EXPECT_EQ(shards[i].starting_hash_key, shards_before[i].starting_hash_key);
    EXPECT_EQ(shards[i].ending_hash_key, shards_before[i].ending_hash_key);
    EXPECT_EQ(shards[i].parent_shard_id, shards_before[i].parent_shard_id);
    EXPECT_EQ(shards[i].open, shards_before[i].open);
    EXPECT_EQ(shards[i].ending_sequence_number, shards_before[i].ending_sequence_number);
  }
  EXPECT_EQ(s->options().retention_hours, 48);
  EXPECT_EQ(s->ListConsumers(), (std::vector<std::string>{"c1"}));
  EXPECT_EQ(s->ConsumerCreatedMs("c1"), registered);
  EXPECT_EQ(*s->GetCheckpoint("c1", 0), 3u);
  EXPECT_EQ(ReadAll(s, 0).size(), 4u);
  EXPECT_EQ(PutN(s, 1, "y")[0].shard_index, 0u);
  EXPECT_EQ(PutN(s, 1, "z", kMaxHashKey)[0].shard_index, 3u);
  ASSERT_TRUE(broker_->DeleteStream("keep").ok());
  EXPECT_TRUE(broker_->ListStreams().empty());
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "streams/keep"));
  // A stream directory without metadata (a create or delete cut short) is not a stream.
  std::filesystem::create_directories(dir_.path() / "streams/ghost/shardId-000000000000");
  OpenBroker();
  EXPECT_TRUE(broker_->ListStreams().empty());
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "streams/ghost"));
  EXPECT_TRUE(MakeStream("ghost", 1) != nullptr);
}

}  // namespace
}  // namespace sluice::broker
