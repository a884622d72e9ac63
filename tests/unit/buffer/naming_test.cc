#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "buffer/batch_journal.h"
#include "buffer/delivery_policy.h"
#include "buffer/error_output.h"
#include "buffer/object_naming.h"

namespace sluice::buffer {
namespace {

constexpr int64_t kTs = 1704164645123;  // 2024-01-02T03:04:05.123Z

TEST(ObjectNamingTest, TimestampPatterns) {
  EXPECT_EQ(*FormatTimestamp("yyyy/MM/dd/HH/", kTs), "2024/01/02/03/");
  EXPECT_EQ(*FormatTimestamp("yyyy-MM-dd'T'HH:mm:ss.SSS", kTs), "2024-01-02T03:04:05.123");
  EXPECT_EQ(*FormatTimestamp("'year='yyyy/'month='MM", kTs), "year=2024/month=01");
  EXPECT_FALSE(FormatTimestamp("yyyy/QQ", kTs).ok());
}

TEST(ObjectNamingTest, DefaultPrefixAndAppendedTimestamp) {
  std::mt19937_64 rng(1);
  auto empty = PrefixTemplate::Parse("", PrefixTemplate::Kind::kPrefix);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty->Render(kTs, "", &rng), "2024/01/02/03/");
  auto plain = PrefixTemplate::Parse("app/", PrefixTemplate::Kind::kPrefix);
  EXPECT_EQ(*plain->Render(kTs, "", &rng), "app/2024/01/02/03/");
  auto expr = PrefixTemplate::Parse("logs/!{timestamp:yyyy}/x=!{timestamp:MM}/",
                                    PrefixTemplate::Kind::kPrefix);
  EXPECT_EQ(*expr->Render(kTs, "", &rng), "logs/2024/x=01/");
}

TEST(ObjectNamingTest, RandomStringAndErrorType) {
  std::mt19937_64 rng(1);
  auto p = PrefixTemplate::Parse("r/!{firehose:random-string}/!{timestamp:yyyy}/",
                                 PrefixTemplate::Kind::kPrefix);
  ASSERT_TRUE(p.ok());
  std::string a = *p->Render(kTs, "", &rng), b = *p->Render(kTs, "", &rng);
  EXPECT_EQ(a.size(), std::string("r/").size() + 11 + std::string("/2024/").size());
  EXPECT_NE(a, b);
  auto e = PrefixTemplate::Parse("", PrefixTemplate::Kind::kErrorPrefix);
  EXPECT_EQ(*e->Render(kTs, "http-endpoint-failed", &rng), "http-endpoint-failed/2024/01/02/03/");
}

TEST(ObjectNamingTest, ValidationAsFirehose) {
  using K = PrefixTemplate::Kind;
  EXPECT_FALSE(PrefixTemplate::Parse("a/!{firehose:error-output-type}/", K::kPrefix).ok());
  EXPECT_FALSE(PrefixTemplate::Parse("errors/", K::kErrorPrefix).ok());
  EXPECT_FALSE(PrefixTemplate::Parse("a/!{timestamp:yyyy", K::kPrefix).ok());
  EXPECT_FALSE(PrefixTemplate::Parse("a/!{nope:x}/", K::kPrefix).ok());
  EXPECT_FALSE(PrefixTemplate::Parse("!{firehose:error-output-type}!{partitionKeyFromQuery:k}",
                                     K::kErrorPrefix)
                   .ok());
  std::mt19937_64 rng(1);
  auto long_prefix = PrefixTemplate::Parse(std::string(600, 'a'), K::kPrefix);
  ASSERT_TRUE(long_prefix.ok());
  EXPECT_FALSE(long_prefix->Render(kTs, "", &rng).ok());
  auto pk = PrefixTemplate::Parse("c=!{partitionKeyFromQuery:customer}/", K::kPrefix);
  std::map<std::string, std::string> keys{{"customer", "42"}};
  EXPECT_EQ(*pk->Render(kTs, "", &rng, &keys), "c=42/2024/01/02/03/");
  EXPECT_FALSE(pk->Render(kTs, "", &rng).ok());
}

TEST(ObjectNamingTest, ObjectNameShape) {
  std::string id = StableId("app|1|0:0-9");
  EXPECT_EQ(id.size(), 36u);
  EXPECT_EQ(id, StableId("app|1|0:0-9"));
  EXPECT_NE(id, StableId("app|1|0:0-10"));
  EXPECT_EQ(ObjectName("app", 1, kTs, id), "app-1-2024-01-02-03-04-05-" + id);
}

TEST(DeliveryPolicyTest, DefaultsAndRanges) {
  DeliveryOptions o;
  o.name = "d";
  o.path = "deliveries[0]";
  o.sink.type = "mine";
  o.marks = {{"buffer.interval", {"s.yaml", 7, 15}}};
  std::vector<ConfigIssue> issues;
  // A sink that declares no policy: S3's, with "<name>-failed".
  auto r = ResolvePolicy(o, DefaultPolicy("mine"), &issues);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->buffer_size, 5u << 20);
  EXPECT_EQ(r->buffer_interval.count(), 300000);
  EXPECT_EQ(r->retry_duration.count(), 86400000);
  EXPECT_EQ(r->error_output_type, "mine-failed");
  // A declared policy (Splunk's numbers): its defaults, its ranges, its error output type.
  SinkPolicy splunk{1000000,       5000000,         5000000,        Millis(0),      Millis(60000),
                    Millis(60000), Millis(7200000), Millis(300000), "splunk-failed"};
  r = ResolvePolicy(o, splunk, &issues);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->buffer_interval.count(), 60000);
  EXPECT_EQ(r->error_output_type, "splunk-failed");
  o.buffer_interval = Millis(120000);
  EXPECT_FALSE(ResolvePolicy(o, splunk, &issues).has_value());  // 0..60 s
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].path, "deliveries[0].buffer.interval");
  EXPECT_EQ(issues[0].mark.line, 7);
  EXPECT_EQ(issues[0].message, "2m is outside 0s..1m for sink type mine");
  o.buffer_interval = Millis(0);
  EXPECT_TRUE(ResolvePolicy(o, splunk, &issues).has_value());
  o.buffer_size = 6000000;
  o.retry_duration = Millis(7200001);
  issues.clear();
  EXPECT_FALSE(ResolvePolicy(o, splunk, &issues).has_value());
  EXPECT_EQ(issues.size(), 2u);  // both, at once
}

TEST(DeliveryPolicyTest, InconsistentPoliciesAreNamed) {
  EXPECT_TRUE(CheckPolicy(DefaultPolicy("x")).ok());
  SinkPolicy p = DefaultPolicy("x");
  p.size_default = p.size_max + 1;
  EXPECT_NE(CheckPolicy(p).message().find("buffer size range"), std::string::npos);
  p = DefaultPolicy("x");
  p.size_min = 0;
  EXPECT_FALSE(CheckPolicy(p).ok());
  p = DefaultPolicy("x");
  p.interval_min = Millis(10);
  p.interval_default = Millis(5);
  EXPECT_NE(CheckPolicy(p).message().find("interval"), std::string::npos);
  p = DefaultPolicy("x");
  p.retry_default = p.retry_max + Millis(1);
  EXPECT_NE(CheckPolicy(p).message().find("retry"), std::string::npos);
  p = DefaultPolicy("x");
  p.error_output_type = "bad type";
  EXPECT_NE(CheckPolicy(p).message().find("[A-Za-z0-9-]+"), std::string::npos);
}

TEST(DeliveryPolicyTest, BackoffIsCappedWithFullJitter) {
  Backoff b{std::chrono::milliseconds(100), std::chrono::milliseconds(1000)};
  std::mt19937_64 rng(3);
  int64_t max1 = 0, max10 = 0;
  bool low = false;
  for (int i = 0; i < 2000; ++i) {
    max1 = std::max<int64_t>(max1, b.Delay(1, &rng).count());
    int64_t d = b.Delay(10, &rng).count();
    max10 = std::max(max10, d);
    low |= d < 100;
  }
  EXPECT_LE(max1, 100);
  EXPECT_LE(max10, 1000);
  EXPECT_GT(max10, 900);
  EXPECT_TRUE(low);  // full jitter reaches down to zero
}

TEST(BatchJournalTest, RoundTripAndPending) {
  auto dir =
      std::filesystem::temp_directory_path() / ("sluice-journal-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  BatchJournal j(dir);
  JournalEntry e{1, "2024/a-1-x", "file-failed/a-1-x", kTs, 7, {{0, 5, 9}, {3, 0, 1}}};
  ASSERT_TRUE(j.Record(e).ok());
  auto pending = j.Pending();
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].object_key, e.object_key);
  EXPECT_EQ((*pending)[0].ranges.size(), 2u);
  EXPECT_EQ((*pending)[0].ranges[1].shard, 3u);
  EXPECT_EQ((*pending)[0].ranges[0].last, 9u);
  ASSERT_TRUE(j.Clear(1).ok());
  EXPECT_TRUE(j.Pending()->empty());
  EXPECT_FALSE(DecodeJournalEntry("{\"worker\":1}").ok());
  std::filesystem::remove_all(dir);
}

// Entries are overwritten in place: a shorter entry after a longer one reads back whole, a torn
// one (a crash inside Record: the CRC fails) is skipped while other workers' entries replay,
// and an entry written before the framing (bare JSON) still reads.
TEST(BatchJournalTest, InPlaceOverwritesTornEntriesAndBareJson) {
  auto dir = std::filesystem::temp_directory_path() /
             ("sluice-journal-torn-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  BatchJournal j(dir);
  JournalEntry longer{0, std::string(300, 'k'), "e", kTs, 7, {{0, 5, 9}, {3, 0, 1}}};
  JournalEntry shorter{0, "short", "e", kTs, 1, {{0, 10, 10}}};
  ASSERT_TRUE(j.Record(longer).ok());
  ASSERT_TRUE(j.Record(shorter).ok());
  auto pending = j.Pending();
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].object_key, "short");
  EXPECT_EQ((*pending)[0].ranges[0].first, 10u);

  // Worker 1's entry is torn: its last bytes never reached the disk.
  ASSERT_TRUE(j.Record({1, "torn", "e", kTs, 1, {{1, 0, 0}}}).ok());
  std::filesystem::path torn = dir / "batch-1.json";
  std::filesystem::resize_file(torn, std::filesystem::file_size(torn) - 3);
  // Worker 2's entry was written by a version that wrote bare JSON.
  std::ofstream(dir / "batch-2.json") << EncodeJournalEntry({2, "bare", "e", kTs, 1, {{2, 4, 4}}});
  pending = j.Pending();
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  std::set<std::string> keys;
  for (const auto& e : *pending) keys.insert(e.object_key);
  EXPECT_EQ(keys, (std::set<std::string>{"short", "bare"}));

  ASSERT_TRUE(j.Clear(0).ok());
  ASSERT_TRUE(j.Clear(1).ok());
  ASSERT_TRUE(j.Clear(2).ok());
  ASSERT_TRUE(j.Clear(9).ok());  // never written
  EXPECT_TRUE(j.Pending()->empty());
  std::filesystem::remove_all(dir);
}

TEST(PrefixTemplateTest, CheckKeysAgainstWhatTheDeliverySupplies) {
  auto t = PrefixTemplate::Parse("a=!{partitionKeyFromQuery:a}/", PrefixTemplate::Kind::kPrefix);
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->Keyed());
  EXPECT_TRUE(t->CheckKeys({"a", "b"}, false).ok());
  EXPECT_NE(t->CheckKeys({"b"}, false).message().find("names no partitioning key (b)"),
            std::string::npos);
  EXPECT_NE(t->CheckKeys({}, true).message().find("needs dynamic partitioning"), std::string::npos);
  auto l = PrefixTemplate::Parse("!{partitionKeyFromLambda:d}/", PrefixTemplate::Kind::kPrefix);
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->CheckKeys({}, true).ok());
  EXPECT_FALSE(l->CheckKeys({"d"}, false).ok());
  auto plain = PrefixTemplate::Parse("logs/", PrefixTemplate::Kind::kPrefix);
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->Keyed());
  EXPECT_TRUE(plain->CheckKeys({}, false).ok());
  auto longer = PrefixTemplate::Parse(std::string(600, 'p'), PrefixTemplate::Kind::kPrefix);
  ASSERT_TRUE(longer.ok());
  EXPECT_NE(longer->CheckKeys({}, false).message().find("the limit is 512"), std::string::npos);
}

TEST(SpillWarnerTest, OneLineAnIntervalWithWhatWasHeldBack) {
  SpillWarner w("d", "file", 10000);
  EXPECT_TRUE(w.Note("http-endpoint-failed", "Http.503", "m", 5, 1000));
  EXPECT_FALSE(w.Note("http-endpoint-failed", "Http.503", "m", 7, 2000));
  EXPECT_FALSE(w.Note("http-endpoint-failed", "Http.503", "m", 1, 10999));
  EXPECT_TRUE(w.Note("http-endpoint-failed", "Http.503", "m", 2, 11000));
  EXPECT_FALSE(w.Note("http-endpoint-failed", "Http.503", "m", 2, 11001));
}

TEST(ErrorOutputTest, FirehoseFields) {
  std::string line;
  AppendErrorLine({"hi\n", kTs, 3, "Http.503", "unavailable \"now\"", {}, {}}, kTs + 1000, &line);
  EXPECT_EQ(line,
            "{\"attemptsMade\":3,\"arrivalTimestamp\":1704164645123,\"errorCode\":\"Http.503\","
            "\"errorMessage\":\"unavailable \\\"now\\\"\",\"attemptEndingTimestamp\":1704164646123,"
            "\"rawData\":\"aGkK\"}\n");
  // With its place in the source stream, as a partitioning or transform failure is written.
  line.clear();
  AppendErrorLine({"x", kTs, 0, "PartitionKey.Invalid", "m", "shardId-000000000001", "42"}, kTs,
                  &line);
  EXPECT_NE(line.find("\"kinesisRecordMetadata\":{\"shardId\":\"shardId-000000000001\","
                      "\"sequenceNumber\":\"42\"}"),
            std::string::npos)
      << line;
}

}  // namespace
}  // namespace sluice::buffer
