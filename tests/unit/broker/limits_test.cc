#include <gtest/gtest.h>

#include "broker_test_util.h"

namespace sluice::broker {
namespace {

constexpr int64_t kHour = 3600 * 1000;

class LimitsTest : public testing::BrokerTest {};

TEST_F(LimitsTest, RetentionDropsWholeSegmentsAndExpiredShards) {
  BrokerOptions o = Options();
  o.segment_bytes = 1024;
  OpenBroker(o);
  Stream* s = MakeStream("ret", 1);
  EXPECT_EQ(s->SetRetentionHours(23).code(), Code::kInvalidArgument);
  EXPECT_EQ(s->SetRetentionHours(8761).code(), Code::kInvalidArgument);
  for (int i = 0; i < 20; ++i) PutN(s, 10, "old");
  clock_.Advance(12 * kHour);
  for (int i = 0; i < 2; ++i) PutN(s, 10, "new");
  uint64_t usage = broker_->DiskUsageBytes();
  clock_.Advance(12 * kHour + 1);
  ASSERT_TRUE(broker_->EnforceRetention().ok());
  EXPECT_LT(broker_->DiskUsageBytes(), usage);
  auto got = ReadAll(s, 0);
  ASSERT_FALSE(got.empty());
  EXPECT_LT(got.size(), 220u);
  EXPECT_EQ(got.back(), "new9");
  // Everything expires; the open shard rolls and keeps counting offsets.
  clock_.Advance(25 * kHour);
  ASSERT_TRUE(broker_->EnforceRetention().ok());
  EXPECT_TRUE(ReadAll(s, 0).empty());
  EXPECT_EQ(PutN(s, 1, "later")[0].offset, 220u);
  ASSERT_TRUE(s->SplitShard(0, 1000).ok());
  clock_.Advance(25 * kHour);
  ASSERT_TRUE(broker_->EnforceRetention().ok());
  auto shards = s->ListShards();
  ASSERT_EQ(shards.size(), 2u);  // the closed parent left the listing
  EXPECT_EQ(shards[0].shard_id, "shardId-000000000001");
  EXPECT_EQ(s->GetShard(0).status().code(), Code::kNotFound);
  OpenBroker(o);
  EXPECT_EQ((*broker_->GetStream("ret"))->ListShards().size(), 2u);
}

TEST_F(LimitsTest, QuotaGivesBackPressure) {
  BrokerOptions o = Options();
  o.disk_quota_bytes = 64 * 1024;
  OpenBroker(o);
  Stream* s = MakeStream("q", 1);
  std::string data(1000, 'd');
  PutRecordIn in{"k", data, std::nullopt};
  std::vector<PutRecordIn> batch(10, in);
  std::vector<PutRecordOut> out;
  int accepted = 0;
  bool exhausted = false;
  for (int i = 0; i < 20 && !exhausted; ++i) {
    ASSERT_TRUE(s->PutBatch(batch, &out).ok());
    for (auto& r : out) {
      if (r.status.ok()) ++accepted;
      if (r.status.code() == Code::kResourceExhausted) exhausted = true;
    }
  }
  EXPECT_TRUE(exhausted);
  EXPECT_GT(accepted, 40);
  EXPECT_LE(broker_->DiskUsageBytes(), o.disk_quota_bytes);
  EXPECT_EQ(ReadAll(s, 0).size(), static_cast<size_t>(accepted));  // nothing dropped
}

TEST_F(LimitsTest, ProvisionedWriteAndReadLimits) {
  OpenBroker();
  Stream* s = MakeStream("prov", 1, FsyncPolicy::kNever, CapacityMode::kProvisioned);
  std::vector<PutRecordIn> batch(500, PutRecordIn{"k", "d", std::nullopt});
  std::vector<PutRecordOut> out;
  ASSERT_TRUE(s->PutBatch(batch, &out).ok());
  ASSERT_TRUE(s->PutBatch(batch, &out).ok());
  ASSERT_TRUE(s->PutBatch(batch, &out).ok());  // 1500 records in one second: 500 refused
  int refused = 0;
  for (auto& r : out) refused += r.status.code() == Code::kResourceExhausted;
  EXPECT_EQ(refused, 500);
  clock_.Advance(1000);
  ASSERT_TRUE(s->PutBatch(batch, &out).ok());
  EXPECT_TRUE(out.back().status.ok());
  // Bytes: 1 MiB per second.
  std::string big(400 * 1024, 'b');
  std::vector<PutRecordIn> bigs(3, PutRecordIn{"k", big, std::nullopt});
  clock_.Advance(1000);
  ASSERT_TRUE(s->PutBatch(bigs, &out).ok());
  EXPECT_TRUE(out[0].status.ok());
  EXPECT_EQ(out[2].status.code(), Code::kResourceExhausted);
  // Reads: 5 calls per second.
  clock_.Advance(1000);
  ReadBatch b;
  ReadLimits small;
  small.max_records = 1;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(s->Read(0, 0, small, &b).ok()) << i;
  EXPECT_EQ(s->Read(0, 0, small, &b).code(), Code::kResourceExhausted);
  for (int i = 0; i < 2; ++i) {
    clock_.Advance(1000);
    ASSERT_TRUE(s->PutBatch(bigs, &out).ok());  // two of three fit in each second
  }
  clock_.Advance(1000);
  // 2 MiB per second: a big read overdraws, the next waits.
  ASSERT_TRUE(s->Read(0, 0, ReadLimits{}, &b).ok());
  EXPECT_EQ(b.records.size(), 1506u);
  clock_.Advance(1);
  EXPECT_EQ(s->Read(0, 0, small, &b).code(), Code::kResourceExhausted);
  // The last batch's last record was refused: the last one written ends its write
  // (kFrameFlagWriteEnd), so recovery keeps every accepted record.
  broker_.reset();
  OpenBroker();
  auto again = broker_->GetStream("prov");
  ASSERT_TRUE(again.ok());
  clock_.Advance(10000);
  ASSERT_TRUE((*again)->Read(0, 0, ReadLimits{}, &b).ok());
  EXPECT_EQ(b.records.size(), 1506u);
}

}  // namespace
}  // namespace sluice::broker
