#include "plugins/http/http_protocol.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "batch_util.h"
#include "core/base64.h"

namespace sluice::http_sink {
namespace {

using Action = Classification::Action;
using test::TestBatch;

TEST(HttpProtocolTest, FirehoseBodyHasRequestIdTimestampAndBase64Records) {
  TestBatch tb("batch-1", {"hello", "", "{\"a\":1}\n"});
  Batch b = tb.view();
  auto chunks = PlanChunks(b, Mode::kFirehose, kMaxRecordsPerRequest, kMaxBodyBytes);
  ASSERT_EQ(chunks.size(), 1u);
  std::string id = RequestIdFor(b, chunks[0]);
  std::string body;
  AppendFirehoseBody(id, 1700000000123, b, chunks[0], &body);
  rapidjson::Document doc;
  doc.Parse(body.c_str());
  ASSERT_FALSE(doc.HasParseError()) << body;
  EXPECT_EQ(std::string(doc["requestId"].GetString()), id);
  EXPECT_EQ(doc["timestamp"].GetInt64(), 1700000000123);
  ASSERT_EQ(doc["records"].Size(), 3u);
  EXPECT_EQ(*Base64Decode(doc["records"][0]["data"].GetString()), "hello");
  EXPECT_EQ(*Base64Decode(doc["records"][1]["data"].GetString()), "");
  EXPECT_EQ(*Base64Decode(doc["records"][2]["data"].GetString()), "{\"a\":1}\n");
}

TEST(HttpProtocolTest, RequestIdIsStableAcrossRetriesAndDiffersBetweenBatches) {
  TestBatch a("batch-1", {"x", "y"});
  TestBatch again("batch-1", {"x", "y"});
  TestBatch other("batch-2", {"x", "y"});
  Chunk all{0, 2};
  std::string id = RequestIdFor(a.view(), all);
  EXPECT_EQ(id, RequestIdFor(again.view(), all));
  EXPECT_NE(id, RequestIdFor(other.view(), all));
  EXPECT_NE(id, RequestIdFor(a.view(), Chunk{1, 1}));
  ASSERT_EQ(id.size(), 36u);
  EXPECT_EQ(id[8], '-');
  EXPECT_EQ(id[14], '5');
}

TEST(HttpProtocolTest, ChunksRespectRecordAndBodyLimits) {
  std::vector<std::string> data(25, std::string(300, 'a'));
  TestBatch tb("b", data);
  auto by_count = PlanChunks(tb.view(), Mode::kFirehose, 10, kMaxBodyBytes);
  ASSERT_EQ(by_count.size(), 3u);
  EXPECT_EQ(by_count[0].count, 10u);
  EXPECT_EQ(by_count[2].first, 20u);
  EXPECT_EQ(by_count[2].count, 5u);
  // 400 base64 chars + 12 per record: 4096 bytes hold 9 records after the envelope.
  auto by_size = PlanChunks(tb.view(), Mode::kFirehose, 10000, 4096);
  size_t total = 0;
  for (const Chunk& c : by_size) {
    std::string body;
    AppendFirehoseBody("00000000-0000-0000-0000-000000000000", 1700000000000, tb.view(), c, &body);
    EXPECT_LE(body.size(), 4096u);
    total += c.count;
  }
  EXPECT_EQ(total, 25u);
  EXPECT_GT(by_size.size(), 2u);
}

TEST(HttpProtocolTest, RawBodies) {
  TestBatch tb("b", {"{\"a\":1}", "{\"b\":2}\n"});
  std::string nd, arr;
  AppendRawBody(RawFormat::kNdjson, tb.view(), Chunk{0, 2}, &nd);
  AppendRawBody(RawFormat::kJsonArray, tb.view(), Chunk{0, 2}, &arr);
  EXPECT_EQ(nd, "{\"a\":1}\n{\"b\":2}\n");
  EXPECT_EQ(arr, "[{\"a\":1},{\"b\":2}]");
}

struct Case {
  long status;
  const char* body;
  Action action;
  const char* code;
};

TEST(HttpProtocolTest, ClassifyResponseTable) {
  const char* id = "11111111-2222-5333-8444-555555555555";
  const Case cases[] = {
      {200, R"({"requestId":"11111111-2222-5333-8444-555555555555","timestamp":1})", Action::kOk,
       ""},
      {200, R"({"requestId":"wrong","timestamp":1})", Action::kRetry,
       "HttpEndpoint.InvalidResponseFromDestination"},
      {200, R"({"timestamp":1})", Action::kRetry, "HttpEndpoint.InvalidResponseFromDestination"},
      {200, R"({"requestId":"11111111-2222-5333-8444-555555555555"})", Action::kRetry,
       "HttpEndpoint.InvalidResponseFromDestination"},
      {200, "ok", Action::kRetry, "HttpEndpoint.InvalidResponseFromDestination"},
      {201, R"({"requestId":"11111111-2222-5333-8444-555555555555","timestamp":1})", Action::kRetry,
       "HttpEndpoint.ResponseCode.201"},
      {413, R"({"requestId":"x","timestamp":1,"errorMessage":"too big"})", Action::kReject,
       "HttpEndpoint.ResponseCode.413"},
      {400, R"({"requestId":"x","timestamp":1,"errorMessage":"bad"})", Action::kRetry,
       "HttpEndpoint.ResponseCode.400"},
      {401, "", Action::kRetry, "HttpEndpoint.ResponseCode.401"},
      {429, "", Action::kRetry, "HttpEndpoint.ResponseCode.429"},
      {500, R"({"requestId":"x","timestamp":1,"errorMessage":"boom"})", Action::kRetry,
       "HttpEndpoint.ResponseCode.500"},
      {503, "<html>", Action::kRetry, "HttpEndpoint.ResponseCode.503"},
      {0, "", Action::kRetry, "HttpEndpoint.ConnectionFailed"},
  };
  for (const Case& c : cases) {
    Classification cl = ClassifyResponse(c.status, c.body, id, "Connection refused");
    EXPECT_EQ(cl.action, c.action) << c.status << " " << c.body;
    EXPECT_EQ(cl.error_code, c.code) << c.status << " " << c.body;
  }
  EXPECT_EQ(ClassifyResponse(500, R"({"requestId":"x","timestamp":1,"errorMessage":"boom"})", id)
                .error_message,
            "boom");
  EXPECT_TRUE(ClassifyResponse(403, "", id).loud);
  EXPECT_EQ(ClassifyResponse(0, "", id, "Operation timed out after 5000 milliseconds").error_code,
            "HttpEndpoint.ResponseTimeout");
}

TEST(HttpProtocolTest, ClassifyRawResponseTable) {
  EXPECT_EQ(ClassifyRawResponse(200, "", 0).action, Action::kOk);
  EXPECT_EQ(ClassifyRawResponse(204, "", 0).action, Action::kOk);
  auto busy = ClassifyRawResponse(429, "", 7000);
  EXPECT_EQ(busy.action, Action::kRetry);
  EXPECT_EQ(busy.retry_after_ms, 7000u);
  EXPECT_EQ(ClassifyRawResponse(503, "", 0).action, Action::kRetry);
  EXPECT_EQ(ClassifyRawResponse(408, "", 0).action, Action::kRetry);
  EXPECT_EQ(ClassifyRawResponse(0, "", 0, "refused").action, Action::kRetry);
  EXPECT_TRUE(ClassifyRawResponse(401, "", 0).loud);
  EXPECT_EQ(ClassifyRawResponse(403, "", 0).action, Action::kRetry);
  EXPECT_EQ(ClassifyRawResponse(400, "bad json", 0).action, Action::kReject);
  EXPECT_EQ(ClassifyRawResponse(404, "", 0).action, Action::kReject);
  EXPECT_EQ(ClassifyRawResponse(400, "bad json", 0).error_code, "Http.400");
}

}  // namespace
}  // namespace sluice::http_sink
