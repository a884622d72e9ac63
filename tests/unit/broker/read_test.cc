#include <gtest/gtest.h>

#include <thread>

#include "broker_test_util.h"

namespace sluice::broker {
namespace {

class ReadTest : public testing::BrokerTest {};

TEST_F(ReadTest, LimitsAndBufferReuse) {
  OpenBroker();
  Stream* s = MakeStream("r", 1);
  PutN(s, 100, "rec");
  ReadBatch b;
  ReadLimits lim;
  lim.max_records = 30;
  ASSERT_TRUE(s->Read(0, 0, lim, &b).ok());
  ASSERT_EQ(b.records.size(), 30u);
  EXPECT_EQ(b.records[0].data, "rec0");
  EXPECT_EQ(b.records[0].partition_key, "pk");
  EXPECT_EQ(b.records[29].offset, 29u);
  EXPECT_EQ(b.next_offset, 30u);
  EXPECT_FALSE(b.shard_end);
  EXPECT_LT(b.buffer.size(), 64u * 1024);  // sized to the shard's data, not to the 10 MiB limit
  const char* buf = b.buffer.data();
  ASSERT_TRUE(s->Read(0, b.next_offset, lim, &b).ok());
  EXPECT_EQ(b.buffer.data(), buf);  // the buffer is reused, not reallocated
  EXPECT_EQ(b.records[0].data, "rec30");
  lim.max_records = 1000;
  lim.max_bytes = 20;  // key and data count: two records of 7 bytes fit, a third does not
  ASSERT_TRUE(s->Read(0, 60, lim, &b).ok());
  EXPECT_EQ(b.records.size(), 2u);
  EXPECT_EQ(*s->EndOffset(0), 100u);
  ASSERT_TRUE(s->Read(0, 100, ReadLimits{}, &b).ok());
  EXPECT_TRUE(b.records.empty());
  EXPECT_EQ(b.next_offset, 100u);
}

TEST_F(ReadTest, EventTimesRoundTripBesideRecordsWithout) {
  OpenBroker();
  Stream* s = MakeStream("ev", 1);
  // Small records (framed in one buffer) and large ones (zero-copy), with and without times.
  const std::string big(100000, 'b');
  std::vector<PutRecordIn> in = {
      {"k1", "plain", std::nullopt}, {"k2", "timed", std::nullopt, 1710079509123},
      {"k3", big, std::nullopt, -5}, {"k4", big, std::nullopt},
      {"k5", "", std::nullopt, 0},
  };
  std::vector<PutRecordOut> out;
  ASSERT_TRUE(s->PutBatch(in, &out).ok());
  for (int round = 0; round < 2; ++round) {
    ReadBatch b;
    ASSERT_TRUE(s->Read(0, 0, ReadLimits{}, &b).ok());
    ASSERT_EQ(b.records.size(), 5u);
    for (size_t i = 0; i < in.size(); ++i) {
      EXPECT_EQ(b.records[i].partition_key, in[i].partition_key) << i;
      EXPECT_EQ(b.records[i].data, in[i].data) << i;
      EXPECT_EQ(b.records[i].event_ms, in[i].event_ms) << i;
    }
    EXPECT_EQ(b.records[0].time_ms(), b.records[0].arrival_ms);
    EXPECT_EQ(b.records[1].time_ms(), 1710079509123);
    OpenBroker();  // recovery re-verifies every CRC, the event times included
    auto again = broker_->GetStream("ev");
    ASSERT_TRUE(again.ok());
    s = *again;
  }
}

TEST_F(ReadTest, MixedSizesRoundTrip) {
  OpenBroker();
  Stream* s = MakeStream("mix", 1);
  std::vector<std::string> data;
  for (size_t n : {10, 5000, 20, 100000, 3000, 0, 2048, 2047}) {
    std::string d(n, '\0');
    for (size_t i = 0; i < n; ++i) d[i] = static_cast<char>('a' + (i * 7 + n) % 26);
    data.push_back(d);
  }
  std::vector<PutRecordIn> in;
  for (const auto& d : data) in.push_back({"key", d, std::nullopt});
  std::vector<PutRecordOut> out;
  ASSERT_TRUE(s->PutBatch(in, &out).ok());
  ASSERT_TRUE(s->PutBatch(in, &out).ok());
  EXPECT_EQ(out.back().offset, 15u);
  for (int round = 0; round < 2; ++round) {
    auto got = ReadAll(s, 0);
    ASSERT_EQ(got.size(), 16u);
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], data[i % 8]) << i;
    OpenBroker();  // recovery re-verifies every CRC
    s = *broker_->GetStream("mix");
  }
}

TEST_F(ReadTest, ReadsAcrossSegmentsAndAfterRestart) {
  BrokerOptions o = Options();
  o.segment_bytes = 2048;
  OpenBroker(o);
  Stream* s = MakeStream("seg", 1);
  for (int i = 0; i < 50; ++i) PutN(s, 10, testing::Cat("b", i, "-"));
  auto got = ReadAll(s, 0);
  ASSERT_EQ(got.size(), 500u);
  EXPECT_EQ(got[499], "b49-9");
  size_t logs = 0, indexes = 0;
  for (auto& e :
       std::filesystem::directory_iterator(dir_.path() / "streams/seg/shardId-000000000000")) {
    logs += e.path().extension() == ".log";
    indexes += e.path().extension() == ".index";
  }
  EXPECT_GT(logs, 5u);
  EXPECT_GE(indexes, logs - 1);
  OpenBroker(o);
  s = *broker_->GetStream("seg");
  got = ReadAll(s, 0, 123);
  ASSERT_EQ(got.size(), 377u);
  EXPECT_EQ(got[0], "b12-3");
  EXPECT_EQ(*s->EndOffset(0), 500u);
  EXPECT_EQ(PutN(s, 1, "after")[0].offset, 500u);
}

TEST_F(ReadTest, OffsetAtTimestampAndMillisBehind) {
  BrokerOptions o = Options();
  o.segment_bytes = 1024;
  OpenBroker(o);
  Stream* s = MakeStream("t", 1);
  int64_t t0 = clock_.NowMs();
  for (int i = 0; i < 40; ++i) {
    PutN(s, 5, "x");
    clock_.Advance(1000);
  }
  EXPECT_EQ(*s->OffsetAtTimestamp(0, t0 - 1), 0u);
  EXPECT_EQ(*s->OffsetAtTimestamp(0, t0), 0u);
  EXPECT_EQ(*s->OffsetAtTimestamp(0, t0 + 1), 5u);
  EXPECT_EQ(*s->OffsetAtTimestamp(0, t0 + 17000), 85u);
  EXPECT_EQ(*s->OffsetAtTimestamp(0, t0 + 39000), 195u);
  EXPECT_EQ(*s->OffsetAtTimestamp(0, t0 + 99000), 200u);
  ReadBatch b;
  ReadLimits lim;
  lim.max_records = 5;
  ASSERT_TRUE(s->Read(0, 0, lim, &b).ok());
  EXPECT_EQ(b.millis_behind_latest, 40000);
  ASSERT_TRUE(s->Read(0, 195, lim, &b).ok());
  EXPECT_EQ(b.millis_behind_latest, 0);
}

TEST_F(ReadTest, WaitForDataWakesOnPut) {
  OpenBroker();
  Stream* s = MakeStream("w", 1);
  EXPECT_FALSE(s->WaitForData(0, 0, std::chrono::milliseconds(0)));
  std::thread t([&] { PutN(s, 1, "x"); });
  EXPECT_TRUE(s->WaitForData(0, 0, std::chrono::milliseconds(60000)));
  t.join();
  EXPECT_TRUE(s->WaitForData(0, 0, std::chrono::milliseconds(0)));
  EXPECT_FALSE(s->WaitForData(0, 1, std::chrono::milliseconds(0)));
}

TEST_F(ReadTest, DurableGenerationFollowsPolicy) {
  OpenBroker();
  Stream* interval = MakeStream("i", 2);
  Stream* always = MakeStream("a", 1, FsyncPolicy::kAlways);
  Stream* never = MakeStream("n", 1, FsyncPolicy::kNever);
  PutN(interval, 3, "x");
  EXPECT_EQ(interval->WriteGeneration(), 1u);
  EXPECT_EQ(interval->DurableGeneration(), 0u);
  ASSERT_TRUE(broker_->SyncDue().ok());
  EXPECT_EQ(interval->DurableGeneration(), 0u);  // the interval has not passed
  clock_.Advance(100);
  ASSERT_TRUE(broker_->SyncDue().ok());
  EXPECT_EQ(interval->DurableGeneration(), 1u);
  PutN(interval, 1, "y");
  ASSERT_TRUE(interval->Sync().ok());
  EXPECT_EQ(interval->DurableGeneration(), 2u);
  PutN(always, 1, "x");
  EXPECT_EQ(always->DurableGeneration(), always->WriteGeneration());
  PutN(never, 1, "x");
  EXPECT_EQ(never->DurableGeneration(), 1u);
}

}  // namespace
}  // namespace sluice::broker
