// The kinesis delivery source's pure parts: the KPL reader on aggregated records built by hand
// (good, wrong MD5, truncated, malformed), and the checkpoint file (with a batch plan) written
// by one run and read by the next; which leases of a KCL lease table a worker takes.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "buffer/kinesis_checkpoints.h"
#include "buffer/kinesis_leases.h"
#include "buffer/kpl_reader.h"

namespace sluice::buffer {
namespace {

void Varint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void Bytes(uint32_t field, std::string_view b, std::string* out) {
  Varint(field << 3 | 2, out);
  Varint(b.size(), out);
  out->append(b);
}

std::string Md5(std::string_view s) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), d, &n, EVP_md5(), nullptr);
  return std::string(reinterpret_cast<const char*>(d), n);
}

struct User {
  uint64_t key;
  std::string data;
};

// An AggregatedRecord: the key table, an explicit hash key table entry (ignored by readers),
// and records with a tag each.
std::string Message(const std::vector<std::string>& keys, const std::vector<User>& users) {
  std::string m;
  for (const auto& k : keys) Bytes(1, k, &m);
  Bytes(2, "1234567890", &m);
  for (const User& u : users) {
    std::string r;
    Varint(1 << 3 | 0, &r);
    Varint(u.key, &r);
    Varint(2 << 3 | 0, &r);
    Varint(0, &r);
    Bytes(3, u.data, &r);
    std::string tag;
    Bytes(1, "k", &tag);
    Bytes(4, tag, &r);
    Bytes(3, r, &m);
  }
  return m;
}

std::string Aggregate(const std::string& message) {
  return std::string(kKplMagic, 4) + message + Md5(message);
}

TEST(KplReaderTest, SplitsAnAggregatedRecord) {
  std::string rec = Aggregate(Message({"a", "bb"}, {{0, "one"}, {1, "two"}, {0, ""}, {1, "4"}}));
  KplReader r;
  ASSERT_EQ(r.Read(rec), KplReader::Kind::kAggregated);
  ASSERT_EQ(r.records().size(), 4u);
  EXPECT_EQ(r.records()[0].partition_key, "a");
  EXPECT_EQ(r.records()[0].data, "one");
  EXPECT_EQ(r.records()[1].partition_key, "bb");
  EXPECT_EQ(r.records()[1].data, "two");
  EXPECT_EQ(r.records()[2].data, "");
  EXPECT_EQ(r.records()[3].partition_key, "bb");
}

TEST(KplReaderTest, PlainRecordIsPlain) {
  KplReader r;
  EXPECT_EQ(r.Read("hello"), KplReader::Kind::kPlain);
  EXPECT_EQ(r.Read(""), KplReader::Kind::kPlain);
  EXPECT_EQ(r.Read(std::string(kKplMagic, 3)), KplReader::Kind::kPlain);
}

TEST(KplReaderTest, WrongMd5IsBad) {
  std::string rec = Aggregate(Message({"a"}, {{0, "one"}}));
  rec.back() ^= 1;
  KplReader r;
  EXPECT_EQ(r.Read(rec), KplReader::Kind::kBad);
  EXPECT_TRUE(r.records().empty());
}

TEST(KplReaderTest, TruncatedIsBad) {
  std::string m = Message({"a"}, {{0, "one"}});
  KplReader r;
  // The message cut short, with its MD5 matching what is left: the protobuf is malformed.
  std::string cut = m.substr(0, m.size() - 2);
  EXPECT_EQ(r.Read(std::string(kKplMagic, 4) + cut + Md5(cut)), KplReader::Kind::kBad);
  // The trailer cut short.
  std::string rec = Aggregate(m);
  EXPECT_EQ(r.Read(rec.substr(0, rec.size() - 3)), KplReader::Kind::kBad);
  EXPECT_EQ(r.Read(std::string(kKplMagic, 4) + "abc"), KplReader::Kind::kBad);
}

TEST(KplReaderTest, KeyIndexOutOfTableIsBad) {
  KplReader r;
  EXPECT_EQ(r.Read(Aggregate(Message({"a"}, {{0, "x"}, {1, "y"}}))), KplReader::Kind::kBad);
}

TEST(KplReaderTest, RecordWithoutDataIsBad) {
  std::string m;
  Bytes(1, "a", &m);
  std::string inner;
  Varint(1 << 3, &inner);
  Varint(0, &inner);
  Bytes(3, inner, &m);
  KplReader r;
  EXPECT_EQ(r.Read(Aggregate(m)), KplReader::Kind::kBad);
}

class KinesisCheckpointsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kinesis-ck-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(KinesisCheckpointsTest, AbsentFileIsNoCheckpoints) {
  auto ck = ReadKinesisCheckpoints(dir_);
  ASSERT_TRUE(ck.ok()) << ck.status().message();
  EXPECT_TRUE(ck->empty());
}

TEST_F(KinesisCheckpointsTest, PlanAndCheckpointSurviveARestart) {
  KinesisCheckpoints before;
  KinesisCheckpoint& a = before["shardId-000000000000"];
  a.sequence = "49590338271490256608559692538361571095921575989136588898";
  a.sub = 3;  // inside an aggregate
  JournalEntry plan;
  plan.worker = 1;
  plan.object_key = "2026/12/06/06/logs-1-2026-12-06-06-00-00-0123";
  plan.error_key = "processing-failed/x";
  plan.oldest_arrival_ms = 1796000000123;
  plan.records = 250;
  plan.ranges = {{0, 0, 249}};
  a.plan = plan;
  KinesisCheckpoint& b = before["shardId-000000000001"];
  b.end = true;
  before["shardId-000000000002"].sequence = "7";
  ASSERT_TRUE(WriteKinesisCheckpoints(dir_, before).ok());
  // No temporary left beside it.
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 1);

  auto after = ReadKinesisCheckpoints(dir_);
  ASSERT_TRUE(after.ok()) << after.status().message();
  ASSERT_EQ(after->size(), 3u);
  const KinesisCheckpoint& a2 = after->at("shardId-000000000000");
  EXPECT_EQ(a2.sequence, a.sequence);
  EXPECT_EQ(a2.sub, 3);
  EXPECT_FALSE(a2.end);
  ASSERT_TRUE(a2.plan.has_value());
  EXPECT_EQ(a2.plan->object_key, plan.object_key);
  EXPECT_EQ(a2.plan->error_key, plan.error_key);
  EXPECT_EQ(a2.plan->oldest_arrival_ms, plan.oldest_arrival_ms);
  EXPECT_EQ(a2.plan->records, 250u);
  ASSERT_EQ(a2.plan->ranges.size(), 1u);
  EXPECT_EQ(a2.plan->ranges[0].first, 0u);
  EXPECT_EQ(a2.plan->ranges[0].last, 249u);
  EXPECT_TRUE(after->at("shardId-000000000001").end);
  EXPECT_FALSE(after->at("shardId-000000000001").plan.has_value());
  EXPECT_EQ(after->at("shardId-000000000002").sub, -1);
}

TEST_F(KinesisCheckpointsTest, MalformedFileNamesItself) {
  std::ofstream(dir_ / kKinesisCheckpointFile) << "{\"shards\":[{\"id\":1}]}";
  auto ck = ReadKinesisCheckpoints(dir_);
  ASSERT_FALSE(ck.ok());
  EXPECT_NE(ck.status().message().find("kinesis-checkpoints.json"), std::string::npos);
}

TEST_F(KinesisCheckpointsTest, PlanNotAtItsCheckpointIsRefused) {
  KinesisCheckpoints c;
  JournalEntry plan;
  plan.ranges = {{0, 5, 9}};
  c["s"].plan = plan;
  EXPECT_FALSE(DecodeKinesisCheckpoints(EncodeKinesisCheckpoints(c)).ok());
}

}  // namespace
}  // namespace sluice::buffer

// ---- LeasesToTake: KCL's rule for which leases a worker takes ---------------------------------

namespace sluice::buffer {
namespace {

KinesisLease L(std::string key, std::string owner, std::string checkpoint = "TRIM_HORIZON") {
  KinesisLease l;
  l.key = std::move(key);
  l.owner = std::move(owner);
  l.checkpoint = std::move(checkpoint);
  return l;
}

std::vector<std::string> Take(const std::vector<KinesisLease>& leases, std::string_view me,
                              std::set<std::string> expired = {}) {
  std::vector<std::string> out;
  for (const KinesisLease* l :
       LeasesToTake(leases, me, [&](const KinesisLease& l) { return expired.count(l.key) > 0; })) {
    out.push_back(l->key);
  }
  return out;
}

TEST(LeasesToTakeTest, FirstWorkerTakesEveryFreeLease) {
  EXPECT_EQ(Take({L("s0", ""), L("s1", ""), L("s2", "")}, "a"),
            (std::vector<std::string>{"s0", "s1", "s2"}));
}

TEST(LeasesToTakeTest, NewWorkerStealsOneAtATimeUpToItsShare) {
  // 4 leases, 2 workers: a share of 2; b holds 4, more than its share: one is taken.
  std::vector<KinesisLease> leases = {L("s0", "b"), L("s1", "b"), L("s2", "b"), L("s3", "b")};
  EXPECT_EQ(Take(leases, "a").size(), 1u);
  leases[0].owner = "a";
  EXPECT_EQ(Take(leases, "a").size(), 1u);  // b still holds 3 > 2
  leases[1].owner = "a";
  EXPECT_TRUE(Take(leases, "a").empty());  // 2 and 2: balanced
  EXPECT_TRUE(Take(leases, "b").empty());
}

TEST(LeasesToTakeTest, UnevenCountsSettle) {
  // 5 leases, 3 workers: a share of 2; 2, 2, 1 is as even as it gets.
  std::vector<KinesisLease> leases = {L("s0", "a"), L("s1", "a"), L("s2", "b"), L("s3", "b"),
                                      L("s4", "c")};
  EXPECT_TRUE(Take(leases, "c").empty());
  // 4 leases, 3 workers (share 2), c holds none: it takes one from a worker at its share.
  leases.pop_back();
  EXPECT_EQ(Take(leases, "c").size(), 1u);
}

TEST(LeasesToTakeTest, ExpiredLeasesOfADeadWorkerAreTakenFirst) {
  // b died: its leases are expired, and it no longer counts as a worker.
  std::vector<KinesisLease> leases = {L("s0", "a"), L("s1", "a"), L("s2", "b"), L("s3", "b")};
  EXPECT_EQ(Take(leases, "a", {"s2", "s3"}), (std::vector<std::string>{"s2", "s3"}));
  // A third worker, c, with b dead: a share of 2; it takes the expired ones, not a's.
  EXPECT_EQ(Take(leases, "c", {"s2", "s3"}), (std::vector<std::string>{"s2", "s3"}));
}

TEST(LeasesToTakeTest, EndedLeasesAreNotCounted) {
  // Two ended parents and two children: the children are shared, the parents left alone.
  std::vector<KinesisLease> leases = {L("p0", "a", "SHARD_END"), L("p1", "", "SHARD_END"),
                                      L("c0", "a"), L("c1", "")};
  EXPECT_EQ(Take(leases, "b"), (std::vector<std::string>{"c1"}));
  EXPECT_TRUE(Take({L("p0", "", "SHARD_END")}, "b").empty());
}

TEST(LeasesToTakeTest, NoStealingWhenTheOtherHoldsItsShare) {
  std::vector<KinesisLease> leases = {L("s0", "a"), L("s1", "b"), L("s2", "b")};
  // 3 leases, 2 workers: share 2; b holds 2, a 1: nothing to take for a.
  EXPECT_TRUE(Take(leases, "a").empty());
}

}  // namespace
}  // namespace sluice::buffer
