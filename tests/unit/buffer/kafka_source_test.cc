// The kafka delivery source against librdkafka's mock cluster (the Kafka protocol, in this
// process): reading assigned partitions from committed offsets, a plan left by one member
// replayed by the next, and a second member taking partitions away from the first.
#include "buffer/kafka_source.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>

namespace sluice::buffer {
namespace {

using std::chrono::milliseconds;

class MockKafka {
 public:
  explicit MockKafka(int partitions) {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    mc_ = rd_kafka_mock_cluster_new(rk_, 1);
    bootstrap_ = rd_kafka_mock_cluster_bootstraps(mc_);
    rd_kafka_mock_topic_create(mc_, "logs", partitions, 1);
  }
  ~MockKafka() {
    rd_kafka_mock_cluster_destroy(mc_);
    rd_kafka_destroy(rk_);
  }
  const std::string& bootstrap() const { return bootstrap_; }

  // Records "rec-<first>".."rec-<first+n-1>", keyed "k<i>" (spread over the partitions).
  void Produce(int first, int n) {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rd_kafka_t* p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    ASSERT_NE(p, nullptr) << err;
    for (int i = first; i < first + n; ++i) {
      std::string key = "k" + std::to_string(i), value = "rec-" + std::to_string(i);
      rd_kafka_resp_err_t e =
          rd_kafka_producev(p, RD_KAFKA_V_TOPIC("logs"), RD_KAFKA_V_KEY(key.data(), key.size()),
                            RD_KAFKA_V_VALUE(value.data(), value.size()),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      ASSERT_EQ(e, RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    ASSERT_EQ(rd_kafka_flush(p, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);
  }

 private:
  rd_kafka_t* rk_;
  rd_kafka_mock_cluster_t* mc_;
  std::string bootstrap_;
};

std::unique_ptr<KafkaSource> OpenSource(const MockKafka& kafka, const std::string& group,
                                        StartPosition at = StartPosition::kTrimHorizon,
                                        int64_t at_ms = 0) {
  KafkaSourceOptions ko;
  ko.brokers = kafka.bootstrap();
  ko.topics = {"logs"};
  ko.group = group;
  ko.rebalance_grace = milliseconds(2000);
  ko.properties = {
      {"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "300"}, {"log_level", "3"}};
  auto source = std::make_unique<KafkaSource>(ko, 8u << 20);
  DeliveryOptions o;
  o.name = "test";
  o.initial_position = at;
  o.initial_timestamp_ms = at_ms;
  EXPECT_TRUE(source->Open(o).ok());
  return source;
}

// Waits until `pred` holds, up to 40 s (a group's first join alone takes the mock's 3 s delay).
template <typename Pred>
bool Eventually(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return pred();
}

// Reads every readable shard from `next` (its start per shard, moved on) until `want` records
// came in all or 10 s passed; returns the values.
std::set<std::string> ReadShards(KafkaSource* s, std::map<uint32_t, uint64_t>* next, size_t want) {
  std::set<std::string> out;
  broker::ReadBatch rb;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (out.size() < want && std::chrono::steady_clock::now() < deadline) {
    bool got = false;
    for (auto& [shard, from] : *next) {
      EXPECT_TRUE(s->Read(shard, from, broker::ReadLimits{}, &rb).ok());
      for (const auto& r : rb.records) {
        EXPECT_GE(r.offset, from);
        out.emplace(r.data);
      }
      got |= !rb.records.empty();
      from = rb.next_offset;
    }
    if (!got) std::this_thread::sleep_for(milliseconds(20));
  }
  return out;
}

TEST(KafkaSourceTest, ReadsAssignedPartitionsAndResumesAtCommittedOffsets) {
  MockKafka kafka(4);
  kafka.Produce(1, 200);
  {
    auto a = OpenSource(kafka, "g1");
    ASSERT_TRUE(Eventually([&] { return a->ReadableShards().size() == 4; }));
    std::map<uint32_t, uint64_t> next;
    for (uint32_t shard : a->ReadableShards()) {
      EXPECT_EQ(a->GetCheckpoint(shard).status().code(), Code::kNotFound);
      next[shard] = 0;
    }
    EXPECT_EQ(ReadShards(a.get(), &next, 200).size(), 200u);
    std::vector<broker::ShardPosition> positions;
    for (const auto& [shard, from] : next) positions.push_back({shard, from});
    ASSERT_TRUE(a->Checkpoint(positions).ok());
    SourceStats st = a->stats();
    EXPECT_EQ(st.type, "kafka");
    EXPECT_EQ(st.shards.size(), 4u);
    for (const SourceShardStats& sh : st.shards) EXPECT_EQ(sh.lag, 0u) << sh.id;
    a->Close();
  }
  kafka.Produce(201, 20);
  auto b = OpenSource(kafka, "g1");
  ASSERT_TRUE(Eventually([&] { return b->ReadableShards().size() == 4; }));
  std::map<uint32_t, uint64_t> next;
  for (uint32_t shard : b->ReadableShards()) {
    auto ck = b->GetCheckpoint(shard);
    ASSERT_TRUE(ck.ok()) << ck.status().ToString();
    next[shard] = *ck;
  }
  std::set<std::string> seen = ReadShards(b.get(), &next, 20);
  // Only what came after the commit.
  EXPECT_EQ(seen.size(), 20u);
  for (int i = 201; i <= 220; ++i) EXPECT_TRUE(seen.count("rec-" + std::to_string(i))) << i;
}

TEST(KafkaSourceTest, APlanLeftByOneMemberIsFoundByTheNext) {
  MockKafka kafka(2);
  kafka.Produce(1, 50);
  std::string label;
  {
    auto a = OpenSource(kafka, "g2");
    ASSERT_TRUE(Eventually([&] { return a->ReadableShards().size() == 2; }));
    uint32_t shard = a->ReadableShards()[0];
    label = a->RangeLabel(shard);
    std::map<uint32_t, uint64_t> next{{shard, 0}};
    ASSERT_GE(ReadShards(a.get(), &next, 5).size(), 5u);
    JournalEntry plan;
    plan.object_key = "2026/12/06/obj-1";
    plan.error_key = "processing-failed/obj-1";
    plan.oldest_arrival_ms = 1234;
    plan.records = 5;
    plan.ranges = {{shard, 0, 4}};
    ASSERT_TRUE(a->RecordPlan(plan).ok());
    // Gone before the batch was committed (as a crash would leave it).
    a->Close();
  }
  auto b = OpenSource(kafka, "g2");
  ASSERT_TRUE(Eventually([&] { return b->ReadableShards().size() == 2; }));
  std::optional<uint32_t> same;
  for (uint32_t s : b->ReadableShards()) {
    if (b->RangeLabel(s) == label) same = s;
  }
  ASSERT_TRUE(same);
  auto ck = b->GetCheckpoint(*same);
  ASSERT_TRUE(ck.ok());
  EXPECT_EQ(*ck, 0u);  // the plan's commit does not move the offset
  std::optional<JournalEntry> plan = b->TakePlan(*same, 0);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->object_key, "2026/12/06/obj-1");
  EXPECT_EQ(plan->oldest_arrival_ms, 1234);
  ASSERT_EQ(plan->ranges.size(), 1u);
  EXPECT_EQ(plan->ranges[0].shard, *same);  // this member's index for the partition
  EXPECT_EQ(plan->ranges[0].last, 4u);
  EXPECT_FALSE(b->TakePlan(*same, 0));  // taken once
  EXPECT_EQ(b->stats().plans_replayed, 1u);
  // Committing the batch clears the plan: a third member finds none.
  broker::ShardPosition done{*same, 5};
  ASSERT_TRUE(b->Checkpoint({&done, 1}).ok());
  b->Close();
  auto c = OpenSource(kafka, "g2");
  ASSERT_TRUE(Eventually([&] { return c->ReadableShards().size() == 2; }));
  for (uint32_t s : c->ReadableShards()) {
    auto at = c->GetCheckpoint(s);
    if (c->RangeLabel(s) == label) {
      ASSERT_TRUE(at.ok());
      EXPECT_EQ(*at, 5u);
      EXPECT_FALSE(c->TakePlan(s, 5));
    }
  }
}

TEST(KafkaSourceTest, ASecondMemberTakesPartitionsAndTheFirstSeesThemRevoked) {
  MockKafka kafka(4);
  auto a = OpenSource(kafka, "g3");
  ASSERT_TRUE(Eventually([&] { return a->ReadableShards().size() == 4; }));
  std::vector<uint64_t> before;
  for (uint32_t s = 0; s < 4; ++s) before.push_back(a->Generation(s));
  auto b = OpenSource(kafka, "g3");
  ASSERT_TRUE(Eventually(
      [&] { return b->ReadableShards().size() == 2 && a->ReadableShards().size() == 2; }));
  // Every partition of the first member changed generation (eager rebalancing revokes all).
  for (uint32_t s = 0; s < 4; ++s) EXPECT_NE(a->Generation(s), before[s]);
  std::set<std::string> labels;
  for (uint32_t s : a->ReadableShards()) labels.insert(a->RangeLabel(s));
  for (uint32_t s : b->ReadableShards()) labels.insert(b->RangeLabel(s));
  EXPECT_EQ(labels.size(), 4u);  // each partition with one member
  SourceStats st = a->stats();
  EXPECT_GE(st.rebalances, 2u);
  EXPECT_GE(st.revocations, 4u);
  // A plan for a partition no longer held is refused (the engine drops that batch).
  uint32_t gone = 0;
  std::vector<uint32_t> held = a->ReadableShards();
  for (uint32_t s = 0; s < 4; ++s) {
    if (std::find(held.begin(), held.end(), s) == held.end()) gone = s;
  }
  JournalEntry plan;
  plan.object_key = "k";
  plan.ranges = {{gone, 0, 0}};
  EXPECT_EQ(a->RecordPlan(plan).code(), Code::kCancelled);
}

// A new group starts where initial_position says: latest skips what the topic holds; at_timestamp
// starts at the first record produced at or after the time.
TEST(KafkaSourceTest, ANewGroupStartsAtLatestOrAtATimestamp) {
  MockKafka kafka(2);
  kafka.Produce(1, 30);
  std::this_thread::sleep_for(milliseconds(50));
  const int64_t middle =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  std::this_thread::sleep_for(milliseconds(50));
  kafka.Produce(31, 10);
  auto at = OpenSource(kafka, "g5", StartPosition::kAtTimestamp, middle);
  auto latest = OpenSource(kafka, "g6", StartPosition::kLatest);
  ASSERT_TRUE(Eventually(
      [&] { return at->ReadableShards().size() == 2 && latest->ReadableShards().size() == 2; }));
  std::map<uint32_t, uint64_t> next_at, next_latest;
  for (uint32_t s : at->ReadableShards()) next_at[s] = 0;
  for (uint32_t s : latest->ReadableShards()) next_latest[s] = 0;
  std::set<std::string> from_time = ReadShards(at.get(), &next_at, 10);
  EXPECT_EQ(from_time.size(), 10u);
  for (int i = 31; i <= 40; ++i) EXPECT_TRUE(from_time.count("rec-" + std::to_string(i))) << i;
  // Nothing old for latest; what is produced now comes.
  kafka.Produce(41, 5);
  std::set<std::string> new_only = ReadShards(latest.get(), &next_latest, 5);
  EXPECT_EQ(new_only.size(), 5u);
  for (const std::string& v : new_only) EXPECT_GE(std::stoi(v.substr(4)), 41) << v;
}

TEST(KafkaSourceTest, UnknownPropertyIsRefusedNamingIt) {
  KafkaSourceOptions ko;
  ko.brokers = "127.0.0.1:1";
  ko.topics = {"logs"};
  ko.group = "g";
  ko.properties = {{"no.such.property", "1"}};
  KafkaSource source(ko, 1 << 20);
  DeliveryOptions o;
  o.name = "web";
  Status st = source.Open(o);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("deliveries.web.source: properties.no.such.property"),
            std::string::npos)
      << st.message();
}

}  // namespace
}  // namespace sluice::buffer
