// The kafka sink's configuration and pure decisions: keys, properties, delivery report errors.
#include "plugins/kafka/kafka_config.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::kafka {
namespace {

TEST(KafkaConfigTest, KeyOptionIsSourceNoneOrField) {
  KeyMode mode = KeyMode::kNone;
  std::string field;
  ASSERT_TRUE(ParseKeyOption("source", &mode, &field).ok());
  EXPECT_EQ(mode, KeyMode::kSource);
  ASSERT_TRUE(ParseKeyOption("", &mode, &field).ok());
  EXPECT_EQ(mode, KeyMode::kSource);
  ASSERT_TRUE(ParseKeyOption("none", &mode, &field).ok());
  EXPECT_EQ(mode, KeyMode::kNone);
  ASSERT_TRUE(ParseKeyOption("field:user.id", &mode, &field).ok());
  EXPECT_EQ(mode, KeyMode::kField);
  EXPECT_EQ(field, "user.id");
  for (const char* bad : {"random", "field:", "field:.a", "field:a.", "field:a..b", "Source"}) {
    Status st = ParseKeyOption(bad, &mode, &field);
    EXPECT_FALSE(st.ok()) << bad;
    EXPECT_NE(st.message().find("key"), std::string::npos) << st.message();
  }
}

TEST(KafkaConfigTest, KeyOfEachMode) {
  KafkaConfig c;
  std::string scratch;
  bool found = false, fallback = true;
  c.key_mode = KeyMode::kSource;
  EXPECT_EQ(KeyOf(c, "seq=1 user=u7", "u7", &scratch, &found, &fallback), "u7");
  EXPECT_TRUE(found);
  EXPECT_FALSE(fallback);

  c.key_mode = KeyMode::kNone;
  KeyOf(c, "seq=1 user=u7", "u7", &scratch, &found, &fallback);
  EXPECT_FALSE(found);

  c.key_mode = KeyMode::kField;
  c.key_field = "user.id";
  EXPECT_EQ(KeyOf(c, R"({"user":{"id":"alice"},"n":1})", "src", &scratch, &found, &fallback),
            "alice");
  EXPECT_TRUE(found);
  EXPECT_FALSE(fallback);
  EXPECT_EQ(KeyOf(c, R"({"user":{"id":42}})", "src", &scratch, &found, &fallback), "42");
  // Missing field, not an object, not JSON: the source key.
  for (const char* data : {R"({"user":{}})", R"({"user":"x"})", "[1,2]", "not json", ""}) {
    EXPECT_EQ(KeyOf(c, data, "src", &scratch, &found, &fallback), "src") << data;
    EXPECT_TRUE(found);
    EXPECT_TRUE(fallback) << data;
  }
}

TEST(KafkaConfigTest, PropertiesThatKeepTheGuaranteesAreAccepted) {
  EXPECT_TRUE(CheckProperty("security.protocol", "SASL_SSL").ok());
  EXPECT_TRUE(CheckProperty("sasl.password", "hunter2").ok());
  EXPECT_TRUE(CheckProperty("enable.idempotence", "true").ok());
  EXPECT_TRUE(CheckProperty("acks", "all").ok());
  EXPECT_TRUE(CheckProperty("acks", "-1").ok());
  EXPECT_TRUE(CheckProperty("request.required.acks", "ALL").ok());
  EXPECT_TRUE(CheckProperty("linger.ms", "20").ok());
  EXPECT_TRUE(CheckProperty("max.in.flight.requests.per.connection", "5").ok());
}

TEST(KafkaConfigTest, PropertiesThatBreakTheGuaranteesAreRefused) {
  struct Case {
    const char* name;
    const char* value;
    const char* says;
  } cases[] = {
      {"enable.idempotence", "false", "enable.idempotence"},
      {"Enable.Idempotence", "FALSE", "enable.idempotence"},
      {"acks", "1", "acks"},
      {"acks", "0", "acks"},
      {"request.required.acks", "1", "request.required.acks"},
      {"max.in.flight.requests.per.connection", "6", "1..5"},
      {"max.in.flight", "x", "1..5"},
      {"bootstrap.servers", "elsewhere:9092", "set by the sink"},
      {"compression.codec", "gzip", "set by the sink"},
      {"message.timeout.ms", "1", "set by the sink"},
      {"", "x", "no name"},
  };
  for (const Case& c : cases) {
    Status st = CheckProperty(c.name, c.value);
    EXPECT_FALSE(st.ok()) << c.name << "=" << c.value;
    EXPECT_NE(st.message().find(c.says), std::string::npos) << st.message();
  }
}

TEST(KafkaConfigTest, SecretsAreNeverInTheLog) {
  for (const char* name :
       {"sasl.password", "sasl.username", "sasl.mechanism", "sasl.oauthbearer.config",
        "sasl.oauthbearer.client.id", "sasl.oauthbearer.client.secret", "ssl.key.password",
        "SSL.Keystore.Password", "ssl.key.pem", "ssl_key.pem"}) {
    EXPECT_EQ(PropertyForLog(name, "v"), std::string(name) + "=<redacted>") << name;
  }
  for (const char* name : {"security.protocol", "linger.ms", "ssl.ca.location", "ssl.key.location",
                           "ssl.certificate.pem"}) {
    EXPECT_EQ(PropertyForLog(name, "v"), std::string(name) + "=v") << name;
  }
  EXPECT_EQ(PropertyForLog("linger.ms", "20"), "linger.ms=20");
  std::string logged = PropertyForLog("sasl.password", "hunter2");
  EXPECT_EQ(logged, "sasl.password=<redacted>");
  EXPECT_EQ(logged.find("hunter2"), std::string::npos);
}

TEST(KafkaConfigTest, DeliveryReportErrors) {
  EXPECT_EQ(ClassifyDeliveryError(RD_KAFKA_RESP_ERR_NO_ERROR), Verdict::kOk);
  // The record can never be taken: rejected, spilled with its reason.
  EXPECT_EQ(ClassifyDeliveryError(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE), Verdict::kReject);
  EXPECT_EQ(ClassifyDeliveryError(RD_KAFKA_RESP_ERR_INVALID_RECORD), Verdict::kReject);
  EXPECT_EQ(ClassifyDeliveryError(RD_KAFKA_RESP_ERR_INVALID_MSG), Verdict::kReject);
  // The cluster cannot take it now: retried.
  for (rd_kafka_resp_err_t e :
       {RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR__TRANSPORT,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR__PURGE_QUEUE,
        RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN}) {
    EXPECT_EQ(ClassifyDeliveryError(e), Verdict::kRetry) << rd_kafka_err2name(e);
  }
}

}  // namespace
}  // namespace sluice::kafka
