// The Firehose JSON mapping through FirehoseApi::Handle over a real broker in a temporary
// directory: puts land in the internal stream, limits and error names are Firehose's.
#include "broker/api/firehose_api.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/base64.h"
#include "tests/unit/broker_api/api_test_fixture.h"

namespace sluice::broker::api {
namespace {

class FirehoseApiTest : public ApiTest<FirehoseApi> {
 protected:
  void Configure(ApiOptions& ao) override {
    ao.firehose_deliveries = {{"configured", ""}, {"from-stream", "logs"}};
    ASSERT_TRUE(OpenDirectPutStream(broker_.get(), "configured", 2).ok());
  }
  // Every record of the internal stream of `delivery`, in shard order.
  std::vector<std::string> Stored(const std::string& delivery) {
    std::vector<std::string> out;
    auto s = broker_->GetStream(DirectPutStreamName(delivery));
    EXPECT_TRUE(s.ok());
    if (!s.ok()) return out;
    for (const ShardInfo& shard : (*s)->ListShards()) {
      ReadBatch rb;
      EXPECT_TRUE((*s)->Read(shard.index, 0, ReadLimits{}, &rb).ok());
      for (const RecordView& r : rb.records) out.emplace_back(r.data);
    }
    return out;
  }
  static std::string Batch(const std::string& name, const std::vector<std::string>& datas) {
    std::string b = R"({"DeliveryStreamName":")" + name + R"(","Records":[)";
    for (size_t i = 0; i < datas.size(); ++i) {
      if (i) b += ",";
      b += R"({"Data":")" + Base64Encode(datas[i]) + "\"}";
    }
    return b + "]}";
  }
};

TEST_F(FirehoseApiTest, PutRecordBatchWritesEveryRecordToTheInternalStream) {
  std::vector<std::string> datas;
  for (int i = 0; i < 500; ++i) datas.push_back("record " + std::to_string(i) + "\n");
  auto d = Call("PutRecordBatch", Batch("configured", datas));
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(d["FailedPutCount"].GetInt(), 0);
  EXPECT_FALSE(d["Encrypted"].GetBool());
  ASSERT_EQ(d["RequestResponses"].Size(), 500u);
  std::set<std::string> ids;
  for (const auto& r : d["RequestResponses"].GetArray()) {
    ASSERT_TRUE(r.HasMember("RecordId"));
    EXPECT_FALSE(r.HasMember("ErrorCode"));
    ids.insert(r["RecordId"].GetString());
  }
  EXPECT_EQ(ids.size(), 500u);
  std::vector<std::string> stored = Stored("configured");
  std::sort(stored.begin(), stored.end());
  std::sort(datas.begin(), datas.end());
  EXPECT_EQ(stored, datas);
  // Both shards of the internal stream took records.
  auto s = broker_->GetStream(DirectPutStreamName("configured"));
  EXPECT_GT(*(*s)->EndOffset(0), 100u);
  EXPECT_GT(*(*s)->EndOffset(1), 100u);
}

TEST_F(FirehoseApiTest, PutRecordAnswersARecordId) {
  auto d = Call("PutRecord", R"({"DeliveryStreamName":"configured","Record":{"Data":")" +
                                 Base64Encode("hello") + "\"}}");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_FALSE(std::string(d["RecordId"].GetString()).empty());
  EXPECT_EQ(Stored("configured"), std::vector<std::string>{"hello"});
}

TEST_F(FirehoseApiTest, LimitsAreFirehoses) {
  std::vector<std::string> many(501, "x");
  auto d = Call("PutRecordBatch", Batch("configured", many));
  EXPECT_EQ(type_, "ValidationException");
  EXPECT_NE(Message(d).find("less than or equal to 500"), std::string::npos) << raw_;

  d = Call("PutRecordBatch", Batch("configured", {"a", std::string(1024001, 'b')}));
  EXPECT_EQ(type_, "ValidationException");
  EXPECT_NE(Message(d).find("'records.2.member.data'"), std::string::npos) << raw_;
  EXPECT_NE(Message(d).find("1024000"), std::string::npos) << raw_;

  // 1000 KiB exactly is accepted; five of them exceed 4 MiB.
  d = Call("PutRecordBatch", Batch("configured", {std::string(1024000, 'c')}));
  EXPECT_EQ(status_, 200) << raw_;
  d = Call("PutRecordBatch",
           Batch("configured", std::vector<std::string>(5, std::string(1024000, 'c'))));
  EXPECT_EQ(type_, "InvalidArgumentException");
  EXPECT_EQ(Message(d), "Records size exceeds 4 MB limit");

  d = Call("PutRecord", R"({"DeliveryStreamName":"configured","Record":{"Data":")" +
                            Base64Encode(std::string(1024001, 'd')) + "\"}}");
  EXPECT_EQ(type_, "ValidationException");
  EXPECT_EQ(Stored("configured").size(), 1u);  // only the accepted 1000 KiB record

  d = Call("PutRecordBatch", R"({"DeliveryStreamName":"configured","Records":[]})");
  EXPECT_EQ(type_, "ValidationException");
  d = Call("PutRecord", R"({"Record":{"Data":"eA=="}})");
  EXPECT_EQ(type_, "ValidationException");
  EXPECT_NE(Message(d).find("'deliveryStreamName'"), std::string::npos) << raw_;
}

TEST_F(FirehoseApiTest, UnknownAndStreamSourcedDeliveriesRefusePuts) {
  auto d = Call("PutRecord", R"({"DeliveryStreamName":"nope","Record":{"Data":"eA=="}})");
  EXPECT_EQ(type_, "ResourceNotFoundException");
  EXPECT_EQ(status_, 400);
  d = Call("PutRecordBatch", Batch("from-stream", {"x"}));
  EXPECT_EQ(type_, "InvalidArgumentException");
}

TEST_F(FirehoseApiTest, CreateListDescribeDelete) {
  auto d = Call("CreateDeliveryStream",
                R"({"DeliveryStreamName":"made","DeliveryStreamType":"DirectPut",
                    "ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::b",
                    "RoleARN":"arn:aws:iam::000000000000:role/r"}})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_STREQ(d["DeliveryStreamARN"].GetString(),
               "arn:aws:firehose:us-east-1:000000000000:deliverystream/made");
  d = Call("CreateDeliveryStream", R"({"DeliveryStreamName":"made"})");
  EXPECT_EQ(type_, "ResourceInUseException");

  d = Call("ListDeliveryStreams", "{}");
  ASSERT_EQ(status_, 200) << raw_;
  std::vector<std::string> names;
  for (const auto& n : d["DeliveryStreamNames"].GetArray()) names.emplace_back(n.GetString());
  EXPECT_EQ(names, (std::vector<std::string>{"configured", "from-stream", "made"}));
  EXPECT_FALSE(d["HasMoreDeliveryStreams"].GetBool());
  d = Call("ListDeliveryStreams", R"({"Limit":1,"ExclusiveStartDeliveryStreamName":"configured"})");
  ASSERT_EQ(d["DeliveryStreamNames"].Size(), 1u);
  EXPECT_STREQ(d["DeliveryStreamNames"][0].GetString(), "from-stream");
  EXPECT_TRUE(d["HasMoreDeliveryStreams"].GetBool());
  d = Call("ListDeliveryStreams", R"({"DeliveryStreamType":"KinesisStreamAsSource"})");
  ASSERT_EQ(d["DeliveryStreamNames"].Size(), 1u);

  d = Call("DescribeDeliveryStream", R"({"DeliveryStreamName":"from-stream"})");
  ASSERT_EQ(status_, 200) << raw_;
  const auto& desc = d["DeliveryStreamDescription"];
  EXPECT_STREQ(desc["DeliveryStreamStatus"].GetString(), "ACTIVE");
  EXPECT_STREQ(desc["DeliveryStreamType"].GetString(), "KinesisStreamAsSource");
  EXPECT_STREQ(desc["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"].GetString(),
               "arn:aws:kinesis:us-east-1:000000000000:stream/logs");
  EXPECT_EQ(desc["Destinations"].Size(), 1u);
  EXPECT_FALSE(desc["HasMoreDestinations"].GetBool());

  d = Call("DeleteDeliveryStream", R"({"DeliveryStreamName":"configured"})");
  EXPECT_EQ(type_, "ResourceInUseException");
  d = Call("DeleteDeliveryStream", R"({"DeliveryStreamName":"made"})");
  EXPECT_EQ(status_, 200) << raw_;
  d = Call("DescribeDeliveryStream", R"({"DeliveryStreamName":"made"})");
  EXPECT_EQ(type_, "ResourceNotFoundException");
  d = Call("DeleteDeliveryStream", R"({"DeliveryStreamName":"made"})");
  EXPECT_EQ(type_, "ResourceNotFoundException");
  d = Call("CreateDeliveryStream", R"({"DeliveryStreamName":"bad name!"})");
  EXPECT_EQ(type_, "ValidationException");
  d = Call("Frobnicate", "{}");
  EXPECT_EQ(type_, "UnknownOperationException");
}

}  // namespace
}  // namespace sluice::broker::api
