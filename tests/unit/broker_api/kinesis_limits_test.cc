// Kinesis Data Streams' limits and defaults as its API reference states them, checked against
// KinesisApi over a real broker: one table row per limit, each at and past its bound. Also the
// sequence numbers' contract (unique in the stream, increasing in a shard, naming their shard).
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <filesystem>
#include <map>
#include <set>

#include "broker/api/kinesis_api.h"
#include "broker/api/kinesis_call.h"
#include "core/base64.h"
#include "core/hash_key.h"
#include "tests/unit/broker_api/api_test_fixture.h"

namespace sluice::broker::api {
namespace {

class KinesisLimitsTest : public ApiTest<KinesisApi> {
 protected:
  std::string Mode(const std::string& stream) {
    auto d = Call("DescribeStreamSummary", R"({"StreamName":")" + stream + R"("})");
    EXPECT_EQ(status_, 200) << raw_;
    return d["StreamDescriptionSummary"]["StreamModeDetails"]["StreamMode"].GetString();
  }
};

std::string B64(size_t bytes) {
  std::string out;
  Base64Append(std::string(bytes, 'x'), &out);
  return out;
}

std::string Record(size_t data_bytes, size_t key_chars) {
  return R"({"Data":")" + B64(data_bytes) + R"(","PartitionKey":")" + std::string(key_chars, 'k') +
         R"("})";
}

std::string Records(size_t n, size_t data_bytes, size_t key_chars) {
  std::string r = R"({"StreamName":"lim","Records":[)";
  for (size_t i = 0; i < n; ++i) r += (i ? "," : "") + Record(data_bytes, key_chars);
  return r + "]}";
}

std::string Put(size_t data_bytes, size_t key_chars) {
  return R"({"StreamName":"lim","Data":")" + B64(data_bytes) + R"(","PartitionKey":")" +
         std::string(key_chars, 'k') + R"("})";
}

struct Row {
  const char* what;
  std::string op;
  std::string body;
  std::string error;  // empty: accepted (200)
};

TEST_F(KinesisLimitsTest, EveryLimitAtAndPastItsBound) {
  // ON_DEMAND: no per-shard throttling to interfere with the size limits.
  Call("CreateStream", R"({"StreamName":"lim","ShardCount":2,)"
                       R"("StreamModeDetails":{"StreamMode":"ON_DEMAND"}})");
  ASSERT_EQ(status_, 200) << raw_;
  constexpr size_t kMiB = 1 << 20;
  std::vector<Row> rows = {
      {"data + key = 1 MiB", "PutRecord", Put(kMiB - 1, 1), ""},
      {"data + key > 1 MiB (key counts)", "PutRecord", Put(kMiB, 1), "InvalidArgumentException"},
      {"data > 1 MiB", "PutRecord", Put(kMiB + 1, 1), "ValidationException"},
      {"key of 256 characters", "PutRecord", Put(10, 256), ""},
      {"key of 257 characters", "PutRecord", Put(10, 257), "ValidationException"},
      {"empty key", "PutRecord", Put(10, 0), "ValidationException"},
      {"ExplicitHashKey 2^128-1", "PutRecord",
       R"({"StreamName":"lim","Data":"eA==","PartitionKey":"k",)"
       R"("ExplicitHashKey":"340282366920938463463374607431768211455"})",
       ""},
      {"ExplicitHashKey 2^128", "PutRecord",
       R"({"StreamName":"lim","Data":"eA==","PartitionKey":"k",)"
       R"("ExplicitHashKey":"340282366920938463463374607431768211456"})",
       "InvalidArgumentException"},
      {"ExplicitHashKey with a leading zero", "PutRecord",
       R"({"StreamName":"lim","Data":"eA==","PartitionKey":"k","ExplicitHashKey":"01"})",
       "ValidationException"},
      {"SequenceNumberForOrdering not decimal", "PutRecord",
       R"({"StreamName":"lim","Data":"eA==","PartitionKey":"k",)"
       R"("SequenceNumberForOrdering":"12a"})",
       "ValidationException"},
      {"500 records", "PutRecords", Records(500, 10, 1), ""},
      {"501 records", "PutRecords", Records(501, 10, 1), "ValidationException"},
      {"0 records", "PutRecords", R"({"StreamName":"lim","Records":[]})", "ValidationException"},
      {"5 MiB with keys", "PutRecords", Records(5, kMiB - 2, 2), ""},
      {"over 5 MiB with keys", "PutRecords", Records(5, kMiB - 1, 2), "InvalidArgumentException"},
      {"one record's data + key > 1 MiB", "PutRecords", Records(2, kMiB, 1),
       "InvalidArgumentException"},
      {"stream name of 128 characters", "CreateStream",
       R"({"StreamName":")" + std::string(128, 'a') + R"(","ShardCount":1})", ""},
      {"stream name of 129 characters", "CreateStream",
       R"({"StreamName":")" + std::string(129, 'a') + R"(","ShardCount":1})",
       "ValidationException"},
      {"stream name with a space", "CreateStream", R"({"StreamName":"a b","ShardCount":1})",
       "ValidationException"},
      {"ShardCount 0", "CreateStream", R"({"StreamName":"z","ShardCount":0})",
       "ValidationException"},
      {"PROVISIONED without ShardCount", "CreateStream",
       R"({"StreamName":"z","StreamModeDetails":{"StreamMode":"PROVISIONED"}})",
       "InvalidArgumentException"},
      {"ListStreams Limit 10001", "ListStreams", R"({"Limit":10001})", "ValidationException"},
      {"ListStreams Limit 0", "ListStreams", R"({"Limit":0})", "ValidationException"},
      {"ListShards MaxResults 10001", "ListShards", R"({"StreamName":"lim","MaxResults":10001})",
       "ValidationException"},
      {"ListShards MaxResults 10000", "ListShards", R"({"StreamName":"lim","MaxResults":10000})",
       ""},
      {"GetShardIterator sequence number not decimal", "GetShardIterator",
       R"({"StreamName":"lim","ShardId":"shardId-000000000000",)"
       R"("ShardIteratorType":"AT_SEQUENCE_NUMBER","StartingSequenceNumber":"x1"})",
       "ValidationException"},
      {"consumer name of 129 characters", "RegisterStreamConsumer",
       R"({"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/lim","ConsumerName":")" +
           std::string(129, 'c') + R"("})",
       "ValidationException"},
  };
  for (const Row& r : rows) {
    Call(r.op, r.body);
    if (r.error.empty()) {
      EXPECT_EQ(status_, 200) << r.what << ": " << raw_.substr(0, 300);
    } else {
      EXPECT_EQ(status_, 400) << r.what;
      EXPECT_EQ(type_, r.error) << r.what << ": " << raw_.substr(0, 300);
    }
  }
  // GetRecords' Limit: 1..10000.
  auto it = Call("GetShardIterator", R"({"StreamName":"lim","ShardId":"shardId-000000000000",)"
                                     R"("ShardIteratorType":"TRIM_HORIZON"})");
  ASSERT_EQ(status_, 200) << raw_;
  std::string iterator = it["ShardIterator"].GetString();
  for (auto [limit, error] : std::vector<std::pair<int, std::string>>{
           {10000, ""}, {10001, "ValidationException"}, {0, "ValidationException"}}) {
    Call("GetRecords",
         R"({"ShardIterator":")" + iterator + R"(","Limit":)" + std::to_string(limit) + "}");
    if (error.empty()) {
      EXPECT_EQ(status_, 200) << limit << ": " << raw_.substr(0, 300);
    } else {
      EXPECT_EQ(type_, error) << limit;
    }
  }
}

TEST_F(KinesisLimitsTest, ShardCountWithoutModeIsProvisioned) {
  Call("CreateStream", R"({"StreamName":"p","ShardCount":2})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(Mode("p"), "PROVISIONED");
  Call("CreateStream", R"({"StreamName":"o"})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(Mode("o"), "ON_DEMAND");
  auto d = Call("DescribeStreamSummary", R"({"StreamName":"o"})");
  EXPECT_EQ(d["StreamDescriptionSummary"]["OpenShardCount"].GetInt(), 4);
  Call("CreateStream", R"({"StreamName":"e","ShardCount":3,)"
                       R"("StreamModeDetails":{"StreamMode":"ON_DEMAND"}})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(Mode("e"), "ON_DEMAND");
}

TEST_F(KinesisLimitsTest, SequenceNumbersAreUniqueInTheStreamAndNameTheirShard) {
  Call("CreateStream", R"({"StreamName":"lim","ShardCount":2,)"
                       R"("StreamModeDetails":{"StreamMode":"ON_DEMAND"}})");
  ASSERT_EQ(status_, 200) << raw_;
  std::string body = R"({"StreamName":"lim","Records":[)";
  for (int i = 0; i < 500; ++i) {
    body += std::string(i ? "," : "") + R"({"Data":"eA==","PartitionKey":"k)" + std::to_string(i) +
            R"("})";
  }
  auto d = Call("PutRecords", body + "]}");
  ASSERT_EQ(status_, 200) << raw_.substr(0, 300);
  std::set<std::string> distinct;
  std::map<std::string, uint128> last;  // per shard
  std::map<std::string, std::string> one;
  for (const auto& r : d["Records"].GetArray()) {
    std::string seq = r["SequenceNumber"].GetString();
    std::string shard = r["ShardId"].GetString();
    distinct.insert(seq);
    auto v = ParseHashKey(seq);
    ASSERT_TRUE(v.ok()) << seq;
    if (last.count(shard)) {
      EXPECT_GT(*v, last[shard]) << seq;
    }
    last[shard] = *v;
    one[shard] = seq;
  }
  EXPECT_EQ(distinct.size(), 500u);
  ASSERT_EQ(one.size(), 2u);
  // A sequence number of shard 1 used on shard 0 is refused, as Kinesis refuses it.
  Call("GetShardIterator", R"({"StreamName":"lim","ShardId":"shardId-000000000000",)"
                           R"("ShardIteratorType":"AFTER_SEQUENCE_NUMBER",)"
                           R"("StartingSequenceNumber":")" +
                               one["shardId-000000000001"] + R"("})");
  EXPECT_EQ(type_, "InvalidArgumentException");
  EXPECT_NE(raw_.find("It encodes shardId-000000000001, while it was used in a call to a shard "
                      "with shardId-000000000000"),
            std::string::npos)
      << raw_;
  // Its own shard takes it, and the record after it is the next one put there.
  auto it = Call("GetShardIterator", R"({"StreamName":"lim","ShardId":"shardId-000000000001",)"
                                     R"("ShardIteratorType":"AT_SEQUENCE_NUMBER",)"
                                     R"("StartingSequenceNumber":")" +
                                         one["shardId-000000000001"] + R"("})");
  ASSERT_EQ(status_, 200) << raw_;
  auto got = Call("GetRecords",
                  R"({"ShardIterator":")" + std::string(it["ShardIterator"].GetString()) + R"("})");
  ASSERT_EQ(status_, 200) << raw_;
  ASSERT_EQ(got["Records"].Size(), 1u);
  EXPECT_EQ(std::string(got["Records"][0]["SequenceNumber"].GetString()),
            one["shardId-000000000001"]);
  // Shards list their first number in the same form.
  auto shards = Call("ListShards", R"({"StreamName":"lim"})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(
      std::string(shards["Shards"][1]["SequenceNumberRange"]["StartingSequenceNumber"].GetString()),
      SequenceNumber(1, 0));
}

}  // namespace
}  // namespace sluice::broker::api
