#include "plugins/opensearch/bulk_request.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

namespace sluice::opensearch_sink {
namespace {

constexpr int64_t kFeb25 = 1456405200000;  // 2016-02-25T13:00:00Z, Firehose's example

std::string Name(Rotation r, int64_t ms) {
  std::string out;
  AppendIndexName("myindex", r, ms, &out);
  return out;
}

TEST(BulkRequestTest, IndexRotationNamesAsFirehose) {
  EXPECT_EQ(Name(Rotation::kNoRotation, kFeb25), "myindex");
  EXPECT_EQ(Name(Rotation::kOneHour, kFeb25), "myindex-2016-02-25-13");
  EXPECT_EQ(Name(Rotation::kOneDay, kFeb25), "myindex-2016-02-25");
  EXPECT_EQ(Name(Rotation::kOneMonth, kFeb25), "myindex-2016-02");
  // Weeks start on Sunday, week 1 on the year's first Sunday (Firehose's documented example).
  EXPECT_EQ(Name(Rotation::kOneWeek, kFeb25), "myindex-2016-w08");
  EXPECT_EQ(Name(Rotation::kOneWeek, 1451606400000), "myindex-2016-w00");  // Fri 2016-01-01
  EXPECT_EQ(Name(Rotation::kOneWeek, 1451779200000), "myindex-2016-w01");  // Sun 2016-01-03
  EXPECT_EQ(Name(Rotation::kOneWeek, 1483142400000), "myindex-2016-w52");  // Sat 2016-12-31
  EXPECT_EQ(Name(Rotation::kOneWeek, 1598140800000), "myindex-2020-w34");  // Sun 2020-08-23
  Rotation r;
  EXPECT_TRUE(ParseRotation("OneWeek", &r));
  EXPECT_EQ(r, Rotation::kOneWeek);
  EXPECT_FALSE(ParseRotation("oneweek", &r));
}

TEST(BulkRequestTest, BulkItemsAreActionAndSourceLines) {
  std::string body;
  AppendBulkItem(Action::kIndex, "logs-2016-02-25", "", "0-17", "{\"a\":1}", &body);
  AppendBulkItem(Action::kCreate, "logs", "_doc", "", "{\"b\":\"x\"}", &body);
  AppendBulkItem(Action::kIndex, "lo\"gs", "", "id\n", "{}", &body);
  EXPECT_EQ(body,
            "{\"index\":{\"_index\":\"logs-2016-02-25\",\"_id\":\"0-17\"}}\n{\"a\":1}\n"
            "{\"create\":{\"_index\":\"logs\",\"_type\":\"_doc\"}}\n{\"b\":\"x\"}\n"
            "{\"index\":{\"_index\":\"lo\\\"gs\",\"_id\":\"id\\n\"}}\n{}\n");
  std::string_view line;
  EXPECT_TRUE(SourceLine("{\"a\":1}\r\n", &line));
  EXPECT_EQ(line, "{\"a\":1}");
  EXPECT_FALSE(SourceLine("{\"a\":\n1}", &line));
  EXPECT_FALSE(SourceLine("\n", &line));
}

using Whole = sink::SinkVerdict::Action;
using V = ItemResult::Verdict;

TEST(BulkRequestTest, ClassifyWholeResponses) {
  EXPECT_EQ(ClassifyResponse(200, R"({"took":3,"errors":false,"items":[{"index":{"status":201}}]})",
                             1, Action::kIndex)
                .action,
            Whole::kOk);
  // Item count mismatch, or not a bulk answer: retried.
  EXPECT_EQ(
      ClassifyResponse(200, R"({"took":3,"errors":false,"items":[]})", 1, Action::kIndex).action,
      Whole::kRetry);
  EXPECT_EQ(ClassifyResponse(200, "<html>", 1, Action::kIndex).action, Whole::kRetry);
  auto busy = ClassifyResponse(429, "{}", 1, Action::kIndex, 3000);
  EXPECT_EQ(busy.action, Whole::kRetry);
  EXPECT_EQ(busy.retry_after_ms, 3000u);
  EXPECT_EQ(ClassifyResponse(503, "", 1, Action::kIndex).action, Whole::kRetry);
  EXPECT_EQ(ClassifyResponse(0, "", 1, Action::kIndex, 0, "refused").error_code,
            "OpenSearch.ConnectionFailed");
  auto denied = ClassifyResponse(403, "", 1, Action::kIndex);
  EXPECT_EQ(denied.action, Whole::kRetry);
  EXPECT_TRUE(denied.loud);
  EXPECT_EQ(ClassifyResponse(400, R"({"error":"bad"})", 1, Action::kIndex).action, Whole::kReject);
  EXPECT_EQ(ClassifyResponse(413, "", 1, Action::kIndex).action, Whole::kReject);
}

TEST(BulkRequestTest, ClassifyItemByItem) {
  const char* body = R"({"took":30,"errors":true,"items":[
    {"index":{"_index":"logs","_id":"0-1","status":201,"result":"created"}},
    {"index":{"_index":"logs","_id":"0-2","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"}}},
    {"index":{"_index":"logs","_id":"0-3","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n] of type [long]"}}},
    {"index":{"_index":"logs","_id":"0-4","status":503,"error":{"type":"unavailable_shards_exception","reason":"primary shard is not active"}}},
    {"index":{"_index":"logs","_id":"0-5","status":200,"result":"updated"}}]})";
  auto c = ClassifyResponse(200, body, 5, Action::kIndex);
  ASSERT_TRUE(c.per_item);
  ASSERT_EQ(c.items.size(), 5u);
  EXPECT_EQ(c.items[0].verdict, V::kOk);
  EXPECT_EQ(c.items[1].verdict, V::kRetry);
  EXPECT_EQ(c.items[2].verdict, V::kReject);
  EXPECT_EQ(c.items[2].error_type, "mapper_parsing_exception");
  EXPECT_EQ(c.items[3].verdict, V::kRetry);
  EXPECT_EQ(c.items[4].verdict, V::kOk);

  const char* conflict = R"({"took":1,"errors":true,"items":[
    {"create":{"_index":"logs","_id":"0-1","status":409,"error":{"type":"version_conflict_engine_exception","reason":"document already exists"}}}]})";
  EXPECT_EQ(ClassifyResponse(200, conflict, 1, Action::kCreate).items[0].verdict, V::kOk);
  EXPECT_EQ(ClassifyResponse(200, conflict, 1, Action::kIndex).items[0].verdict, V::kReject);
}

TEST(BulkRequestTest, RejectReasonCarriesFirehoseFields) {
  ItemResult item;
  item.status = 400;
  item.error_type = "mapper_parsing_exception";
  item.error_reason = "failed to parse";
  std::string reason = RejectReason(item, "0-3", "logs-2016-02-25");
  rapidjson::Document doc;
  doc.Parse(reason.c_str());
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_STREQ(doc["errorCode"].GetString(), "400");
  EXPECT_STREQ(doc["errorMessage"].GetString(), "mapper_parsing_exception: failed to parse");
  EXPECT_STREQ(doc["esDocumentId"].GetString(), "0-3");
  EXPECT_STREQ(doc["esIndexName"].GetString(), "logs-2016-02-25");
}

}  // namespace
}  // namespace sluice::opensearch_sink
