// The Kinesis JSON mapping, end to end through KinesisApi::Handle over a real broker in a
// temporary directory (no sockets).
#include "broker/api/kinesis_api.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <filesystem>

#include "broker/api/kinesis_call.h"
#include "core/base64.h"
#include "tests/unit/broker_api/api_test_fixture.h"

namespace sluice::broker::api {
namespace {

class KinesisApiTest : public ApiTest<KinesisApi> {
 protected:
  void Create(const std::string& name, int shards) {
    Call("CreateStream",
         R"({"StreamName":")" + name + R"(","ShardCount":)" + std::to_string(shards) + "}");
    ASSERT_EQ(status_, 200) << raw_;
  }
};

TEST(SequenceTextTest, MatchesTheBrokersSequenceNumbers) {
  SequenceText t;
  for (uint32_t shard : {0u, 1u, 7u, 123456789u, ~0u}) {
    for (uint64_t offset : {0ull, 9ull, 10000000000000000000ull, ~0ull}) {
      EXPECT_EQ(t.Format(shard, offset), SequenceNumber(shard, offset)) << shard << " " << offset;
    }
  }
}

TEST_F(KinesisApiTest, CreateAndDescribeStream) {
  Create("s1", 2);
  auto d = Call("DescribeStream", R"({"StreamName":"s1"})");
  ASSERT_EQ(status_, 200) << raw_;
  const auto& sd = d["StreamDescription"];
  EXPECT_STREQ(sd["StreamName"].GetString(), "s1");
  EXPECT_STREQ(sd["StreamARN"].GetString(), "arn:aws:kinesis:us-east-1:000000000000:stream/s1");
  EXPECT_STREQ(sd["StreamStatus"].GetString(), "ACTIVE");
  EXPECT_EQ(sd["RetentionPeriodHours"].GetInt(), 24);
  EXPECT_FALSE(sd["HasMoreShards"].GetBool());
  ASSERT_EQ(sd["Shards"].Size(), 2u);
  EXPECT_STREQ(sd["Shards"][0]["ShardId"].GetString(), "shardId-000000000000");
  EXPECT_STREQ(sd["Shards"][0]["HashKeyRange"]["StartingHashKey"].GetString(), "0");
  EXPECT_STREQ(sd["Shards"][1]["HashKeyRange"]["EndingHashKey"].GetString(),
               "340282366920938463463374607431768211455");
  EXPECT_DOUBLE_EQ(sd["StreamCreationTimestamp"].GetDouble(), 1700000000.0);
  // The same stream by ARN; and a second create is ResourceInUse.
  Call("DescribeStreamSummary",
       R"({"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/s1"})");
  EXPECT_EQ(status_, 200) << raw_;
  Call("CreateStream", R"({"StreamName":"s1","ShardCount":1})");
  EXPECT_EQ(type_, "ResourceInUseException");
}

TEST_F(KinesisApiTest, ValidationErrorsUseKinesisWording) {
  auto d = Call("CreateStream", R"({"StreamName":"bad name!","ShardCount":0})");
  EXPECT_EQ(status_, 400);
  EXPECT_EQ(type_, "ValidationException");
  EXPECT_EQ(Message(d),
            "2 validation errors detected: Value 'bad name!' at 'streamName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; Value "
            "'0' at 'shardCount' failed to satisfy constraint: Member must have value greater "
            "than or equal to 1");
  d = Call("CreateStream", R"({"ShardCount":1})");
  EXPECT_EQ(Message(d),
            "1 validation error detected: Value null at 'streamName' failed to satisfy "
            "constraint: Member must not be null");
  Call("DescribeStream", R"({"StreamName":"nope"})");
  EXPECT_EQ(type_, "ResourceNotFoundException");
  Call("DescribeStream", R"({})");
  EXPECT_EQ(type_, "InvalidArgumentException");
}

TEST_F(KinesisApiTest, BadJsonAndTypesAreSerializationErrors) {
  Call("CreateStream", "{not json");
  EXPECT_EQ(type_, "SerializationException");
  Call("CreateStream", "[1,2]");
  EXPECT_EQ(type_, "SerializationException");
  auto d = Call("CreateStream", R"({"StreamName":5,"ShardCount":1})");
  EXPECT_EQ(type_, "SerializationException");
  EXPECT_NE(Message(d).find("StreamName"), std::string::npos);
  Call("NoSuchOperation", "{}");
  EXPECT_EQ(type_, "UnknownOperationException");
}

TEST_F(KinesisApiTest, PutAndGetRecordsRoundTrip) {
  Create("s", 1);
  auto d = Call("PutRecord", R"({"StreamName":"s","PartitionKey":"k","Data":")" +
                                 Base64Encode("hello") + R"("})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_STREQ(d["ShardId"].GetString(), "shardId-000000000000");
  std::string first_seq = d["SequenceNumber"].GetString();
  d = Call("PutRecords", R"({"StreamName":"s","Records":[{"PartitionKey":"a","Data":")" +
                             Base64Encode("one") + R"("},{"PartitionKey":"b","Data":")" +
                             Base64Encode(std::string(1, '\0') + "two") + R"("}]})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(d["FailedRecordCount"].GetInt(), 0);
  ASSERT_EQ(d["Records"].Size(), 2u);
  d = Call(
      "GetShardIterator",
      R"({"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"})");
  ASSERT_EQ(status_, 200) << raw_;
  std::string it = d["ShardIterator"].GetString();
  d = Call("GetRecords", R"({"ShardIterator":")" + it + R"(","Limit":2})");
  ASSERT_EQ(status_, 200) << raw_;
  ASSERT_EQ(d["Records"].Size(), 2u);
  EXPECT_EQ(*Base64Decode(d["Records"][0]["Data"].GetString()), "hello");
  EXPECT_STREQ(d["Records"][0]["PartitionKey"].GetString(), "k");
  EXPECT_STREQ(d["Records"][0]["SequenceNumber"].GetString(), first_seq.c_str());
  EXPECT_DOUBLE_EQ(d["Records"][0]["ApproximateArrivalTimestamp"].GetDouble(), 1700000000.0);
  it = d["NextShardIterator"].GetString();
  d = Call("GetRecords", R"({"ShardIterator":")" + it + R"("})");
  ASSERT_EQ(d["Records"].Size(), 1u);
  EXPECT_EQ(*Base64Decode(d["Records"][0]["Data"].GetString()), std::string(1, '\0') + "two");
  // AFTER_SEQUENCE_NUMBER of the first record starts at the second.
  d = Call("GetShardIterator", R"({"StreamName":"s","ShardId":"shardId-000000000000",)"
                               R"("ShardIteratorType":"AFTER_SEQUENCE_NUMBER",)"
                               R"("StartingSequenceNumber":")" +
                                   first_seq + R"("})");
  ASSERT_EQ(status_, 200) << raw_;
  d = Call("GetRecords",
           R"({"ShardIterator":")" + std::string(d["ShardIterator"].GetString()) + R"("})");
  ASSERT_EQ(d["Records"].Size(), 2u);
  EXPECT_EQ(*Base64Decode(d["Records"][0]["Data"].GetString()), "one");
}

TEST_F(KinesisApiTest, IteratorErrors) {
  Create("s", 1);
  auto d =
      Call("GetShardIterator",
           R"({"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"LATEST"})");
  std::string it = d["ShardIterator"].GetString();
  Call("GetRecords", R"({"ShardIterator":"AAAA"})");
  EXPECT_EQ(type_, "InvalidArgumentException");
  clock_.Advance(301 * 1000);
  Call("GetRecords", R"({"ShardIterator":")" + it + R"("})");
  EXPECT_EQ(type_, "ExpiredIteratorException");
  Call("GetShardIterator",
       R"({"StreamName":"s","ShardId":"shardId-000000000009","ShardIteratorType":"LATEST"})");
  EXPECT_EQ(type_, "ResourceNotFoundException");
  Call(
      "GetShardIterator",
      R"({"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"AT_SEQUENCE_NUMBER"})");
  EXPECT_EQ(type_, "InvalidArgumentException");
  Call("GetShardIterator",
       R"({"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"SOMEWHERE"})");
  EXPECT_EQ(type_, "ValidationException");
}

// Timestamps far outside int64 milliseconds (found by the fuzzer: the conversion was undefined)
// clamp; NaN and infinity, which JSON cannot carry but numeric strings can, are refused.
TEST_F(KinesisApiTest, ExtremeTimestampsClampOrAreRefused) {
  Create("s", 1);
  const std::string head =
      R"({"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"AT_TIMESTAMP",)";
  for (const char* ts : {"17000000000000000563600000.0", "-1e300", "1e308", "\"1e300\""}) {
    auto d = Call("GetShardIterator", head + R"("Timestamp":)" + ts + "}");
    EXPECT_EQ(status_, 200) << ts << " " << raw_;
    ASSERT_TRUE(d.HasMember("ShardIterator")) << raw_;
    Call("GetRecords",
         R"({"ShardIterator":")" + std::string(d["ShardIterator"].GetString()) + "\"}");
    EXPECT_EQ(status_, 200) << ts << " " << raw_;
  }
  for (const char* ts : {R"("nan")", R"("inf")", R"("-infinity")"}) {
    Call("GetShardIterator", head + R"("Timestamp":)" + ts + "}");
    EXPECT_EQ(type_, "SerializationException") << ts << " " << raw_;
  }
  Call("ListShards",
       R"({"StreamName":"s","ShardFilter":{"Type":"AT_TIMESTAMP","Timestamp":1e300}})");
  EXPECT_EQ(status_, 200) << raw_;
}

TEST_F(KinesisApiTest, PutRecordsValidation) {
  Create("s", 1);
  std::string many = R"({"StreamName":"s","Records":[)";
  for (int i = 0; i < 501; i++)
    many += std::string(i ? "," : "") + R"({"PartitionKey":"a","Data":""})";
  many += "]}";
  Call("PutRecords", many);
  EXPECT_EQ(type_, "ValidationException");
  auto d =
      Call("PutRecords", R"({"StreamName":"s","Records":[{"PartitionKey":"","Data":"YQ=="}]})");
  EXPECT_EQ(type_, "ValidationException");
  EXPECT_NE(Message(d).find("'records.1.member.partitionKey'"), std::string::npos) << raw_;
  Call("PutRecord", R"({"StreamName":"s","PartitionKey":"a","Data":"YQ==",)"
                    R"("ExplicitHashKey":"340282366920938463463374607431768211456"})");
  EXPECT_EQ(type_, "InvalidArgumentException");
  Call("PutRecord",
       R"({"StreamName":"s","PartitionKey":"a","Data":"YQ==","ExplicitHashKey":"01"})");
  EXPECT_EQ(type_, "ValidationException");
  Call("PutRecord", R"({"StreamName":"s","PartitionKey":"a","Data":"@@@"})");
  EXPECT_EQ(type_, "SerializationException");
}

TEST_F(KinesisApiTest, ListShardsPaginatesAndExpires) {
  Create("s", 5);
  auto d = Call("ListShards", R"({"StreamName":"s","MaxResults":2})");
  ASSERT_EQ(status_, 200) << raw_;
  ASSERT_EQ(d["Shards"].Size(), 2u);
  std::vector<std::string> ids;
  std::string next = d["NextToken"].GetString();
  for (int page = 0; page < 5 && !next.empty(); page++) {
    d = Call("ListShards", R"({"NextToken":")" + next + R"(","MaxResults":2})");
    ASSERT_EQ(status_, 200) << raw_;
    for (const auto& s : d["Shards"].GetArray()) ids.push_back(s["ShardId"].GetString());
    next = d.HasMember("NextToken") ? d["NextToken"].GetString() : "";
  }
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids.back(), "shardId-000000000004");
  d = Call("ListShards", R"({"StreamName":"s","MaxResults":1})");
  next = d["NextToken"].GetString();
  Call("ListShards", R"({"StreamName":"s","NextToken":")" + next + R"("})");
  EXPECT_EQ(type_, "InvalidArgumentException");
  clock_.Advance(301 * 1000);
  Call("ListShards", R"({"NextToken":")" + next + R"("})");
  EXPECT_EQ(type_, "ExpiredNextTokenException");
  d = Call("ListShards", R"({"StreamName":"s","ShardFilter":{"Type":"AFTER_SHARD_ID",)"
                         R"("ShardId":"shardId-000000000002"}})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(d["Shards"].Size(), 2u);
}

TEST_F(KinesisApiTest, SplitThenReadParentToEndNamesChildren) {
  Create("s", 1);
  Call("PutRecord", R"({"StreamName":"s","PartitionKey":"k","Data":"YQ=="})");
  Call("SplitShard", R"({"StreamName":"s","ShardToSplit":"shardId-000000000000",)"
                     R"("NewStartingHashKey":"170141183460469231731687303715884105728"})");
  ASSERT_EQ(status_, 200) << raw_;
  auto d = Call("ListShards", R"({"StreamName":"s"})");
  ASSERT_EQ(d["Shards"].Size(), 3u);
  EXPECT_TRUE(d["Shards"][0]["SequenceNumberRange"].HasMember("EndingSequenceNumber"));
  EXPECT_STREQ(d["Shards"][1]["ParentShardId"].GetString(), "shardId-000000000000");
  d = Call("ListShards", R"({"StreamName":"s","ShardFilter":{"Type":"AT_LATEST"}})");
  EXPECT_EQ(d["Shards"].Size(), 2u);
  d = Call("GetShardIterator", R"({"StreamName":"s","ShardId":"shardId-000000000000",)"
                               R"("ShardIteratorType":"TRIM_HORIZON"})");
  d = Call("GetRecords",
           R"({"ShardIterator":")" + std::string(d["ShardIterator"].GetString()) + R"("})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(d["Records"].Size(), 1u);
  EXPECT_FALSE(d.HasMember("NextShardIterator"));
  ASSERT_EQ(d["ChildShards"].Size(), 2u);
  EXPECT_STREQ(d["ChildShards"][0]["ParentShards"][0].GetString(), "shardId-000000000000");
  // The closed parent can no longer be split; children are adjacent and merge back.
  Call("SplitShard", R"({"StreamName":"s","ShardToSplit":"shardId-000000000000",)"
                     R"("NewStartingHashKey":"5"})");
  EXPECT_EQ(type_, "ResourceInUseException");
  Call("MergeShards", R"({"StreamName":"s","ShardToMerge":"shardId-000000000001",)"
                      R"("AdjacentShardToMerge":"shardId-000000000002"})");
  EXPECT_EQ(status_, 200) << raw_;
}

TEST_F(KinesisApiTest, RetentionTagsAndConsumers) {
  Create("s", 1);
  Call("IncreaseStreamRetentionPeriod", R"({"StreamName":"s","RetentionPeriodHours":48})");
  ASSERT_EQ(status_, 200) << raw_;
  Call("IncreaseStreamRetentionPeriod", R"({"StreamName":"s","RetentionPeriodHours":30})");
  EXPECT_EQ(type_, "InvalidArgumentException");
  Call("DecreaseStreamRetentionPeriod", R"({"StreamName":"s","RetentionPeriodHours":12})");
  EXPECT_EQ(type_, "InvalidArgumentException");
  Call("DecreaseStreamRetentionPeriod", R"({"StreamName":"s","RetentionPeriodHours":24})");
  EXPECT_EQ(status_, 200) << raw_;

  Call("AddTagsToStream", R"({"StreamName":"s","Tags":{"env":"dev","team":"logs"}})");
  ASSERT_EQ(status_, 200) << raw_;
  Call("RemoveTagsFromStream", R"({"StreamName":"s","TagKeys":["env"]})");
  auto d = Call("ListTagsForStream", R"({"StreamName":"s"})");
  ASSERT_EQ(d["Tags"].Size(), 1u);
  EXPECT_STREQ(d["Tags"][0]["Key"].GetString(), "team");

  const std::string arn = "arn:aws:kinesis:us-east-1:000000000000:stream/s";
  d = Call("RegisterStreamConsumer", R"({"StreamARN":")" + arn + R"(","ConsumerName":"c1"})");
  ASSERT_EQ(status_, 200) << raw_;
  std::string carn = d["Consumer"]["ConsumerARN"].GetString();
  EXPECT_EQ(carn, arn + "/consumer/c1:1700000000");
  Call("RegisterStreamConsumer", R"({"StreamARN":")" + arn + R"(","ConsumerName":"c1"})");
  EXPECT_EQ(type_, "ResourceInUseException");
  d = Call("DescribeStreamConsumer", R"({"ConsumerARN":")" + carn + R"("})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_STREQ(d["ConsumerDescription"]["StreamARN"].GetString(), arn.c_str());
  d = Call("ListStreamConsumers", R"({"StreamARN":")" + arn + R"("})");
  EXPECT_EQ(d["Consumers"].Size(), 1u);
  Call("DeleteStream", R"({"StreamName":"s"})");
  EXPECT_EQ(type_, "ResourceInUseException");
  Call("DeregisterStreamConsumer", R"({"StreamARN":")" + arn + R"(","ConsumerName":"c1"})");
  ASSERT_EQ(status_, 200) << raw_;
  Call("DescribeStreamConsumer", R"({"ConsumerARN":")" + carn + R"("})");
  EXPECT_EQ(type_, "ResourceNotFoundException");
  Call("DeleteStream", R"({"StreamName":"s"})");
  EXPECT_EQ(status_, 200) << raw_;
  d = Call("ListStreams", "{}");
  EXPECT_EQ(d["StreamNames"].Size(), 0u);
}

TEST_F(KinesisApiTest, TagsTimesAndConsumerArnsSurviveARestart) {
  Create("s", 1);
  Call("AddTagsToStream", R"({"StreamName":"s","Tags":{"env":"prod"}})");
  const std::string arn = "arn:aws:kinesis:us-east-1:000000000000:stream/s";
  auto d = Call("RegisterStreamConsumer", R"({"StreamARN":")" + arn + R"(","ConsumerName":"c"})");
  std::string carn = d["Consumer"]["ConsumerARN"].GetString();
  clock_.Advance(3600 * 1000);
  api_.reset();
  ApiOptions ao;
  ao.data_dir = dir_;
  ao.clock = &clock_;
  auto a = KinesisApi::Create(broker_.get(), ao);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  api_ = std::move(*a);
  d = Call("ListTagsForStream", R"({"StreamName":"s"})");
  ASSERT_EQ(d["Tags"].Size(), 1u);
  EXPECT_STREQ(d["Tags"][0]["Value"].GetString(), "prod");
  d = Call("DescribeStreamSummary", R"({"StreamName":"s"})");
  EXPECT_DOUBLE_EQ(d["StreamDescriptionSummary"]["StreamCreationTimestamp"].GetDouble(),
                   1700000000.0);
  d = Call("DescribeStreamConsumer", R"({"ConsumerARN":")" + carn + R"("})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(std::string(d["ConsumerDescription"]["ConsumerARN"].GetString()), carn);
}

TEST_F(KinesisApiTest, ListStreamsPaginates) {
  for (const char* n : {"a", "b", "c"}) Create(n, 1);
  auto d = Call("ListStreams", R"({"Limit":2})");
  ASSERT_EQ(d["StreamNames"].Size(), 2u);
  EXPECT_TRUE(d["HasMoreStreams"].GetBool());
  d = Call("ListStreams", R"({"NextToken":")" + std::string(d["NextToken"].GetString()) + R"("})");
  ASSERT_EQ(d["StreamNames"].Size(), 1u);
  EXPECT_STREQ(d["StreamNames"][0].GetString(), "c");
  d = Call("ListStreams", R"({"ExclusiveStartStreamName":"a"})");
  EXPECT_EQ(d["StreamNames"].Size(), 2u);
}

TEST_F(KinesisApiTest, UpdateShardCountLimits) {
  Create("s", 2);
  Call("UpdateShardCount",
       R"({"StreamName":"s","TargetShardCount":5,"ScalingType":"UNIFORM_SCALING"})");
  EXPECT_EQ(type_, "LimitExceededException");
  auto d = Call("UpdateShardCount",
                R"({"StreamName":"s","TargetShardCount":4,"ScalingType":"UNIFORM_SCALING"})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(d["CurrentShardCount"].GetInt(), 2);
  d = Call("DescribeStreamSummary", R"({"StreamName":"s"})");
  EXPECT_EQ(d["StreamDescriptionSummary"]["OpenShardCount"].GetInt(), 4);
}

}  // namespace
}  // namespace sluice::broker::api

namespace sluice::broker::api {
namespace {

TEST(ListenAddressTest, ParsesAndRefusesExposureWithoutCredentials) {
  std::string host;
  int port = 0;
  ASSERT_TRUE(ParseListenAddress("127.0.0.1:4567", &host, &port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 4567);
  ASSERT_TRUE(ParseListenAddress("[::1]:80", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_FALSE(ParseListenAddress("127.0.0.1", &host, &port).ok());
  EXPECT_FALSE(ParseListenAddress("127.0.0.1:99999", &host, &port).ok());

  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("sluice_api_listen_" + std::to_string(::getpid()));
  BrokerOptions bo;
  bo.data_dir = dir;
  auto broker = Broker::Open(bo);
  ASSERT_TRUE(broker.ok());
  uv_loop_t loop;
  uv_loop_init(&loop);
  ApiOptions ao;
  ao.data_dir = dir;
  ao.listen = "0.0.0.0:0";
  auto refused = KinesisApiServer::Create(&loop, broker->get(), ao);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("not a loopback address"), std::string::npos);
  ao.credentials.push_back({"AKID", "secret", nullptr, ""});
  auto allowed = KinesisApiServer::Create(&loop, broker->get(), ao);
  EXPECT_TRUE(allowed.ok()) << allowed.status().ToString();
  // Created but never started: nothing to close.
  allowed = Status(Code::kInternal, "dropped");
  EXPECT_EQ(uv_loop_close(&loop), 0);
  broker->reset();
  std::filesystem::remove_all(dir);
}

TEST_F(KinesisApiTest, PartitionKeyLengthCountsCharacters) {
  Create("s", 1);
  std::string e_acute = "\xC3\xA9";  // 2 bytes, 1 character
  std::string key;
  for (int i = 0; i < 256; ++i) key += e_acute;
  Call("PutRecord", R"({"StreamName":"s","PartitionKey":")" + key + R"(","Data":"YQ=="})");
  EXPECT_EQ(status_, 200) << raw_;
  Call("PutRecord", R"({"StreamName":"s","PartitionKey":")" + key + "a" + R"(","Data":"YQ=="})");
  EXPECT_EQ(type_, "ValidationException") << raw_;
}

TEST_F(KinesisApiTest, ErrorMessagesStayValidJsonWithInvalidUtf8) {
  // The operation name is echoed in the answer; Call() checks the body parses.
  auto d = Call("No\xFFSuch", "{}");
  EXPECT_EQ(type_, "UnknownOperationException");
  EXPECT_NE(Message(d).find("\xEF\xBF\xBD"), std::string::npos) << raw_;
  d = Call("CreateStream", "{\"StreamName\":\"bad\xC0\xAF\",\"ShardCount\":1}");
  EXPECT_EQ(type_, "ValidationException");
}

TEST_F(KinesisApiTest, ForeignOrMalformedArnsDoNotResolveToLocalStreams) {
  Create("s1", 1);
  for (const char* arn : {"arn:aws:kinesis:us-east-1:111111111111:stream/s1",
                          "arn:aws:kinesis:eu-west-1:000000000000:stream/s1",
                          "arn:aws:kinesis:us-east-1:000000000000:stream/s1/../.."}) {
    Call("DescribeStreamSummary", std::string(R"({"StreamARN":")") + arn + "\"}");
    EXPECT_EQ(type_, "ResourceNotFoundException") << arn << " " << raw_;
  }
  Call("DescribeStreamSummary",
       R"({"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/s1"})");
  EXPECT_EQ(status_, 200) << raw_;
  Call("RegisterStreamConsumer",
       R"({"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/s1","ConsumerName":"c"})");
  ASSERT_EQ(status_, 200) << raw_;
  Call("DescribeStreamConsumer",
       R"({"StreamARN":"arn:aws:kinesis:us-east-1:222222222222:stream/s1","ConsumerName":"c"})");
  EXPECT_EQ(type_, "ResourceNotFoundException") << raw_;
}

TEST_F(KinesisApiTest, InternalFirehoseStreamsAreNotReachable) {
  StreamOptions so;
  so.name = "_firehose.d1";
  ASSERT_TRUE(broker_->CreateStream(so).ok());
  Create("visible", 1);
  auto d = Call("ListStreams", "{}");
  ASSERT_EQ(status_, 200) << raw_;
  ASSERT_EQ(d["StreamNames"].Size(), 1u) << raw_;
  EXPECT_STREQ(d["StreamNames"][0].GetString(), "visible");
  Call("PutRecord", R"({"StreamName":"_firehose.d1","PartitionKey":"k","Data":"YQ=="})");
  EXPECT_EQ(type_, "ResourceNotFoundException") << raw_;
  Call("DeleteStream", R"({"StreamName":"_firehose.d1"})");
  EXPECT_EQ(type_, "ResourceNotFoundException") << raw_;
  Call("CreateStream", R"({"StreamName":"_firehose.d2","ShardCount":1})");
  EXPECT_EQ(type_, "InvalidArgumentException") << raw_;
  EXPECT_TRUE(broker_->GetStream("_firehose.d1").ok());
}

TEST_F(KinesisApiTest, StreamsAndConsumersInUseAreNotDeleted) {
  Create("s", 1);
  auto s = broker_->GetStream("s");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->RegisterConsumer("reader").ok());
  uint64_t hold = (*s)->Hold("delivery reader", "reader");
  Call("DeleteStream", R"({"StreamName":"s","EnforceConsumerDeletion":true})");
  EXPECT_EQ(type_, "ResourceInUseException") << raw_;
  EXPECT_NE(raw_.find("delivery reader"), std::string::npos) << raw_;
  Call(
      "DeregisterStreamConsumer",
      R"({"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/s","ConsumerName":"reader"})");
  EXPECT_EQ(type_, "ResourceInUseException") << raw_;
  (*s)->Release(hold);
  Call("DeleteStream", R"({"StreamName":"s","EnforceConsumerDeletion":true})");
  EXPECT_EQ(status_, 200) << raw_;
}

TEST_F(KinesisApiTest, StreamsCreatedOutsideTheApiShowTheirRealCreationTime) {
  int64_t created = clock_.NowMs();
  StreamOptions so;
  so.name = "from-config";
  ASSERT_TRUE(broker_->CreateStream(so).ok());
  clock_.Advance(3600 * 1000);  // the API first looks an hour later
  auto d = Call("DescribeStreamSummary", R"({"StreamName":"from-config"})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_DOUBLE_EQ(d["StreamDescriptionSummary"]["StreamCreationTimestamp"].GetDouble(),
                   static_cast<double>(created) / 1000.0);
}

// A consumer a delivery registered (through the broker, not the API) shows when it was
// registered, not when its stream was created.
TEST_F(KinesisApiTest, ConsumersRegisteredOutsideTheApiShowTheirRealCreationTime) {
  Create("s", 1);
  clock_.Advance(7200 * 1000);
  int64_t registered = clock_.NowMs();
  auto s = broker_->GetStream("s");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->RegisterConsumer("delivery-b").ok());
  EXPECT_EQ((*s)->ConsumerCreatedMs("delivery-b"), registered);
  clock_.Advance(600 * 1000);
  const std::string arn = "arn:aws:kinesis:us-east-1:000000000000:stream/s";
  auto d = Call("DescribeStreamConsumer",
                R"({"StreamARN":")" + arn + R"(","ConsumerName":"delivery-b"})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_DOUBLE_EQ(d["ConsumerDescription"]["ConsumerCreationTimestamp"].GetDouble(),
                   static_cast<double>(registered / 1000));
  d = Call("ListStreamConsumers", R"({"StreamARN":")" + arn + R"("})");
  ASSERT_EQ(d["Consumers"].Size(), 1u);
  EXPECT_DOUBLE_EQ(d["Consumers"][0]["ConsumerCreationTimestamp"].GetDouble(),
                   static_cast<double>(registered / 1000));
  ASSERT_TRUE((*s)->DeregisterConsumer("delivery-b").ok());
  EXPECT_EQ((*s)->ConsumerCreatedMs("delivery-b"), 0);
}

TEST_F(KinesisApiTest, DeepJsonIsASerializationError) {
  Call("ListStreams", std::string(300000, '['));
  EXPECT_EQ(type_, "SerializationException");
  EXPECT_NE(raw_.find("nested deeper than"), std::string::npos) << raw_;
}

}  // namespace
}  // namespace sluice::broker::api
