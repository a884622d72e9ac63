// Firehose destination configurations: the request -> `deliveries:` entry mapping (a table), the
// errors named after the request's members, the descriptions DescribeDeliveryStream writes, and
// the management operations of FirehoseApi over a real broker with a controller that keeps the
// states in memory (the daemon's, which also runs them, is tested end to end in
// tests/integration/firehose/destinations.test.mjs).
#include "broker/api/firehose_destinations.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "broker/api/firehose_api.h"
#include "broker/api/firehose_controller.h"
#include "tests/unit/broker_api/api_test_fixture.h"

namespace sluice::broker::api {
namespace {

// Translates `request` (a CreateDeliveryStream body); the entry, or "<type>: <message>".
std::string Translate(std::string request) {
  rapidjson::Document d;
  d.Parse(request.c_str());
  EXPECT_FALSE(d.HasParseError()) << request;
  FirehoseError error;
  const DestinationKind* kind = FindDestination(d, &error);
  if (kind == nullptr) return error.type.empty() ? "none" : error.type + ": " + error.message;
  std::string entry;
  if (!TranslateDestination("n", *kind, d[kind->member.data()], &entry, &error)) {
    return error.type + ": " + error.message;
  }
  return entry;
}

TEST(FirehoseDestinationsTest, RequestMapsToDeliveryEntry) {
  struct Case {
    const char* request;
    const char* entry;
  };
  const Case kCases[] = {
      {R"({"ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::logs",
          "RoleARN":"arn:aws:iam::000000000000:role/r"}})",
       R"({"name":"n","direct_put":true,"sink":{"type":"s3","bucket":"logs"}})"},
      {R"({"S3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::b","Prefix":"p/",
          "CompressionFormat":"GZIP","BufferingHints":{"SizeInMBs":1,"IntervalInSeconds":60}}})",
       R"({"name":"n","direct_put":true,"buffer":{"size":"1MiB","interval":"60s"},)"
       R"("compression":"gzip","sink":{"type":"s3","bucket":"b","prefix":"p/"}})"},
      {R"({"ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::b",
          "Prefix":"c=!{partitionKeyFromQuery:customer}/",
          "ErrorOutputPrefix":"err/!{firehose:error-output-type}/",
          "CompressionFormat":"HADOOP_SNAPPY",
          "ProcessingConfiguration":{"Enabled":true,"Processors":[
            {"Type":"MetadataExtraction","Parameters":[
              {"ParameterName":"MetadataExtractionQuery","ParameterValue":"{customer: .c.id}"},
              {"ParameterName":"JsonParsingEngine","ParameterValue":"JQ-1.6"}]},
            {"Type":"AppendDelimiterToRecord","Parameters":[]},
            {"Type":"Lambda","Parameters":[
              {"ParameterName":"LambdaArn","ParameterValue":"http://127.0.0.1:9/t"},
              {"ParameterName":"NumberOfRetries","ParameterValue":"2"}]}]},
          "DynamicPartitioningConfiguration":{"Enabled":true,"RetryOptions":{"DurationInSeconds":600}},
          "S3BackupMode":"Enabled",
          "S3BackupConfiguration":{"BucketARN":"arn:aws:s3:::bk","Prefix":"raw/"}}})",
       R"({"name":"n","direct_put":true,"compression":"hadoop_snappy","record_delimiter":"\n",)"
       R"("retry_duration":"600s","transform":{"http":"http://127.0.0.1:9/t","retries":"2"},)"
       R"("partitioning":{"keys":{"customer":".c.id"}},)"
       R"("backup":{"mode":"all","sink":{"type":"s3","bucket":"bk","prefix":"raw/"}},)"
       R"("sink":{"type":"s3","bucket":"b","prefix":"c=!{partitionKeyFromQuery:customer}/",)"
       R"("error_prefix":"err/!{firehose:error-output-type}/"}})"},
      {R"({"ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::b",
          "EncryptionConfiguration":{"KMSEncryptionConfig":{"AWSKMSKeyARN":"arn:k"}}}})",
       R"({"name":"n","direct_put":true,"sink":{"type":"s3","bucket":"b",)"
       R"("server_side_encryption":"aws:kms","kms_key_id":"arn:k"}})"},
      {R"({"HttpEndpointDestinationConfiguration":{
          "EndpointConfiguration":{"Url":"https://h.example/in","Name":"x","AccessKey":"k"},
          "RequestConfiguration":{"ContentEncoding":"GZIP",
            "CommonAttributes":[{"AttributeName":"env","AttributeValue":"prod"}]},
          "RetryOptions":{"DurationInSeconds":300},"S3BackupMode":"AllData",
          "S3Configuration":{"BucketARN":"arn:aws:s3:::bk"}}})",
       R"({"name":"n","direct_put":true,"retry_duration":"300s",)"
       R"("backup":{"mode":"all","sink":{"type":"s3","bucket":"bk"}},)"
       R"("sink":{"type":"http","url":"https://h.example/in","access_key":"k",)"
       R"("content_encoding":"gzip","common_attributes":{"env":"prod"}}})"},
      {R"({"SplunkDestinationConfiguration":{"HECEndpoint":"https://s:8088","HECToken":"t",
          "HECEndpointType":"Event","HECAcknowledgmentTimeoutInSeconds":300}})",
       R"({"name":"n","direct_put":true,"sink":{"type":"splunk","endpoint":"https://s:8088",)"
       R"("token":"t","endpoint_type":"event","ack_timeout":"300s"}})"},
      {R"({"AmazonopensearchserviceDestinationConfiguration":{"ClusterEndpoint":"https://o:9200",
          "IndexName":"logs","IndexRotationPeriod":"OneDay",
          "DocumentIdOptions":{"DefaultDocumentIdFormat":"NO_DOCUMENT_ID"}}})",
       R"({"name":"n","direct_put":true,"sink":{"type":"opensearch","endpoint":"https://o:9200",)"
       R"("index":"logs","index_rotation":"OneDay","document_id":"no_document_id"}})"},
      {R"({"RedshiftDestinationConfiguration":{
          "ClusterJDBCURL":"jdbc:redshift://c.example.com:5439/dev","Username":"u","Password":"p",
          "CopyCommand":{"DataTableName":"events","DataTableColumns":"a,b","CopyOptions":"JSON 'auto'"},
          "S3Configuration":{"BucketARN":"arn:aws:s3:::stage","Prefix":"r/"}}})",
       R"({"name":"n","direct_put":true,"sink":{"type":"redshift",)"
       R"("conninfo":"host=c.example.com port=5439 dbname=dev user=u","password":"p",)"
       R"("table":"events","columns":"a,b","copy_options":"JSON 'auto'","s3_bucket":"stage",)"
       R"("s3_prefix":"r/"}})"},
      {R"({"DeliveryStreamName":"n"})", "none"},
  };
  for (const Case& c : kCases) EXPECT_EQ(Translate(c.request), c.entry) << c.request;
}

TEST(FirehoseDestinationsTest, ErrorsNameTheMember) {
  struct Case {
    const char* request;
    const char* want;  // a prefix of "<type>: <message>"
  };
  const Case kCases[] = {
      {R"({"ExtendedS3DestinationConfiguration":{"Prefix":"p/"}})",
       "ValidationException: 1 validation error detected: Value null at "
       "'extendedS3DestinationConfiguration.bucketARN' failed to satisfy constraint: Member must "
       "not be null"},
      {R"({"ExtendedS3DestinationConfiguration":{"BucketARN":"logs"}})",
       "ValidationException: 1 validation error detected: Value 'logs' at "
       "'extendedS3DestinationConfiguration.bucketARN'"},
      {R"({"ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::b",
          "BufferingHints":{"SizeInMBs":0}}})",
       "ValidationException: 1 validation error detected: Value '0' at "
       "'extendedS3DestinationConfiguration.bufferingHints.sizeInMBs' failed to satisfy "
       "constraint: Member must have value greater than or equal to 1"},
      {R"({"ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::b",
          "BufferingHints":{"IntervalInSeconds":901}}})",
       "ValidationException: 1 validation error detected: Value '901' at "
       "'extendedS3DestinationConfiguration.bufferingHints.intervalInSeconds'"},
      {R"({"ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::b",
          "CompressionFormat":"BZIP2"}})",
       "ValidationException: 1 validation error detected: Value 'BZIP2' at "
       "'extendedS3DestinationConfiguration.compressionFormat'"},
      {R"({"ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::b",
          "ProcessingConfiguration":{"Enabled":true,"Processors":[{"Type":"Lambda","Parameters":[
          {"ParameterName":"LambdaArn","ParameterValue":"arn:aws:lambda:us-east-1:1:function:f"}]}]}}})",
       "InvalidArgumentException: ProcessingConfiguration.Processors[0] (Lambda): LambdaArn"},
      {R"({"ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::b",
          "ProcessingConfiguration":{"Enabled":true,"Processors":[{"Type":"Decompression"}]}}})",
       "InvalidArgumentException: ProcessingConfiguration.Processors[0]: processor type "
       "'Decompression' is not supported"},
      {R"({"ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::b",
          "DynamicPartitioningConfiguration":{"Enabled":true}}})",
       "InvalidArgumentException: DynamicPartitioningConfiguration: Enabled needs a "
       "MetadataExtraction processor"},
      {R"({"ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::b",
          "DynamicPartitioningConfiguration":{"Enabled":true},
          "ProcessingConfiguration":{"Processors":[{"Type":"MetadataExtraction","Parameters":[
          {"ParameterName":"MetadataExtractionQuery","ParameterValue":".a | tostring"}]}]}}})",
       "InvalidArgumentException: ProcessingConfiguration.Processors[0] (MetadataExtraction): "
       "MetadataExtractionQuery '.a | tostring' is not of the form"},
      {R"({"ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::b"},
          "S3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::b"}})",
       "InvalidArgumentException: Give only one destination configuration."},
      {R"({"ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::b",
          "DataFormatConversionConfiguration":{"Enabled":true}}})",
       "InvalidArgumentException: DataFormatConversionConfiguration: record format conversion"},
      {R"({"ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::b",
          "CustomTimeZone":"Europe/Paris"}})",
       "InvalidArgumentException: CustomTimeZone: prefixes are evaluated in UTC only"},
      {R"({"SnowflakeDestinationConfiguration":{}})",
       "InvalidArgumentException: SnowflakeDestinationConfiguration is not supported"},
      {R"({"HttpEndpointDestinationConfiguration":{"EndpointConfiguration":{}}})",
       "ValidationException: 1 validation error detected: Value null at "
       "'httpEndpointDestinationConfiguration.endpointConfiguration.url'"},
      {R"({"RedshiftDestinationConfiguration":{"ClusterJDBCURL":"postgres://x",
          "CopyCommand":{"DataTableName":"t"}}})",
       "ValidationException: 1 validation error detected: Value 'postgres://x' at "
       "'redshiftDestinationConfiguration.clusterJDBCURL'"},
  };
  for (const Case& c : kCases) {
    std::string got = Translate(c.request);
    EXPECT_EQ(got.substr(0, std::string_view(c.want).size()), c.want) << got;
  }
}

std::string Describe(const char* destination) {
  rapidjson::Document d;
  d.Parse(destination);
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  WriteDestinationDescription(d, &w);
  w.EndObject();
  return sb.GetString();
}

TEST(FirehoseDestinationsTest, DescriptionsAreAwsShaped) {
  EXPECT_EQ(Describe(R"({"ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::b",)"
                     R"("Prefix":"p/","BufferingHints":{"SizeInMBs":1}}})"),
            R"({"ExtendedS3DestinationDescription":{"S3BackupMode":"Disabled",)"
            R"("ProcessingConfiguration":{"Enabled":false,"Processors":[]},)"
            R"("DynamicPartitioningConfiguration":{"Enabled":false},)"
            R"("BufferingHints":{"SizeInMBs":1,"IntervalInSeconds":300},)"
            R"("CompressionFormat":"UNCOMPRESSED",)"
            R"("EncryptionConfiguration":{"NoEncryptionConfig":"NoEncryption"},)"
            R"("CloudWatchLoggingOptions":{"Enabled":false},"BucketARN":"arn:aws:s3:::b",)"
            R"("Prefix":"p/"}})");
  std::string http = Describe(
      R"({"HttpEndpointDestinationConfiguration":{"EndpointConfiguration":{"Url":"https://h",)"
      R"("AccessKey":"secret"},"S3Configuration":{"BucketARN":"arn:aws:s3:::bk"}}})");
  EXPECT_EQ(http.find("secret"), std::string::npos) << http;
  EXPECT_NE(http.find(R"("HttpEndpointDestinationDescription":{)"), std::string::npos) << http;
  EXPECT_NE(http.find(R"("S3DestinationDescription":{"BufferingHints")"), std::string::npos)
      << http;
  std::string s3 = Describe(R"({"S3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::b"}})");
  EXPECT_NE(s3.find("\"S3DestinationDescription\""), std::string::npos) << s3;
  EXPECT_NE(s3.find("\"ExtendedS3DestinationDescription\""), std::string::npos) << s3;
}

// Keeps states in memory and refuses a destination whose bucket is "refused" (as the daemon
// refuses one that does not make a valid delivery).
class MemoryController final : public DeliveryController {
 public:
  Status Apply(const FirehoseStreamState& state, bool restart) override {
    if (state.destination.find("arn:aws:s3:::refused") != std::string::npos) {
      return InvalidArgument("BucketARN (sink.bucket): refused");
    }
    states[state.name] = state;
    if (restart) ++restarts;
    return Status::Ok();
  }
  Status Remove(std::string_view name) override {
    return states.erase(std::string(name)) ? Status::Ok() : NotFound("no state");
  }
  std::optional<FirehoseStreamState> Get(std::string_view name) override {
    auto it = states.find(std::string(name));
    if (it == states.end()) return std::nullopt;
    return it->second;
  }
  Result<std::string> ConfiguredDestination(std::string_view name) override {
    if (name != "configured") return NotFound("not configured");
    return std::string(R"({"ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::y"}})");
  }
  std::map<std::string, FirehoseStreamState> states;
  int restarts = 0;
};

class FirehoseManageTest : public ApiTest<FirehoseApi> {
 protected:
  void Configure(ApiOptions& ao) override {
    ao.delivery_controller = &controller_;
    ao.firehose_deliveries = {{"configured", ""}};
    ASSERT_TRUE(OpenDirectPutStream(broker_.get(), "configured", 1).ok());
  }
  rapidjson::Document Describe(const std::string& name) {
    return Call("DescribeDeliveryStream", R"({"DeliveryStreamName":")" + name + "\"}");
  }

  MemoryController controller_;
};

constexpr const char* kCreate =
    R"({"DeliveryStreamName":"made","DeliveryStreamType":"DirectPut",
        "ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::b","Prefix":"one/",
          "RoleARN":"arn:aws:iam::000000000000:role/r"},
        "Tags":[{"Key":"team","Value":"logs"}]})";

TEST_F(FirehoseManageTest, CreateDescribeUpdate) {
  Call("CreateDeliveryStream", kCreate);
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(controller_.restarts, 1);
  auto d = Describe("made");
  ASSERT_EQ(status_, 200) << raw_;
  const auto& desc = d["DeliveryStreamDescription"];
  EXPECT_STREQ(desc["VersionId"].GetString(), "1");
  EXPECT_DOUBLE_EQ(desc["CreateTimestamp"].GetDouble(), 1'700'000'000.0);
  EXPECT_STREQ(desc["DeliveryStreamEncryptionConfiguration"]["Status"].GetString(), "DISABLED");
  const auto& dest = desc["Destinations"][0];
  EXPECT_STREQ(dest["DestinationId"].GetString(), "destinationId-000000000001");
  EXPECT_STREQ(dest["ExtendedS3DestinationDescription"]["Prefix"].GetString(), "one/");
  EXPECT_STREQ(dest["ExtendedS3DestinationDescription"]["RoleARN"].GetString(),
               "arn:aws:iam::000000000000:role/r");

  const std::string update =
      R"({"DeliveryStreamName":"made","DestinationId":"destinationId-000000000001",
          "ExtendedS3DestinationUpdate":{"Prefix":"two/"},"CurrentDeliveryStreamVersionId":")";
  Call("UpdateDestination", update + "7\"}");
  EXPECT_EQ(type_, "ConcurrentModificationException") << raw_;
  clock_.Advance(5000);
  Call("UpdateDestination", update + "1\"}");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(controller_.restarts, 2);
  d = Describe("made");
  const auto& after = d["DeliveryStreamDescription"];
  EXPECT_STREQ(after["VersionId"].GetString(), "2");
  EXPECT_DOUBLE_EQ(after["LastUpdateTimestamp"].GetDouble(), 1'700'000'005.0);
  const auto& s3 = after["Destinations"][0]["ExtendedS3DestinationDescription"];
  EXPECT_STREQ(s3["Prefix"].GetString(), "two/");
  EXPECT_STREQ(s3["BucketARN"].GetString(), "arn:aws:s3:::b");  // kept by the update
  // The same version again is stale now.
  Call("UpdateDestination", update + "1\"}");
  EXPECT_EQ(type_, "ConcurrentModificationException") << raw_;
}

TEST_F(FirehoseManageTest, UpdatesNameNestedS3MembersAsUpdatesAndMaySwitchSinks) {
  Call("CreateDeliveryStream",
       R"({"DeliveryStreamName":"h","HttpEndpointDestinationConfiguration":{
           "EndpointConfiguration":{"Url":"https://h.example/in"},
           "S3Configuration":{"BucketARN":"arn:aws:s3:::bk","Prefix":"a/"}}})");
  ASSERT_EQ(status_, 200) << raw_;
  const std::string head =
      R"({"DeliveryStreamName":"h","DestinationId":"destinationId-000000000001",)";
  Call("UpdateDestination", head + R"("CurrentDeliveryStreamVersionId":"1",
       "HttpEndpointDestinationUpdate":{"S3Update":{"Prefix":"b/"}}})");
  ASSERT_EQ(status_, 200) << raw_;
  auto d = Describe("h");
  const auto& http =
      d["DeliveryStreamDescription"]["Destinations"][0]["HttpEndpointDestinationDescription"];
  EXPECT_STREQ(http["S3DestinationDescription"]["Prefix"].GetString(), "b/");
  EXPECT_STREQ(http["S3DestinationDescription"]["BucketARN"].GetString(), "arn:aws:s3:::bk");
  EXPECT_STREQ(http["EndpointConfiguration"]["Url"].GetString(), "https://h.example/in");
  // Another sink: the update is the whole configuration.
  Call("UpdateDestination", head + R"("CurrentDeliveryStreamVersionId":"2",
       "ExtendedS3DestinationUpdate":{"BucketARN":"arn:aws:s3:::new"}})");
  ASSERT_EQ(status_, 200) << raw_;
  d = Describe("h");
  const auto& dest = d["DeliveryStreamDescription"]["Destinations"][0];
  EXPECT_FALSE(dest.HasMember("HttpEndpointDestinationDescription"));
  EXPECT_STREQ(dest["ExtendedS3DestinationDescription"]["BucketARN"].GetString(),
               "arn:aws:s3:::new");
  EXPECT_STREQ(d["DeliveryStreamDescription"]["VersionId"].GetString(), "3");
  // An update that does not make a valid destination changes nothing.
  Call("UpdateDestination", head + R"("CurrentDeliveryStreamVersionId":"3",
       "ExtendedS3DestinationUpdate":{"CompressionFormat":"BZIP2"}})");
  EXPECT_EQ(type_, "ValidationException") << raw_;
  d = Describe("h");
  EXPECT_STREQ(d["DeliveryStreamDescription"]["VersionId"].GetString(), "3");
}

TEST_F(FirehoseManageTest, RefusedDestinationCreatesNothing) {
  std::string body = kCreate;
  body.replace(body.find("arn:aws:s3:::b"), 14, "arn:aws:s3:::refused");
  auto d = Call("CreateDeliveryStream", body);
  EXPECT_EQ(type_, "InvalidArgumentException") << raw_;
  EXPECT_NE(std::string(d["message"].GetString()).find("BucketARN"), std::string::npos);
  Describe("made");
  EXPECT_EQ(type_, "ResourceNotFoundException");
  Call("CreateDeliveryStream",
       R"({"DeliveryStreamName":"made","ExtendedS3DestinationConfiguration":{}})");
  EXPECT_EQ(type_, "ValidationException") << raw_;
}

TEST_F(FirehoseManageTest, ConfiguredStreamsAreDescribedAndReadOnly) {
  auto d = Describe("configured");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_STREQ(d["DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"]
                ["BucketARN"]
                    .GetString(),
               "arn:aws:s3:::y");
  Call("UpdateDestination",
       R"({"DeliveryStreamName":"configured","DestinationId":"destinationId-000000000001",
           "CurrentDeliveryStreamVersionId":"1","ExtendedS3DestinationUpdate":{"Prefix":"x/"}})");
  EXPECT_EQ(type_, "ResourceInUseException") << raw_;
  // Tags and encryption state are kept for them too.
  Call("TagDeliveryStream", R"({"DeliveryStreamName":"configured","Tags":[{"Key":"a"}]})");
  EXPECT_EQ(status_, 200) << raw_;
  EXPECT_FALSE(controller_.states.at("configured").api_created);
  EXPECT_EQ(controller_.restarts, 0);
}

TEST_F(FirehoseManageTest, TagsAndTheirLimits) {
  Call("CreateDeliveryStream", kCreate);
  ASSERT_EQ(status_, 200) << raw_;
  std::string tags;
  for (int i = 0; i < 49; ++i) {
    tags += std::string(i ? "," : "") + R"({"Key":"k)" + std::to_string(i) + R"(","Value":"v"})";
  }
  Call("TagDeliveryStream", R"({"DeliveryStreamName":"made","Tags":[)" + tags + "]}");
  ASSERT_EQ(status_, 200) << raw_;  // 1 + 49 = 50
  Call("TagDeliveryStream", R"({"DeliveryStreamName":"made","Tags":[{"Key":"one-more"}]})");
  EXPECT_EQ(type_, "LimitExceededException") << raw_;
  Call("TagDeliveryStream",
       R"({"DeliveryStreamName":"made","Tags":[{"Key":")" + std::string(129, 'k') + "\"}]}");
  EXPECT_EQ(type_, "ValidationException") << raw_;
  Call("TagDeliveryStream", R"({"DeliveryStreamName":"made","Tags":[{"Key":"aws:x"}]})");
  EXPECT_EQ(type_, "InvalidArgumentException") << raw_;
  Call("UntagDeliveryStream", R"({"DeliveryStreamName":"made","TagKeys":["team","k0"]})");
  ASSERT_EQ(status_, 200) << raw_;
  auto d = Call("ListTagsForDeliveryStream", R"({"DeliveryStreamName":"made","Limit":2})");
  ASSERT_EQ(status_, 200) << raw_;
  ASSERT_EQ(d["Tags"].Size(), 2u);
  EXPECT_STREQ(d["Tags"][0]["Key"].GetString(), "k1");
  EXPECT_STREQ(d["Tags"][1]["Key"].GetString(), "k10");
  EXPECT_TRUE(d["HasMoreTags"].GetBool());
  EXPECT_EQ(controller_.states.at("made").tags.size(), 48u);
}

TEST_F(FirehoseManageTest, EncryptionStateIsRecorded) {
  Call("CreateDeliveryStream", kCreate);
  Call("StartDeliveryStreamEncryption",
       R"({"DeliveryStreamName":"made","DeliveryStreamEncryptionConfigurationInput":
           {"KeyType":"CUSTOMER_MANAGED_CMK","KeyARN":"arn:k"}})");
  EXPECT_EQ(type_, "InvalidArgumentException") << raw_;
  Call("StartDeliveryStreamEncryption", R"({"DeliveryStreamName":"made"})");
  ASSERT_EQ(status_, 200) << raw_;
  auto d = Describe("made");
  const auto& enc = d["DeliveryStreamDescription"]["DeliveryStreamEncryptionConfiguration"];
  EXPECT_STREQ(enc["Status"].GetString(), "ENABLED");
  EXPECT_STREQ(enc["KeyType"].GetString(), "AWS_OWNED_CMK");
  Call("StopDeliveryStreamEncryption", R"({"DeliveryStreamName":"made"})");
  d = Describe("made");
  EXPECT_STREQ(
      d["DeliveryStreamDescription"]["DeliveryStreamEncryptionConfiguration"]["Status"].GetString(),
      "DISABLED");
  Call("StartDeliveryStreamEncryption", R"({"DeliveryStreamName":"absent"})");
  EXPECT_EQ(type_, "ResourceNotFoundException") << raw_;
}

TEST_F(FirehoseManageTest, DeleteForgetsTheState) {
  Call("CreateDeliveryStream", kCreate);
  ASSERT_EQ(controller_.states.count("made"), 1u);
  Call("DeleteDeliveryStream", R"({"DeliveryStreamName":"made"})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(controller_.states.count("made"), 0u);
  EXPECT_FALSE(broker_->GetStream(DirectPutStreamName("made")).ok());
}

TEST(FirehoseStreamStateTest, RoundTrips) {
  FirehoseStreamState s;
  s.name = "n";
  s.destination = R"({"S3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::b"}})";
  s.version = 3;
  s.created_ms = 5;
  s.updated_ms = 7;
  s.tags = {{"a", "1"}, {"b", ""}};
  s.encrypted = true;
  s.api_created = false;
  auto back = ParseStreamState(SerializeStreamState(s));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->name, "n");
  EXPECT_EQ(back->destination, s.destination);
  EXPECT_EQ(back->version, 3);
  EXPECT_EQ(back->created_ms, 5);
  EXPECT_EQ(back->updated_ms, 7);
  EXPECT_EQ(back->tags, s.tags);
  EXPECT_TRUE(back->encrypted);
  EXPECT_FALSE(back->api_created);
  EXPECT_FALSE(ParseStreamState("{").ok());
}

}  // namespace
}  // namespace sluice::broker::api
