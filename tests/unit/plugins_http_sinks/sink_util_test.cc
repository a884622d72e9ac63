#include "plugins/common/sink_util.h"

#include <gtest/gtest.h>

namespace sluice::sink {
namespace {

TEST(SinkUtilTest, ListAndMapOptions) {
  auto list = ParseListOption(R"(["a", "b c", 3, true])");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(*list, (std::vector<std::string>{"a", "b c", "3", "true"}));
  auto scalar = ParseListOption("[X-A: 1]");
  ASSERT_TRUE(scalar.ok());
  EXPECT_EQ(*scalar, (std::vector<std::string>{"X-A: 1"}));
  auto map = ParseMapOption(R"({"env":"prod","n":2})");
  ASSERT_TRUE(map.ok());
  ASSERT_EQ(map->size(), 2u);
  EXPECT_EQ((*map)[1], (std::pair<std::string, std::string>{"n", "2"}));
  auto pairs = ParseMapOption(R"(["X-Team: core", "env=prod"])");
  ASSERT_TRUE(pairs.ok());
  EXPECT_EQ((*pairs)[0], (std::pair<std::string, std::string>{"X-Team", "core"}));
  EXPECT_EQ((*pairs)[1], (std::pair<std::string, std::string>{"env", "prod"}));
  EXPECT_FALSE(ParseMapOption(R"(["novalue"])").ok());
}

TEST(SinkUtilTest, SplitUrl) {
  auto u = SplitUrl("https://search.example.com:443/base/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->authority, "search.example.com:443");
  EXPECT_EQ(u->path, "/base");
  EXPECT_FALSE(SplitUrl("ftp://x").ok());
  EXPECT_FALSE(SplitUrl("http://x/?a=b").ok());
  EXPECT_FALSE(SplitUrl("http:///path").ok());
}

TEST(SinkUtilTest, StatusVerdicts) {
  EXPECT_EQ(VerdictForStatus(200), Verdict::kOk);
  EXPECT_EQ(VerdictForStatus(0), Verdict::kRetry);
  EXPECT_EQ(VerdictForStatus(408), Verdict::kRetry);
  EXPECT_EQ(VerdictForStatus(429), Verdict::kRetry);
  EXPECT_EQ(VerdictForStatus(502), Verdict::kRetry);
  EXPECT_EQ(VerdictForStatus(401), Verdict::kRetryLoud);
  EXPECT_EQ(VerdictForStatus(403), Verdict::kRetryLoud);
  EXPECT_EQ(VerdictForStatus(400), Verdict::kReject);
  EXPECT_EQ(VerdictForStatus(302), Verdict::kReject);
}

TEST(SinkUtilTest, FirehoseBackoffDoublesWithFifteenPercentJitterCappedAt120s) {
  EXPECT_EQ(FirehoseBackoffMs(1, 0.5), 1000u);
  EXPECT_EQ(FirehoseBackoffMs(2, 0.5), 2000u);
  EXPECT_EQ(FirehoseBackoffMs(3, 0.5), 4000u);
  EXPECT_EQ(FirehoseBackoffMs(1, 0.0), 850u);
  EXPECT_EQ(FirehoseBackoffMs(1, 0.999999), 1149u);
  EXPECT_EQ(FirehoseBackoffMs(8, 0.5), 120000u);  // 128 s capped
  EXPECT_EQ(FirehoseBackoffMs(50, 0.999), 120000u);
  EXPECT_EQ(FirehoseBackoffMs(50, 0.0), 102000u);
}

TEST(SinkUtilTest, Guids) {
  EXPECT_EQ(StableGuid("a"), StableGuid("a"));
  EXPECT_NE(StableGuid("a"), StableGuid("b"));
  EXPECT_NE(RandomGuid(), RandomGuid());
  EXPECT_EQ(RandomGuid()[14], '4');
}

TEST(SinkUtilTest, JsonFieldTextReadsScalarsAtAPath) {
  std::string v;
  EXPECT_TRUE(JsonFieldText(R"({"user":{"id":"u-42"},"n":7})", "user.id", &v));
  EXPECT_EQ(v, "u-42");
  EXPECT_TRUE(JsonFieldText(R"({"user":{"id":"u-42"},"n":7})", "n", &v));
  EXPECT_EQ(v, "7");
  EXPECT_TRUE(JsonFieldText(R"({"a":{"b":{"c":true}}})", "a.b.c", &v));
  EXPECT_EQ(v, "true");
  EXPECT_TRUE(JsonFieldText(R"({"a":-3})", "a", &v));
  EXPECT_EQ(v, "-3");
  EXPECT_TRUE(JsonFieldText(R"({"a":1.5})", "a", &v));
  EXPECT_EQ(v, "1.5");
  EXPECT_TRUE(JsonFieldText(R"({"a":""})", "a", &v));
  EXPECT_EQ(v, "");
  EXPECT_FALSE(JsonFieldText(R"({"user":{"id":"u-42"}})", "user", &v));  // an object
  EXPECT_FALSE(JsonFieldText(R"({"a":[1]})", "a", &v));
  EXPECT_FALSE(JsonFieldText(R"({"user":null})", "user", &v));
  EXPECT_FALSE(JsonFieldText(R"({"user":{}})", "user.id", &v));
  EXPECT_FALSE(JsonFieldText("plain text", "user", &v));
  EXPECT_FALSE(JsonFieldText("[1,2]", "0", &v));
}

}  // namespace
}  // namespace sluice::sink
