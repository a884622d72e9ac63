// Start/StopStreamEncryption through KinesisApi::Handle over a real broker with a keyring: the
// forms of KeyId, AWS's errors, and EncryptionType/KeyId where the answers carry them.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <memory>
#include <string>

#include "broker/api/kinesis_api.h"
#include "tests/unit/broker_api/api_test_fixture.h"

namespace sluice::broker::api {
namespace {

constexpr char kKeys[] =
    "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    "k2 ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\n";

class KinesisEncryptionTest : public ApiTest<KinesisApi> {
 protected:
  void SetUp() override {
    auto ring = Keyring::Parse(kKeys, "test keyring");
    ASSERT_TRUE(ring.ok()) << ring.status().message();
    keyring_ = std::make_shared<const Keyring>(std::move(*ring));
    ApiTest::SetUp();
    Call("CreateStream", R"({"StreamName":"s","ShardCount":1})");
    ASSERT_EQ(status_, 200) << raw_;
  }
  void ConfigureBroker(BrokerOptions& options) override { options.keyring = keyring_; }

  rapidjson::Document Start(const std::string& key_id, const std::string& type = "KMS") {
    return Call("StartStreamEncryption", R"({"StreamName":"s","EncryptionType":")" + type +
                                             R"(","KeyId":")" + key_id + "\"}");
  }
  // EncryptionType and KeyId of DescribeStreamSummary, as "KMS k1" or "NONE".
  std::string Described() {
    auto d = Call("DescribeStreamSummary", R"({"StreamName":"s"})");
    EXPECT_EQ(status_, 200) << raw_;
    const auto& sum = d["StreamDescriptionSummary"];
    std::string out = sum["EncryptionType"].GetString();
    if (sum.HasMember("KeyId")) out += std::string(" ") + sum["KeyId"].GetString();
    return out;
  }
  StreamEncryption Stored() {
    auto s = broker_->GetStream("s");
    EXPECT_TRUE(s.ok());
    return s.ok() ? (*s)->options().encryption : StreamEncryption{};
  }

  std::shared_ptr<const Keyring> keyring_;
};

TEST_F(KinesisEncryptionTest, AwsManagedKeyIsTheKeyringsPrimary) {
  EXPECT_EQ(Described(), "NONE");
  Start("alias/aws/kinesis");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(raw_, "{}");
  EXPECT_TRUE(Stored().enabled);
  EXPECT_EQ(Stored().key_id, "");  // follows the primary through a rotation
  EXPECT_EQ(Described(), "KMS alias/aws/kinesis");
  auto d = Call("DescribeStream", R"({"StreamName":"s"})");
  EXPECT_STREQ(d["StreamDescription"]["EncryptionType"].GetString(), "KMS");
  EXPECT_STREQ(d["StreamDescription"]["KeyId"].GetString(), "alias/aws/kinesis");
  // Its ARN too.
  Start("arn:aws:kms:us-east-1:000000000000:alias/aws/kinesis");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(Stored().key_id, "");
}

TEST_F(KinesisEncryptionTest, EveryFormOfKeyIdNamesAKeyringKey) {
  for (const char* key_id : {"k1", "arn:aws:kms:us-east-1:000000000000:key/k1", "alias/k1",
                             "arn:aws:kms:us-east-1:000000000000:alias/k1"}) {
    Call("StopStreamEncryption", R"({"StreamName":"s","EncryptionType":"KMS","KeyId":"k1"})");
    ASSERT_EQ(status_, 200) << raw_;
    Start(key_id);
    ASSERT_EQ(status_, 200) << key_id << ": " << raw_;
    EXPECT_TRUE(Stored().enabled) << key_id;
    EXPECT_EQ(Stored().key_id, "k1") << key_id;
    EXPECT_EQ(Described(), "KMS k1") << key_id;
  }
  // Another key replaces it, as StartStreamEncryption updates an encrypted stream on AWS.
  Start("k2");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(Described(), "KMS k2");
}

TEST_F(KinesisEncryptionTest, UnknownKeyIsKmsNotFound) {
  auto d = Start("k3");
  EXPECT_EQ(type_, "KMSNotFoundException");
  EXPECT_EQ(Message(d), "Key 'arn:aws:kms:us-east-1:000000000000:key/k3' does not exist");
  d = Start("arn:aws:kms:eu-west-1:123456789012:key/k3");
  EXPECT_EQ(type_, "KMSNotFoundException");
  EXPECT_EQ(Message(d), "Key 'arn:aws:kms:eu-west-1:123456789012:key/k3' does not exist");
  d = Start("alias/gone");
  EXPECT_EQ(type_, "KMSNotFoundException");
  EXPECT_EQ(Message(d), "Alias arn:aws:kms:us-east-1:000000000000:alias/gone is not found.");
  Start("arn:aws:s3:::bucket");  // not a KMS key's ARN
  EXPECT_EQ(type_, "KMSNotFoundException");
  EXPECT_EQ(Described(), "NONE");  // nothing changed
}

TEST_F(KinesisEncryptionTest, RequestsAreValidatedAsAwsDoes) {
  auto d = Call("StartStreamEncryption", R"({"StreamName":"s"})");
  EXPECT_EQ(type_, "ValidationException");
  EXPECT_EQ(Message(d),
            "2 validation errors detected: Value null at 'encryptionType' failed to satisfy "
            "constraint: Member must not be null; Value null at 'keyId' failed to satisfy "
            "constraint: Member must not be null");
  d = Start("k1", "AES");
  EXPECT_EQ(type_, "ValidationException");
  EXPECT_EQ(Message(d),
            "1 validation error detected: Value 'AES' at 'encryptionType' failed to satisfy "
            "constraint: Member must satisfy enum value set: [NONE, KMS]");
  Start("k1", "NONE");
  EXPECT_EQ(type_, "InvalidArgumentException");
  Start("");
  EXPECT_EQ(type_, "ValidationException");
  Start(std::string(2049, 'k'));
  EXPECT_EQ(type_, "ValidationException");
  Call("StartStreamEncryption", R"({"StreamName":"nope","EncryptionType":"KMS","KeyId":"k1"})");
  EXPECT_EQ(type_, "ResourceNotFoundException");
  Call("StopStreamEncryption", R"({"StreamName":"s","EncryptionType":"KMS"})");
  EXPECT_EQ(type_, "ValidationException");
  EXPECT_EQ(Described(), "NONE");
}

TEST_F(KinesisEncryptionTest, RecordsSayTheStreamsEncryption) {
  Start("k2");
  ASSERT_EQ(status_, 200) << raw_;
  auto d = Call("PutRecord", R"({"StreamName":"s","Data":"c2VjcmV0","PartitionKey":"p"})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_STREQ(d["EncryptionType"].GetString(), "KMS");
  d = Call("PutRecords", R"({"StreamName":"s","Records":[{"Data":"dHdv","PartitionKey":"q"}]})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_STREQ(d["EncryptionType"].GetString(), "KMS");
  auto it = Call("GetShardIterator", R"({"StreamName":"s","ShardId":"shardId-000000000000",)"
                                     R"("ShardIteratorType":"TRIM_HORIZON"})");
  ASSERT_EQ(status_, 200) << raw_;
  std::string iterator = it["ShardIterator"].GetString();
  d = Call("GetRecords", R"({"ShardIterator":")" + iterator + "\"}");
  ASSERT_EQ(status_, 200) << raw_;
  ASSERT_EQ(d["Records"].Size(), 2u);
  EXPECT_STREQ(d["Records"][0]["Data"].GetString(), "c2VjcmV0");
  EXPECT_STREQ(d["Records"][0]["EncryptionType"].GetString(), "KMS");

  Call("StopStreamEncryption", R"({"StreamName":"s","EncryptionType":"KMS","KeyId":"any"})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_FALSE(Stored().enabled);
  EXPECT_EQ(Described(), "NONE");
  d = Call("PutRecord", R"({"StreamName":"s","Data":"cGxhaW4=","PartitionKey":"p"})");
  EXPECT_STREQ(d["EncryptionType"].GetString(), "NONE");
  d = Call("GetRecords", R"({"ShardIterator":")" + iterator + "\"}");
  ASSERT_EQ(d["Records"].Size(), 3u);
  for (const auto& r : d["Records"].GetArray()) EXPECT_FALSE(r.HasMember("EncryptionType"));
}

TEST_F(KinesisEncryptionTest, EncryptionSurvivesARestart) {
  Start("k1");
  ASSERT_EQ(status_, 200) << raw_;
  Call("PutRecord", R"({"StreamName":"s","Data":"c2VjcmV0","PartitionKey":"p"})");
  ASSERT_EQ(status_, 200) << raw_;
  Reopen();
  EXPECT_EQ(Described(), "KMS k1");
  auto it = Call("GetShardIterator", R"({"StreamName":"s","ShardId":"shardId-000000000000",)"
                                     R"("ShardIteratorType":"TRIM_HORIZON"})");
  auto d = Call("GetRecords",
                R"({"ShardIterator":")" + std::string(it["ShardIterator"].GetString()) + "\"}");
  ASSERT_EQ(status_, 200) << raw_;
  ASSERT_EQ(d["Records"].Size(), 1u);
  EXPECT_STREQ(d["Records"][0]["Data"].GetString(), "c2VjcmV0");
}

class KinesisNoKeyringTest : public ApiTest<KinesisApi> {};

TEST_F(KinesisNoKeyringTest, StartIsKmsOptInRequiredStopSucceeds) {
  Call("CreateStream", R"({"StreamName":"s","ShardCount":1})");
  ASSERT_EQ(status_, 200) << raw_;
  Call("StartStreamEncryption",
       R"({"StreamName":"s","EncryptionType":"KMS","KeyId":"alias/aws/kinesis"})");
  EXPECT_EQ(type_, "KMSOptInRequired");
  Call("StopStreamEncryption",
       R"({"StreamName":"s","EncryptionType":"KMS","KeyId":"alias/aws/kinesis"})");
  EXPECT_EQ(status_, 200) << raw_;
  auto d = Call("DescribeStreamSummary", R"({"StreamName":"s"})");
  EXPECT_STREQ(d["StreamDescriptionSummary"]["EncryptionType"].GetString(), "NONE");
  EXPECT_FALSE(d["StreamDescriptionSummary"].HasMember("KeyId"));
}

}  // namespace
}  // namespace sluice::broker::api
