// The firehose sink's PutRecordBatch protocol.
#include "plugins/firehose/firehose_protocol.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "core/base64.h"
#include "core/json.h"

namespace sluice::firehose {
namespace {

std::vector<BatchEntry> Entries(const std::vector<std::string>& data) {
  std::vector<BatchEntry> e;
  for (size_t i = 0; i < data.size(); ++i) e.push_back({i, data[i]});
  return e;
}

TEST(FirehoseProtocolTest, CallsHoldAtMost500RecordsAnd4MiB) {
  std::vector<std::string> small(1001, "x");
  auto calls = PlanCalls(Entries(small), true);
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].count, 500u);
  EXPECT_EQ(calls[2].count, 1u);
  // Four records of 1,000 KiB less the newline fill 4,000 KiB: one call; a fifth needs another.
  std::vector<std::string> big(5, std::string(kMaxRecordBytes - 1, 'b'));
  calls = PlanCalls(Entries(big), true);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].count, 4u);
}

TEST(FirehoseProtocolTest, RecordsOver1000KiBAreNamed) {
  EXPECT_TRUE(CheckRecord(std::string(kMaxRecordBytes - 1, 'x'), true).ok());
  EXPECT_TRUE(CheckRecord(std::string(kMaxRecordBytes, 'x'), false).ok());
  Status st = CheckRecord(std::string(kMaxRecordBytes, 'x'), true);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("1024001 bytes"), std::string::npos) << st.message();
}

TEST(FirehoseProtocolTest, TheBodyCarriesEachRecordWithItsNewline) {
  // Lengths 0..7 cover every remainder of the base64 groups.
  std::vector<std::string> data;
  for (int n = 0; n < 8; ++n) data.push_back(std::string(n, static_cast<char>('a' + n)));
  data.push_back(std::string("\0\xff\n", 3));
  auto e = Entries(data);
  for (bool newline : {true, false}) {
    std::string body;
    AppendPutRecordBatchBody("web \"logs\"", e, {0, e.size()}, newline, &body);
    rapidjson::Document doc;
    ASSERT_TRUE(ParseJson(body, &doc).ok()) << body;
    EXPECT_STREQ(doc["DeliveryStreamName"].GetString(), "web \"logs\"");
    ASSERT_EQ(doc["Records"].Size(), data.size());
    for (size_t i = 0; i < data.size(); ++i) {
      auto got =
          Base64Decode(doc["Records"][static_cast<rapidjson::SizeType>(i)]["Data"].GetString());
      ASSERT_TRUE(got.ok());
      EXPECT_EQ(*got, data[i] + (newline ? "\n" : "")) << i;
    }
  }
}

TEST(FirehoseProtocolTest, AnswersAreReadPerRecord) {
  auto a = ParsePutRecordBatchAnswer(200, R"({"FailedPutCount":1,"Encrypted":false,
      "RequestResponses":[{"RecordId":"49543463076548007577105092703039560359975228518395012686"},
      {"ErrorCode":"ServiceUnavailableException","ErrorMessage":"Slow down."}]})",
                                     2);
  ASSERT_TRUE(a.call_ok);
  EXPECT_EQ(a.records[0].error_code, "");
  EXPECT_EQ(a.records[1].error_code, "ServiceUnavailableException");
  a = ParsePutRecordBatchAnswer(
      400, R"({"__type":"ResourceNotFoundException","message":"Firehose web not found"})", 2);
  EXPECT_FALSE(a.call_ok);
  EXPECT_TRUE(a.retry);
  EXPECT_TRUE(a.loud);
  a = ParsePutRecordBatchAnswer(400, R"({"__type":"InvalidArgumentException","message":"x"})", 2);
  EXPECT_FALSE(a.retry);
  a = ParsePutRecordBatchAnswer(200, R"({"RequestResponses":[]})", 2);
  EXPECT_FALSE(a.call_ok);
  EXPECT_EQ(a.error_code, "Firehose.BadAnswer");
  a = ParsePutRecordBatchAnswer(0, "", 2, "timed out");
  EXPECT_EQ(a.error_code, "Firehose.Transport");
}

}  // namespace
}  // namespace sluice::firehose
