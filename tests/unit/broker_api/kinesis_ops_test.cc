// The account, capacity-mode, monitoring, resource-tag and resource-policy operations, and
// NextTokens across a restart: through KinesisApi::Handle over a real broker in a temporary
// directory, re-opened (broker and API) where persistence is the point.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "broker/api/kinesis_api.h"
#include "tests/unit/broker_api/api_test_fixture.h"

namespace sluice::broker::api {
namespace {

// A resource policy: denies SubscribeToShard to everyone (kValidPolicyText as GetResourcePolicy
// returns it, kValidPolicy escaped for a JSON string).
constexpr char kValidPolicyText[] =
    R"({"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":"*",)"
    R"("Action":"kinesis:SubscribeToShard","Resource":"*"}})";
constexpr char kValidPolicy[] =
    R"({\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Deny\",\"Principal\":\"*\",)"
    R"(\"Action\":\"kinesis:SubscribeToShard\",\"Resource\":\"*\"}})";

constexpr char kArn[] = "arn:aws:kinesis:us-east-1:000000000000:stream/";

class KinesisOpsTest : public ApiTest<KinesisApi> {
 protected:
  void Create(const std::string& name, const std::string& mode, int shards = 1) {
    std::string body =
        R"({"StreamName":")" + name + R"(","StreamModeDetails":{"StreamMode":")" + mode + "\"}";
    if (mode == "PROVISIONED") body += R"(,"ShardCount":)" + std::to_string(shards);
    Call("CreateStream", body + "}");
    ASSERT_EQ(status_, 200) << raw_;
  }
  std::string Mode(const std::string& name) {
    auto d = Call("DescribeStreamSummary", R"({"StreamName":")" + name + "\"}");
    EXPECT_EQ(status_, 200) << raw_;
    return d["StreamDescriptionSummary"]["StreamModeDetails"]["StreamMode"].GetString();
  }
  // The consumer's ARN, registered with `tags_json` ("" for none).
  std::string Register(const std::string& stream, const std::string& consumer,
                       const std::string& tags_json = "") {
    std::string body = R"({"StreamARN":")" + std::string(kArn) + stream + R"(","ConsumerName":")" +
                       consumer + "\"";
    if (!tags_json.empty()) body += R"(,"Tags":)" + tags_json;
    auto d = Call("RegisterStreamConsumer", body + "}");
    EXPECT_EQ(status_, 200) << raw_;
    return d.HasMember("Consumer") ? d["Consumer"]["ConsumerARN"].GetString() : "";
  }
  // Tags of a resource as "k=v,k=v".
  std::string Tags(const std::string& arn) {
    auto d = Call("ListTagsForResource", R"({"ResourceARN":")" + arn + "\"}");
    EXPECT_EQ(status_, 200) << raw_;
    std::string out;
    if (!d.IsObject() || !d.HasMember("Tags")) return "?";
    for (const auto& t : d["Tags"].GetArray()) {
      out += (out.empty() ? "" : ",") + std::string(t["Key"].GetString()) + "=" +
             t["Value"].GetString();
    }
    return out;
  }
  // Puts `n` small records in one PutRecords; returns how many failed.
  int PutMany(const std::string& stream, int n) {
    std::string body = R"({"StreamName":")" + stream + R"(","Records":[)";
    for (int i = 0; i < n; i++) {
      body += std::string(i ? "," : "") + R"({"Data":"eA==","PartitionKey":"k)" +
              std::to_string(i) + "\"}";
    }
    auto d = Call("PutRecords", body + "]}");
    EXPECT_EQ(status_, 200) << raw_;
    return d.HasMember("FailedRecordCount") ? d["FailedRecordCount"].GetInt() : -1;
  }
};

TEST_F(KinesisOpsTest, DescribeLimitsCountsOpenShardsAndOnDemandStreams) {
  Create("p", "PROVISIONED", 2);
  Create("o", "ON_DEMAND");  // 4 shards
  auto d = Call("DescribeLimits", "{}");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(d["ShardLimit"].GetInt(), 10000);
  EXPECT_EQ(d["OpenShardCount"].GetInt(), 6);
  EXPECT_EQ(d["OnDemandStreamCount"].GetInt(), 1);
  EXPECT_EQ(d["OnDemandStreamCountLimit"].GetInt(), 1000000);
  Call("SplitShard",
       R"({"StreamName":"p","ShardToSplit":"shardId-000000000000","NewStartingHashKey":"1000"})");
  ASSERT_EQ(status_, 200) << raw_;
  d = Call("DescribeLimits", "");
  EXPECT_EQ(d["OpenShardCount"].GetInt(), 7);  // the parent closed, two children open
}

TEST_F(KinesisOpsTest, DescribeAccountSettingsHasNoBillingCommitment) {
  auto d = Call("DescribeAccountSettings", "{}");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_STREQ(d["MinimumThroughputBillingCommitment"]["Status"].GetString(), "DISABLED");
}

TEST_F(KinesisOpsTest, UpdateStreamModeChangesTheLimitsAndPersists) {
  Create("s", "PROVISIONED", 1);
  EXPECT_EQ(Mode("s"), "PROVISIONED");
  // Provisioned: 1,000 records/s per shard, and the fake clock stands still.
  EXPECT_EQ(PutMany("s", 500), 0);
  EXPECT_EQ(PutMany("s", 500), 0);
  EXPECT_EQ(PutMany("s", 500), 500);
  Call("UpdateStreamMode", R"({"StreamARN":")" + std::string(kArn) +
                               R"(s","StreamModeDetails":{"StreamMode":"ON_DEMAND"}})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(raw_, "{}");
  EXPECT_EQ(Mode("s"), "ON_DEMAND");
  EXPECT_EQ(PutMany("s", 500), 0);
  EXPECT_EQ(Call("DescribeLimits", "{}")["OnDemandStreamCount"].GetInt(), 1);
  Reopen();
  EXPECT_EQ(Mode("s"), "ON_DEMAND");  // from stream.json
  EXPECT_EQ(PutMany("s", 500), 0);
  EXPECT_EQ(PutMany("s", 500), 0);
  // And back: the limits apply again, to the shards there are and to the ones a split makes.
  Call("UpdateStreamMode", R"({"StreamARN":")" + std::string(kArn) +
                               R"(s","StreamModeDetails":{"StreamMode":"PROVISIONED"}})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(Mode("s"), "PROVISIONED");
  EXPECT_EQ(PutMany("s", 500), 0);
  EXPECT_EQ(PutMany("s", 500), 0);
  EXPECT_EQ(PutMany("s", 500), 500);
  // The same mode again changes nothing.
  Call("UpdateStreamMode", R"({"StreamARN":")" + std::string(kArn) +
                               R"(s","StreamModeDetails":{"StreamMode":"PROVISIONED"}})");
  EXPECT_EQ(status_, 200) << raw_;
}

TEST_F(KinesisOpsTest, UpdateStreamModeErrors) {
  Create("s", "PROVISIONED", 1);
  auto d = Call("UpdateStreamMode",
                R"({"StreamName":"s","StreamModeDetails":{"StreamMode":"ON_DEMAND"}})");
  EXPECT_EQ(type_, "ValidationException");
  EXPECT_NE(Message(d).find("'streamARN' failed to satisfy constraint: Member must not be null"),
            std::string::npos)
      << Message(d);
  d = Call("UpdateStreamMode", R"({"StreamARN":")" + std::string(kArn) +
                                   R"(s","StreamModeDetails":{"StreamMode":"FAST"}})");
  EXPECT_EQ(type_, "ValidationException");
  EXPECT_NE(Message(d).find("enum value set: [PROVISIONED, ON_DEMAND]"), std::string::npos);
  Call("UpdateStreamMode", R"({"StreamARN":")" + std::string(kArn) + R"(s"})");
  EXPECT_EQ(type_, "ValidationException");
  Call("UpdateStreamMode", R"({"StreamARN":")" + std::string(kArn) +
                               R"(nope","StreamModeDetails":{"StreamMode":"ON_DEMAND"}})");
  EXPECT_EQ(type_, "ResourceNotFoundException");
  Call(
      "UpdateStreamMode",
      R"({"StreamARN":"arn:aws:kinesis:eu-west-1:000000000000:stream/s","StreamModeDetails":{"StreamMode":"ON_DEMAND"}})");
  EXPECT_EQ(type_, "ResourceNotFoundException");  // another region's stream
  EXPECT_EQ(Mode("s"), "PROVISIONED");
}

TEST_F(KinesisOpsTest, EnhancedMonitoringIsKeptAndDescribed) {
  Create("s", "ON_DEMAND");
  auto d = Call("EnableEnhancedMonitoring",
                R"({"StreamName":"s","ShardLevelMetrics":["IncomingBytes","OutgoingRecords"]})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_STREQ(d["StreamName"].GetString(), "s");
  EXPECT_EQ(std::string(d["StreamARN"].GetString()), std::string(kArn) + "s");
  EXPECT_EQ(d["CurrentShardLevelMetrics"].Size(), 0u);
  ASSERT_EQ(d["DesiredShardLevelMetrics"].Size(), 2u);
  EXPECT_STREQ(d["DesiredShardLevelMetrics"][0].GetString(), "IncomingBytes");
  // ALL, by ARN: every one of the seven.
  d = Call("EnableEnhancedMonitoring",
           R"({"StreamARN":")" + std::string(kArn) + R"(s","ShardLevelMetrics":["ALL"]})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(d["CurrentShardLevelMetrics"].Size(), 2u);
  EXPECT_EQ(d["DesiredShardLevelMetrics"].Size(), 7u);
  d = Call("DisableEnhancedMonitoring",
           R"({"StreamName":"s","ShardLevelMetrics":["IteratorAgeMilliseconds"]})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(d["CurrentShardLevelMetrics"].Size(), 7u);
  EXPECT_EQ(d["DesiredShardLevelMetrics"].Size(), 6u);
  d = Call("DescribeStream", R"({"StreamName":"s"})");
  EXPECT_EQ(d["StreamDescription"]["EnhancedMonitoring"][0]["ShardLevelMetrics"].Size(), 6u);
  Reopen();
  d = Call("DescribeStreamSummary", R"({"StreamName":"s"})");
  const auto& metrics = d["StreamDescriptionSummary"]["EnhancedMonitoring"][0]["ShardLevelMetrics"];
  ASSERT_EQ(metrics.Size(), 6u);
  for (const auto& m : metrics.GetArray()) EXPECT_STRNE(m.GetString(), "IteratorAgeMilliseconds");
  d = Call("DisableEnhancedMonitoring", R"({"StreamName":"s","ShardLevelMetrics":["ALL"]})");
  EXPECT_EQ(d["DesiredShardLevelMetrics"].Size(), 0u);
}

TEST_F(KinesisOpsTest, EnhancedMonitoringErrors) {
  Create("s", "ON_DEMAND");
  auto d = Call("EnableEnhancedMonitoring", R"({"StreamName":"s","ShardLevelMetrics":["Bytes"]})");
  EXPECT_EQ(type_, "ValidationException");
  EXPECT_NE(Message(d).find("Value 'Bytes' at 'shardLevelMetrics.member'"), std::string::npos);
  Call("EnableEnhancedMonitoring", R"({"StreamName":"s","ShardLevelMetrics":[]})");
  EXPECT_EQ(type_, "ValidationException");
  Call("EnableEnhancedMonitoring", R"({"StreamName":"s"})");
  EXPECT_EQ(type_, "ValidationException");
  Call("EnableEnhancedMonitoring", R"({"StreamName":"s","ShardLevelMetrics":[1]})");
  EXPECT_EQ(type_, "SerializationException");
  Call("DisableEnhancedMonitoring", R"({"StreamName":"nope","ShardLevelMetrics":["ALL"]})");
  EXPECT_EQ(type_, "ResourceNotFoundException");
  Call("EnableEnhancedMonitoring", R"({"ShardLevelMetrics":["ALL"]})");
  EXPECT_EQ(type_, "InvalidArgumentException");  // neither StreamName nor StreamARN
}

TEST_F(KinesisOpsTest, TagResourceOnStreamsSharesTheStreamsTags) {
  Create("s", "ON_DEMAND");
  std::string arn = std::string(kArn) + "s";
  Call("TagResource", R"({"ResourceARN":")" + arn + R"(","Tags":{"a":"1","b":""}})");
  ASSERT_EQ(status_, 200) << raw_;
  Call("AddTagsToStream", R"({"StreamName":"s","Tags":{"c":"3"}})");
  EXPECT_EQ(Tags(arn), "a=1,b=,c=3");
  auto d = Call("ListTagsForStream", R"({"StreamName":"s"})");
  EXPECT_EQ(d["Tags"].Size(), 3u);
  Call("UntagResource", R"({"ResourceARN":")" + arn + R"(","TagKeys":["a","zz"]})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(Tags(arn), "b=,c=3");
  // 50 at most, counted with the ones there are; lengths as Kinesis's.
  std::string many = "{";
  for (int i = 0; i < 48; i++) many += (i ? "," : "") + ("\"k" + std::to_string(i) + "\":\"v\"");
  Call("TagResource", R"({"ResourceARN":")" + arn + R"(","Tags":)" + many + "}}");
  EXPECT_EQ(status_, 200) << raw_;
  Call("TagResource", R"({"ResourceARN":")" + arn + R"(","Tags":{"one-more":"x"}})");
  EXPECT_EQ(type_, "LimitExceededException");
  Call("TagResource", R"({"ResourceARN":")" + arn + R"(","Tags":{"k1":"replaced"}})");
  EXPECT_EQ(status_, 200) << raw_;  // replacing one is not adding one
  Call("TagResource",
       R"({"ResourceARN":")" + arn + R"(","Tags":{")" + std::string(129, 'k') + R"(":"v"}})");
  EXPECT_EQ(type_, "ValidationException");
  Call("TagResource",
       R"({"ResourceARN":")" + arn + R"(","Tags":{"k":")" + std::string(257, 'v') + R"("}})");
  EXPECT_EQ(type_, "ValidationException");
  Call("TagResource", R"({"ResourceARN":")" + arn + R"(","Tags":{"k":1}})");
  EXPECT_EQ(type_, "SerializationException");
  Call("TagResource", R"({"ResourceARN":")" + arn + "\"}");
  EXPECT_EQ(type_, "ValidationException");
  Call("ListTagsForResource", R"({"ResourceARN":"not-an-arn"})");
  EXPECT_EQ(type_, "ValidationException");
  Call("ListTagsForResource", R"({"ResourceARN":")" + std::string(kArn) + "nope\"}");
  EXPECT_EQ(type_, "ResourceNotFoundException");
  Call("ListTagsForResource",
       R"({"ResourceARN":"arn:aws:kinesis:us-east-1:111111111111:stream/s"})");
  EXPECT_EQ(type_, "ResourceNotFoundException");  // another account's
  Reopen();
  d = Call("ListTagsForStream", R"({"StreamName":"s"})");
  EXPECT_EQ(d["Tags"].Size(), 50u);
}

TEST_F(KinesisOpsTest, ConsumersHaveTagsOfTheirOwn) {
  Create("s", "ON_DEMAND");
  std::string carn = Register("s", "app", R"({"team":"logs"})");
  ASSERT_FALSE(carn.empty());
  EXPECT_EQ(Tags(carn), "team=logs");
  EXPECT_EQ(Tags(std::string(kArn) + "s"), "");  // not the stream's
  Call("TagResource", R"({"ResourceARN":")" + carn + R"(","Tags":{"env":"prod"}})");
  ASSERT_EQ(status_, 200) << raw_;
  Call("UntagResource", R"({"ResourceARN":")" + carn + R"(","TagKeys":["team"]})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(Tags(carn), "env=prod");
  Reopen();
  EXPECT_EQ(Tags(carn), "env=prod");
  // An ARN of an unknown consumer, or of an earlier registration of this name, names nothing.
  Call("ListTagsForResource", R"({"ResourceARN":")" + std::string(kArn) + "s/consumer/other:1\"}");
  EXPECT_EQ(type_, "ResourceNotFoundException");
  Call("DeregisterStreamConsumer", R"({"ConsumerARN":")" + carn + "\"}");
  ASSERT_EQ(status_, 200) << raw_;
  Call("ListTagsForResource", R"({"ResourceARN":")" + carn + "\"}");
  EXPECT_EQ(type_, "ResourceNotFoundException");
  clock_.Advance(5000);
  std::string again = Register("s", "app");
  ASSERT_NE(again, carn);
  EXPECT_EQ(Tags(again), "");  // the old registration's tags went with it
  Call("ListTagsForResource", R"({"ResourceARN":")" + carn + "\"}");
  EXPECT_EQ(type_, "ResourceNotFoundException");
  Call("RegisterStreamConsumer",
       R"({"StreamARN":")" + std::string(kArn) + R"(s","ConsumerName":"b","Tags":{"k":)" + "2}}");
  EXPECT_EQ(type_, "SerializationException");
}

TEST_F(KinesisOpsTest, ResourcePoliciesAreStoredPerResource) {
  Create("s", "ON_DEMAND");
  std::string arn = std::string(kArn) + "s";
  std::string carn = Register("s", "app");
  auto d = Call("GetResourcePolicy", R"({"ResourceARN":")" + arn + "\"}");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_STREQ(d["Policy"].GetString(), "{}");
  const std::string policy = R"({\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",)"
                             R"(\"Principal\":{\"AWS\":\"arn:aws:iam::111111111111:root\"},)"
                             R"(\"Action\":\"kinesis:GetRecords\",\"Resource\":\")" +
                             arn + R"(\"}]})";
  Call("PutResourcePolicy", R"({"ResourceARN":")" + arn + R"(","Policy":")" + policy + "\"}");
  ASSERT_EQ(status_, 200) << raw_;
  Call("PutResourcePolicy",
       R"({"ResourceARN":")" + carn + R"(","Policy":")" + std::string(kValidPolicy) + "\"}");
  ASSERT_EQ(status_, 200) << raw_;
  // A document that is no resource policy (no Statement, no Principal) is refused.
  Call("PutResourcePolicy",
       R"({"ResourceARN":")" + carn + R"(","Policy":"{\"Version\":\"2012-10-17\"}"})");
  EXPECT_EQ(type_, "InvalidArgumentException");
  EXPECT_NE(raw_.find("Invalid policy: policy document: Statement is missing."), std::string::npos)
      << raw_;
  Call("PutResourcePolicy", R"({"ResourceARN":")" + arn + R"(","Policy":"{not json"})");
  EXPECT_EQ(type_, "InvalidArgumentException");
  Call("PutResourcePolicy", R"({"ResourceARN":")" + arn + R"(","Policy":"[1,2]"})");
  EXPECT_EQ(type_, "InvalidArgumentException");
  Call("PutResourcePolicy", R"({"ResourceARN":")" + arn + "\"}");
  EXPECT_EQ(type_, "ValidationException");
  Call("PutResourcePolicy", R"({"ResourceARN":")" + std::string(kArn) + R"(x","Policy":"{}"})");
  EXPECT_EQ(type_, "ResourceNotFoundException");
  Reopen();
  d = Call("GetResourcePolicy", R"({"ResourceARN":")" + arn + "\"}");
  ASSERT_EQ(status_, 200) << raw_;
  rapidjson::Document p;
  p.Parse(d["Policy"].GetString());
  ASSERT_TRUE(p.IsObject());
  EXPECT_STREQ(p["Statement"][0]["Action"].GetString(), "kinesis:GetRecords");
  d = Call("GetResourcePolicy", R"({"ResourceARN":")" + carn + "\"}");
  EXPECT_STREQ(d["Policy"].GetString(), kValidPolicyText);
  Call("DeleteResourcePolicy", R"({"ResourceARN":")" + arn + "\"}");
  ASSERT_EQ(status_, 200) << raw_;
  Call("DeleteResourcePolicy", R"({"ResourceARN":")" + arn + "\"}");
  EXPECT_EQ(status_, 200) << raw_;  // none left: still fine
  Reopen();
  EXPECT_STREQ(Call("GetResourcePolicy", R"({"ResourceARN":")" + arn + "\"}")["Policy"].GetString(),
               "{}");
  EXPECT_STREQ(
      Call("GetResourcePolicy", R"({"ResourceARN":")" + carn + "\"}")["Policy"].GetString(),
      kValidPolicyText);
}

TEST_F(KinesisOpsTest, UpdateMaxRecordSizeTakesOnlyTheCurrentMaximum) {
  Create("s", "ON_DEMAND");
  auto d = Call("DescribeStreamSummary", R"({"StreamName":"s"})");
  EXPECT_EQ(d["StreamDescriptionSummary"]["MaxRecordSizeInKiB"].GetInt(), 1024);
  Call("UpdateMaxRecordSize",
       R"({"StreamARN":")" + std::string(kArn) + R"(s","MaxRecordSizeInKiB":1024})");
  EXPECT_EQ(status_, 200) << raw_;
  d = Call("UpdateMaxRecordSize",
           R"({"StreamARN":")" + std::string(kArn) + R"(s","MaxRecordSizeInKiB":10240})");
  EXPECT_EQ(type_, "ValidationException");
  EXPECT_EQ(Message(d),
            "1 validation error detected: Value '10240' at 'maxRecordSizeInKiB' failed to "
            "satisfy constraint: Member must have value less than or equal to 1024");
  Call("UpdateMaxRecordSize",
       R"({"StreamARN":")" + std::string(kArn) + R"(s","MaxRecordSizeInKiB":1023})");
  EXPECT_EQ(type_, "ValidationException");
  Call("UpdateMaxRecordSize", R"({"StreamARN":")" + std::string(kArn) + R"(s"})");
  EXPECT_EQ(type_, "ValidationException");
  Call("UpdateMaxRecordSize",
       R"({"StreamARN":")" + std::string(kArn) + R"(x","MaxRecordSizeInKiB":1024})");
  EXPECT_EQ(type_, "ResourceNotFoundException");
}

TEST_F(KinesisOpsTest, NextTokensSurviveARestart) {
  for (const char* n : {"a", "b", "c"}) Create(n, "PROVISIONED", 3);
  Register("a", "c1");
  Register("a", "c2");
  auto streams = Call("ListStreams", R"({"Limit":1})");
  auto shards =
      Call("ListShards", R"({"StreamARN":")" + std::string(kArn) + R"(a","MaxResults":2})");
  auto consumers = Call("ListStreamConsumers",
                        R"({"StreamARN":")" + std::string(kArn) + R"(a","MaxResults":1})");
  std::string t_streams = streams["NextToken"].GetString();
  std::string t_shards = shards["NextToken"].GetString();
  std::string t_consumers = consumers["NextToken"].GetString();
  Reopen();
  auto d = Call("ListStreams", R"({"NextToken":")" + t_streams + "\"}");
  ASSERT_EQ(status_, 200) << raw_;
  ASSERT_EQ(d["StreamNames"].Size(), 2u);
  EXPECT_STREQ(d["StreamNames"][0].GetString(), "b");
  d = Call("ListShards", R"({"NextToken":")" + t_shards + "\"}");
  ASSERT_EQ(status_, 200) << raw_;
  ASSERT_EQ(d["Shards"].Size(), 1u);
  EXPECT_STREQ(d["Shards"][0]["ShardId"].GetString(), "shardId-000000000002");
  d = Call("ListStreamConsumers",
           R"({"StreamARN":")" + std::string(kArn) + R"(a","NextToken":")" + t_consumers + "\"}");
  ASSERT_EQ(status_, 200) << raw_;
  ASSERT_EQ(d["Consumers"].Size(), 1u);
  EXPECT_STREQ(d["Consumers"][0]["ConsumerName"].GetString(), "c2");
  // The key is the data directory's: owner-only, and a new key (file removed) refuses old tokens.
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "api_token.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  std::filesystem::remove(dir_ / "api_token.key");
  Reopen();
  Call("ListStreams", R"({"NextToken":")" + t_streams + "\"}");
  EXPECT_EQ(type_, "InvalidArgumentException");
}

// Two instances on one data directory (the listener's and the admin endpoint's): what one
// saves, the other sees, and does not write over with its older copy.
TEST_F(KinesisOpsTest, InstancesOfOneDirectoryDoNotUndoEachOther) {
  ApiOptions ao;
  ao.data_dir = dir_;
  ao.clock = &clock_;
  auto other = KinesisApi::Create(broker_.get(), ao);
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  auto call_other = [&](std::string_view op, std::string body) {
    ApiReply reply;
    (*other)->Handle(op, body, &reply);
    EXPECT_EQ(reply.status, 200) << reply.body;
    return reply.body;
  };
  Create("s1", "ON_DEMAND");
  call_other("DescribeStreamSummary", R"({"StreamName":"s1"})");
  const std::string arn = std::string(kArn) + "s1";
  Call("TagResource", R"({"ResourceARN":")" + arn + R"(","Tags":{"a":"1"}})");
  Call("PutResourcePolicy",
       R"({"ResourceARN":")" + arn + R"(","Policy":")" + std::string(kValidPolicy) + "\"}");
  ASSERT_EQ(status_, 200) << raw_;
  Create("s2", "ON_DEMAND");
  // The other instance meets s2 for the first time (and saves its creation time).
  call_other("DescribeStreamSummary", R"({"StreamName":"s2"})");
  EXPECT_NE(call_other("ListTagsForResource", R"({"ResourceARN":")" + arn + "\"}").find("\"a\""),
            std::string::npos);
  other->reset();
  Reopen();
  EXPECT_EQ(Tags(arn), "a=1");
  EXPECT_STREQ(Call("GetResourcePolicy", R"({"ResourceARN":")" + arn + "\"}")["Policy"].GetString(),
               kValidPolicyText);
}

TEST_F(KinesisOpsTest, StreamArnIsAcceptedInPlaceOfStreamName) {
  Create("s", "PROVISIONED", 2);
  const std::string by = R"({"StreamARN":")" + std::string(kArn) + "s\"";
  struct Case {
    const char* op;
    std::string rest;
  };
  const Case cases[] = {
      {"DescribeStream", ""},
      {"DescribeStreamSummary", ""},
      {"ListShards", ""},
      {"PutRecord", R"(,"Data":"eA==","PartitionKey":"k")"},
      {"PutRecords", R"(,"Records":[{"Data":"eA==","PartitionKey":"k"}])"},
      {"GetShardIterator", R"(,"ShardId":"shardId-000000000000","ShardIteratorType":"LATEST")"},
      {"AddTagsToStream", R"(,"Tags":{"a":"1"})"},
      {"ListTagsForStream", ""},
      {"RemoveTagsFromStream", R"(,"TagKeys":["a"])"},
      {"IncreaseStreamRetentionPeriod", R"(,"RetentionPeriodHours":48)"},
      {"DecreaseStreamRetentionPeriod", R"(,"RetentionPeriodHours":24)"},
      {"UpdateShardCount", R"(,"TargetShardCount":4,"ScalingType":"UNIFORM_SCALING")"},
      {"MergeShards",
       R"(,"ShardToMerge":"shardId-000000000002","AdjacentShardToMerge":"shardId-000000000003")"},
      {"EnableEnhancedMonitoring", R"(,"ShardLevelMetrics":["ALL"])"},
      {"DisableEnhancedMonitoring", R"(,"ShardLevelMetrics":["ALL"])"},
      {"UpdateMaxRecordSize", R"(,"MaxRecordSizeInKiB":1024)"},
      {"ListStreamConsumers", ""},
      {"DeleteStream", ""},
  };
  for (const Case& k : cases) {
    Call(k.op, by + k.rest + "}");
    EXPECT_EQ(status_, 200) << k.op << ": " << raw_;
  }
}

}  // namespace
}  // namespace sluice::broker::api
