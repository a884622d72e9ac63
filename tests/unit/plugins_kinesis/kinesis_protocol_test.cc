// The kinesis sink's PutRecords protocol.
#include "plugins/kinesis/kinesis_protocol.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "core/base64.h"
#include "core/json.h"

namespace sluice::kinesis {
namespace {

std::vector<PutEntry> Entries(const std::vector<std::string>& data,
                              const std::vector<std::string>& keys) {
  std::vector<PutEntry> e;
  for (size_t i = 0; i < data.size(); ++i) e.push_back({i, data[i], keys[i]});
  return e;
}

TEST(KinesisProtocolTest, CallsHoldAtMost500RecordsAnd5MiB) {
  std::vector<std::string> data(1201, "x"), keys(1201, "k");
  auto calls = PlanCalls(Entries(data, keys));
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].first, 0u);
  EXPECT_EQ(calls[0].count, 500u);
  EXPECT_EQ(calls[1].first, 500u);
  EXPECT_EQ(calls[1].count, 500u);
  EXPECT_EQ(calls[2].count, 201u);
  // 6 records of 1 MiB - 10 bytes (with their 1-byte key): 5 per call would be 5 MiB - 45.
  std::vector<std::string> big(6, std::string((1u << 20) - 10, 'b')), k6(6, "k");
  calls = PlanCalls(Entries(big, k6));
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].count, 5u);
  EXPECT_EQ(calls[1].count, 1u);
  // The bytes count the keys too.
  std::vector<std::string> d2 = {std::string(3u << 20, 'a'), std::string((2u << 20) - 4, 'a')};
  std::vector<std::string> k2 = {"key", "key"};
  EXPECT_EQ(PlanCalls(Entries(d2, k2)).size(), 2u);
  k2 = {"k", "k"};
  EXPECT_EQ(PlanCalls(Entries(d2, k2)).size(), 1u);
  EXPECT_TRUE(PlanCalls({}).empty());
}

TEST(KinesisProtocolTest, RecordsKinesisCannotTakeAreNamed) {
  EXPECT_TRUE(CheckRecord("data", "key").ok());
  EXPECT_TRUE(CheckRecord(std::string((1u << 20) - 3, 'x'), "key").ok());
  Status st = CheckRecord(std::string((1u << 20) - 2, 'x'), "key");
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("1048577 bytes"), std::string::npos) << st.message();
  EXPECT_EQ(CheckRecord("d", "").message(), "an empty partition key");
  EXPECT_TRUE(CheckRecord("d", std::string(256, 'k')).ok());
  EXPECT_NE(CheckRecord("d", std::string(257, 'k')).message().find("257 characters"),
            std::string::npos);
  // 256 characters of two bytes each: characters count, not bytes.
  std::string wide;
  for (int i = 0; i < 256; ++i) wide += "\xc3\xa9";
  EXPECT_TRUE(CheckRecord("d", wide).ok());
  EXPECT_EQ(CheckRecord("d", "bad\xff").message(), "a partition key that is not UTF-8");
}

TEST(KinesisProtocolTest, TheBodyIsPutRecordsJsonWithBase64Data) {
  std::vector<std::string> data = {"hello", std::string("\0\x01\xff", 3), ""};
  std::vector<std::string> keys = {"plain", "quo\"te\\back\nline", "\xc3\xa9t\xc3\xa9"};
  auto e = Entries(data, keys);
  std::string body;
  AppendPutRecordsBody("logs", "", e, {1, 2}, &body);
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJson(body, &doc).ok()) << body;
  EXPECT_STREQ(doc["StreamName"].GetString(), "logs");
  EXPECT_FALSE(doc.HasMember("StreamARN"));
  const auto& recs = doc["Records"];
  ASSERT_EQ(recs.Size(), 2u);
  EXPECT_EQ(std::string(recs[0]["PartitionKey"].GetString()), keys[1]);
  EXPECT_EQ(*Base64Decode(recs[0]["Data"].GetString()), data[1]);
  EXPECT_EQ(std::string(recs[1]["PartitionKey"].GetString()), keys[2]);
  EXPECT_EQ(*Base64Decode(recs[1]["Data"].GetString()), "");
  body.clear();
  AppendPutRecordsBody("", "arn:aws:kinesis:us-east-1:123456789012:stream/logs", e, {0, 1}, &body);
  ASSERT_TRUE(ParseJson(body, &doc).ok()) << body;
  EXPECT_STREQ(doc["StreamARN"].GetString(), "arn:aws:kinesis:us-east-1:123456789012:stream/logs");
  EXPECT_FALSE(doc.HasMember("StreamName"));
}

TEST(KinesisProtocolTest, PerRecordFailuresAreReadInOrder) {
  auto a = ParsePutRecordsAnswer(200, R"({"FailedRecordCount":2,"Records":[
      {"SequenceNumber":"49590338271490256608559692538361571095921575989136588898","ShardId":"shardId-000000000000"},
      {"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded for shard"},
      {"ErrorCode":"InternalFailure","ErrorMessage":"Internal service failure."}]})",
                                 3);
  ASSERT_TRUE(a.call_ok);
  ASSERT_EQ(a.records.size(), 3u);
  EXPECT_EQ(a.records[0].error_code, "");
  EXPECT_EQ(a.records[1].error_code, "ProvisionedThroughputExceededException");
  EXPECT_EQ(a.records[1].error_message, "Rate exceeded for shard");
  EXPECT_EQ(a.records[2].error_code, "InternalFailure");
}

TEST(KinesisProtocolTest, AnAnswerThatDoesNotAddUpIsNotASuccess) {
  auto a = ParsePutRecordsAnswer(
      200, R"({"FailedRecordCount":0,"Records":[{"SequenceNumber":"1"}]})", 2);
  EXPECT_FALSE(a.call_ok);
  EXPECT_TRUE(a.retry);
  EXPECT_EQ(a.error_code, "Kinesis.BadAnswer");
  a = ParsePutRecordsAnswer(200, R"({"Records":[{"ShardId":"s"}]})", 1);
  ASSERT_TRUE(a.call_ok);
  EXPECT_EQ(a.records[0].error_code, "Kinesis.BadAnswer");  // neither sequence number nor error
  a = ParsePutRecordsAnswer(200, "not json", 1);
  EXPECT_FALSE(a.call_ok);
  EXPECT_EQ(a.error_code, "Kinesis.BadAnswer");
}

TEST(KinesisProtocolTest, WholeCallErrorsRetryRejectOrSayOurConfigurationIsWrong) {
  auto a = ParsePutRecordsAnswer(
      400,
      R"({"__type":"ResourceNotFoundException","message":"Stream logs under account 000000000000 not found."})",
      3);
  EXPECT_FALSE(a.call_ok);
  EXPECT_TRUE(a.retry);
  EXPECT_TRUE(a.loud);
  EXPECT_EQ(a.error_code, "ResourceNotFoundException");
  EXPECT_NE(a.error_message.find("not found"), std::string::npos);
  a = ParsePutRecordsAnswer(
      400,
      R"({"__type":"com.amazonaws.kinesis#ProvisionedThroughputExceededException","message":"x"})",
      1);
  EXPECT_TRUE(a.retry);
  EXPECT_FALSE(a.loud);
  EXPECT_EQ(a.error_code, "ProvisionedThroughputExceededException");
  a = ParsePutRecordsAnswer(
      400, R"({"__type":"ValidationException","message":"1 validation error"})", 1);
  EXPECT_FALSE(a.retry);
  a = ParsePutRecordsAnswer(403, R"({"__type":"UnrecognizedClientException","message":"bad key"})",
                            1);
  EXPECT_TRUE(a.retry);
  EXPECT_TRUE(a.loud);
  a = ParsePutRecordsAnswer(503, "<html>busy</html>", 1);
  EXPECT_TRUE(a.retry);
  EXPECT_FALSE(a.loud);
  EXPECT_EQ(a.error_code, "Kinesis.503");
  a = ParsePutRecordsAnswer(0, "", 1, "Connection refused");
  EXPECT_TRUE(a.retry);
  EXPECT_EQ(a.error_code, "Kinesis.Transport");
  EXPECT_EQ(a.error_message, "Connection refused");
}

// The healthcheck's describe call, as the kinesis and firehose sinks read it.
TEST(KinesisProtocolTest, HealthFromDescribeNamesTheEndpointOrTheError) {
  std::string error;
  sink::HttpResponse ok;
  ok.status = 200;
  EXPECT_TRUE(sink::HealthFromDescribe(ok, "Kinesis", "http://k:1", "stream s", &error));
  EXPECT_EQ(error, "");
  sink::HttpResponse missing;
  missing.status = 400;
  missing.body = R"({"__type":"ResourceNotFoundException","message":"Stream s not found"})";
  EXPECT_FALSE(sink::HealthFromDescribe(missing, "Kinesis", "http://k:1", "stream s", &error));
  EXPECT_EQ(error, "stream s: ResourceNotFoundException: Stream s not found");
  EXPECT_FALSE(sink::HealthFromDescribe(Unavailable("connection refused"), "Firehose", "http://f:2",
                                        "delivery stream d", &error));
  EXPECT_EQ(error, "Firehose endpoint http://f:2 unreachable: connection refused");
}

}  // namespace
}  // namespace sluice::kinesis
