// Firehose destination configurations: the request -> `deliveries:` entry mapping (a table), the
// errors named after the request's members, the descriptions DescribeDeliveryStream writes, and
// the management operations of FirehoseApi over a real broker with a controller that keeps the
// states in memory (the daemon's, which also runs them, is tested end to end in
// tests/integration/firehose/destinations.test.mjs), and server-side encryption over a broker with
// a keyring and one without.
#include "broker/api/firehose_destinations.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "broker/api/firehose_api.h"
#include "broker/api/firehose_controller.h"
#include "core/base64.h"
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
    if (unavailable) return Unavailable("state not saved");
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
  bool unavailable = false;  // every Apply fails as a state that cannot be saved
};

constexpr char kKeys[] =
    "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    "k2 ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\n";

// A broker with a keyring (k1, then k2: the primary), the configured DirectPut delivery stream
// "configured" and the configured KinesisStreamAsSource one "reader".
class FirehoseManageTest : public ApiTest<FirehoseApi> {
 protected:
  void SetUp() override {
    if (with_keyring_) {
      auto ring = Keyring::Parse(kKeys, "test keyring");
      ASSERT_TRUE(ring.ok()) << ring.status().message();
      keyring_ = std::make_shared<const Keyring>(std::move(*ring));
    }
    ApiTest::SetUp();
  }
  void ConfigureBroker(BrokerOptions& options) override { options.keyring = keyring_; }
  void Configure(ApiOptions& ao) override {
    ao.delivery_controller = &controller_;
    ao.firehose_deliveries = {{"configured", ""}, {"reader", "source"}};
    ASSERT_TRUE(OpenDirectPutStream(broker_.get(), "configured", 1).ok());
  }
  rapidjson::Document Describe(const std::string& name) {
    return Call("DescribeDeliveryStream", R"({"DeliveryStreamName":")" + name + "\"}");
  }
  // DeliveryStreamEncryptionConfiguration as "<Status> <KeyType> <KeyARN>", present parts only.
  std::string DescribedEncryption(const std::string& name) {
    auto d = Describe(name);
    EXPECT_EQ(status_, 200) << raw_;
    if (status_ != 200) return "";
    const auto& e = d["DeliveryStreamDescription"]["DeliveryStreamEncryptionConfiguration"];
    std::string out = e["Status"].GetString();
    for (const char* k : {"KeyType", "KeyARN"}) {
      if (e.HasMember(k)) out += std::string(" ") + e[k].GetString();
    }
    return out;
  }
  // The encryption of the broker stream that holds `name`'s records.
  StreamEncryption StreamEncryptionOf(const std::string& name) {
    auto s = broker_->GetStream(DirectPutStreamName(name));
    EXPECT_TRUE(s.ok()) << name;
    return s.ok() ? (*s)->options().encryption : StreamEncryption{};
  }
  rapidjson::Document Start(const std::string& name, const std::string& input = "") {
    return Call(
        "StartDeliveryStreamEncryption",
        R"({"DeliveryStreamName":")" + name + "\"" +
            (input.empty() ? "" : ",\"DeliveryStreamEncryptionConfigurationInput\":" + input) +
            "}");
  }
  // Puts records "<marker>-<n>" into `name`; whether the answer says they were encrypted.
  bool Put(const std::string& name, const std::string& marker) {
    std::string body = R"({"DeliveryStreamName":")" + name + R"(","Records":[)";
    for (int i = 0; i < 50; ++i) {
      body += std::string(i ? "," : "") + R"({"Data":")" +
              Base64Encode(marker + "-" + std::to_string(i) + "\n") + "\"}";
    }
    auto d = Call("PutRecordBatch", body + "]}");
    EXPECT_EQ(status_, 200) << raw_;
    EXPECT_EQ(status_ == 200 ? d["FailedPutCount"].GetInt() : -1, 0);
    return status_ == 200 && d["Encrypted"].GetBool();
  }
  // The records of `name`'s broker stream, as read back.
  std::vector<std::string> Records(const std::string& name) {
    std::vector<std::string> out;
    auto s = broker_->GetStream(DirectPutStreamName(name));
    if (!s.ok()) return out;
    for (const ShardInfo& shard : (*s)->ListShards()) {
      ReadBatch rb;
      EXPECT_TRUE((*s)->Read(shard.index, 0, ReadLimits{}, &rb).ok());
      for (const RecordView& r : rb.records) out.emplace_back(r.data);
    }
    return out;
  }
  // The files under the broker's directory whose bytes hold `needle`.
  std::vector<std::string> FilesHolding(const std::string& needle) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_)) {
      if (!e.is_regular_file()) continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (bytes.find(needle) != std::string::npos) out.push_back(e.path().string());
    }
    return out;
  }

  bool with_keyring_ = true;
  std::shared_ptr<const Keyring> keyring_;
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

TEST_F(FirehoseManageTest, EncryptionSealsTheRecordsAtRest) {
  Call("CreateDeliveryStream", kCreate);
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_FALSE(Put("made", "plain-marker"));
  // The search finds records stored in clear.
  EXPECT_FALSE(FilesHolding("plain-marker-7").empty());
  EXPECT_EQ(DescribedEncryption("made"), "DISABLED");

  Start("made");  // no input: AWS_OWNED_CMK, the keyring's primary
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(raw_, "{}");
  EXPECT_TRUE(StreamEncryptionOf("made").enabled);
  EXPECT_EQ(StreamEncryptionOf("made").key_id, "");  // follows the primary through a rotation
  EXPECT_TRUE(controller_.states.at("made").encrypted);
  EXPECT_EQ(DescribedEncryption("made"), "ENABLED AWS_OWNED_CMK");
  EXPECT_TRUE(Put("made", "secret-marker"));
  EXPECT_EQ(FilesHolding("secret-marker"), std::vector<std::string>{});
  std::vector<std::string> records = Records("made");
  ASSERT_EQ(records.size(), 100u);
  EXPECT_EQ(records[50], "secret-marker-0\n");
  EXPECT_EQ(records[99], "secret-marker-49\n");

  // A customer managed key by ARN, alias ARN too; the form given is described.
  Start("made", R"({"KeyType":"CUSTOMER_MANAGED_CMK",
                    "KeyARN":"arn:aws:kms:us-east-1:000000000000:key/k1"})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(StreamEncryptionOf("made").key_id, "k1");
  EXPECT_EQ(DescribedEncryption("made"),
            "ENABLED CUSTOMER_MANAGED_CMK arn:aws:kms:us-east-1:000000000000:key/k1");
  Start("made", R"({"KeyType":"CUSTOMER_MANAGED_CMK",
                    "KeyARN":"arn:aws:kms:us-east-1:000000000000:alias/k2"})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(StreamEncryptionOf("made").key_id, "k2");
  EXPECT_EQ(controller_.states.at("made").key_arn, "arn:aws:kms:us-east-1:000000000000:alias/k2");
  EXPECT_EQ(DescribedEncryption("made"),
            "ENABLED CUSTOMER_MANAGED_CMK arn:aws:kms:us-east-1:000000000000:alias/k2");
  EXPECT_TRUE(Put("made", "other-secret"));
  EXPECT_EQ(FilesHolding("other-secret"), std::vector<std::string>{});

  // Kept across a restart: the stream's in its stream.json, the state by the controller.
  Reopen();
  EXPECT_EQ(StreamEncryptionOf("made").key_id, "k2");
  EXPECT_EQ(DescribedEncryption("made"),
            "ENABLED CUSTOMER_MANAGED_CMK arn:aws:kms:us-east-1:000000000000:alias/k2");
  EXPECT_EQ(Records("made").size(), 150u);

  Call("StopDeliveryStreamEncryption", R"({"DeliveryStreamName":"made"})");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_FALSE(StreamEncryptionOf("made").enabled);
  EXPECT_FALSE(controller_.states.at("made").encrypted);
  EXPECT_EQ(DescribedEncryption("made"), "DISABLED");
  EXPECT_FALSE(Put("made", "clear-again"));

  // A configured DirectPut delivery stream's records are sealed the same way.
  Start("configured");
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_TRUE(Put("configured", "configured-secret"));
  EXPECT_EQ(FilesHolding("configured-secret"), std::vector<std::string>{});
  EXPECT_EQ(DescribedEncryption("configured"), "ENABLED AWS_OWNED_CMK");

  Start("absent");
  EXPECT_EQ(type_, "ResourceNotFoundException") << raw_;
}

TEST_F(FirehoseManageTest, EncryptionRequestsAreCheckedAsFirehoseChecksThem) {
  Call("CreateDeliveryStream", kCreate);
  ASSERT_EQ(status_, 200) << raw_;
  struct Case {
    const char* input;
    const char* type;
    const char* message;  // a part of it
  };
  const Case kCases[] = {
      {R"({})", "ValidationException",
       "Value null at 'deliveryStreamEncryptionConfigurationInput.keyType' failed to satisfy "
       "constraint: Member must not be null"},
      {R"({"KeyType":"KMS"})", "ValidationException",
       "Member must satisfy enum value set: [AWS_OWNED_CMK, CUSTOMER_MANAGED_CMK]"},
      {R"({"KeyType":"CUSTOMER_MANAGED_CMK","KeyARN":"arn:k"})", "ValidationException",
       "Value 'arn:k' at 'deliveryStreamEncryptionConfigurationInput.keyARN' failed to satisfy "
       "constraint: Member must satisfy regular expression pattern"},
      {R"({"KeyType":"CUSTOMER_MANAGED_CMK","KeyARN":"arn:aws:s3:::bucket"})",
       "ValidationException", "keyARN"},
      {R"({"KeyType":"CUSTOMER_MANAGED_CMK"})", "InvalidArgumentException",
       "KeyARN is required when KeyType is CUSTOMER_MANAGED_CMK"},
      {R"({"KeyType":"AWS_OWNED_CMK","KeyARN":"arn:aws:kms:us-east-1:000000000000:key/k1"})",
       "InvalidArgumentException", "KeyARN must not be given when KeyType is AWS_OWNED_CMK"},
      {R"({"KeyType":"CUSTOMER_MANAGED_CMK","KeyARN":"arn:aws:kms:us-east-1:000000000000:key/k9"})",
       "InvalidKMSResourceException",
       "Key 'arn:aws:kms:us-east-1:000000000000:key/k9' does not exist"},
      {R"({"KeyType":"CUSTOMER_MANAGED_CMK",
           "KeyARN":"arn:aws:kms:us-east-1:000000000000:alias/nine"})",
       "InvalidKMSResourceException",
       "Alias arn:aws:kms:us-east-1:000000000000:alias/nine is not found."},
      {R"("AWS_OWNED_CMK")", "SerializationException",
       "DeliveryStreamEncryptionConfigurationInput"},
  };
  for (const Case& k : kCases) {
    auto d = Start("made", k.input);
    EXPECT_EQ(type_, k.type) << k.input << ": " << raw_;
    EXPECT_NE(Message(d).find(k.message), std::string::npos) << k.input << ": " << raw_;
    // A refused request changes nothing.
    EXPECT_FALSE(StreamEncryptionOf("made").enabled) << k.input;
    EXPECT_FALSE(controller_.states.at("made").encrypted) << k.input;
  }

  // A state that cannot be saved leaves the stream as it was.
  controller_.unavailable = true;
  Start("made");
  EXPECT_EQ(type_, "ServiceUnavailableException") << raw_;
  EXPECT_FALSE(StreamEncryptionOf("made").enabled);
  controller_.unavailable = false;

  // A delivery stream reading a stream keeps no records of its own.
  for (const char* op : {"StartDeliveryStreamEncryption", "StopDeliveryStreamEncryption"}) {
    auto d = Call(op, R"({"DeliveryStreamName":"reader"})");
    EXPECT_EQ(type_, "InvalidArgumentException") << op << ": " << raw_;
    EXPECT_NE(Message(d).find("KinesisStreamAsSource"), std::string::npos) << raw_;
    EXPECT_NE(Message(d).find("stream source"), std::string::npos) << raw_;
  }
  EXPECT_EQ(DescribedEncryption("reader"), "DISABLED");
}

TEST_F(FirehoseManageTest, CreateWithEncryptionSealsFromTheFirstRecord) {
  std::string body = kCreate;
  body.insert(body.rfind('}'),
              R"(,"DeliveryStreamEncryptionConfigurationInput":{"KeyType":"CUSTOMER_MANAGED_CMK",
                  "KeyARN":"arn:aws:kms:us-east-1:000000000000:key/k1"})");
  Call("CreateDeliveryStream", body);
  ASSERT_EQ(status_, 200) << raw_;
  EXPECT_EQ(controller_.restarts, 1);
  EXPECT_TRUE(StreamEncryptionOf("made").enabled);
  EXPECT_EQ(StreamEncryptionOf("made").key_id, "k1");
  EXPECT_TRUE(controller_.states.at("made").encrypted);
  EXPECT_EQ(DescribedEncryption("made"),
            "ENABLED CUSTOMER_MANAGED_CMK arn:aws:kms:us-east-1:000000000000:key/k1");
  EXPECT_TRUE(Put("made", "first-secret"));
  EXPECT_EQ(FilesHolding("first-secret"), std::vector<std::string>{});
  EXPECT_EQ(Records("made").size(), 50u);

  // A key the keyring lacks creates nothing.
  std::string unknown = body;
  unknown.replace(unknown.find("\"made\""), 6, "\"other\"");
  unknown.replace(unknown.find("key/k1"), 6, "key/k9");
  Call("CreateDeliveryStream", unknown);
  EXPECT_EQ(type_, "InvalidKMSResourceException") << raw_;
  EXPECT_EQ(controller_.states.count("other"), 0u);
  EXPECT_FALSE(broker_->GetStream(DirectPutStreamName("other")).ok());
  // Nor does a destination the controller refuses, encrypted or not.
  std::string refused = body;
  refused.replace(refused.find("\"made\""), 6, "\"other\"");
  refused.replace(refused.find("arn:aws:s3:::b"), 14, "arn:aws:s3:::refused");
  Call("CreateDeliveryStream", refused);
  EXPECT_EQ(type_, "InvalidArgumentException") << raw_;
  EXPECT_FALSE(broker_->GetStream(DirectPutStreamName("other")).ok());
  Describe("other");
  EXPECT_EQ(type_, "ResourceNotFoundException") << raw_;
}

class FirehoseNoKeyringTest : public FirehoseManageTest {
 protected:
  FirehoseNoKeyringTest() { with_keyring_ = false; }
};

TEST_F(FirehoseNoKeyringTest, EncryptionIsInvalidKmsResourceAndChangesNothing) {
  Call("CreateDeliveryStream", kCreate);
  ASSERT_EQ(status_, 200) << raw_;
  auto d = Start("made");
  EXPECT_EQ(type_, "InvalidKMSResourceException") << raw_;
  EXPECT_EQ(status_, 400);
  EXPECT_NE(Message(d).find("broker.encryption.keyring"), std::string::npos) << raw_;
  EXPECT_FALSE(StreamEncryptionOf("made").enabled);
  EXPECT_FALSE(controller_.states.at("made").encrypted);
  EXPECT_EQ(DescribedEncryption("made"), "DISABLED");
  EXPECT_FALSE(Put("made", "clear"));
  // Stopping needs no key.
  Call("StopDeliveryStreamEncryption", R"({"DeliveryStreamName":"made"})");
  EXPECT_EQ(status_, 200) << raw_;

  std::string body = kCreate;
  body.replace(body.find("\"made\""), 6, "\"sealed\"");
  body.insert(body.rfind('}'),
              R"(,"DeliveryStreamEncryptionConfigurationInput":{"KeyType":"AWS_OWNED_CMK"})");
  d = Call("CreateDeliveryStream", body);
  EXPECT_EQ(type_, "InvalidKMSResourceException") << raw_;
  EXPECT_NE(Message(d).find("broker.encryption.keyring"), std::string::npos) << raw_;
  EXPECT_EQ(controller_.states.count("sealed"), 0u);
  EXPECT_EQ(controller_.restarts, 1);  // no delivery was started for it
  Describe("sealed");
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
  s.key_arn = "arn:aws:kms:us-east-1:000000000000:alias/k1";
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
  EXPECT_EQ(back->key_arn, s.key_arn);
  EXPECT_FALSE(back->api_created);
  EXPECT_FALSE(ParseStreamState("{").ok());
}

}  // namespace
}  // namespace sluice::broker::api
