#include "core/json.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice {
namespace {

TEST(JsonTest, ParsesDocumentsWithinTheDepthBound) {
  rapidjson::Document d;
  ASSERT_TRUE(ParseJson(R"({"a":{"b":[1,2,"x"]}})", &d).ok());
  EXPECT_EQ(d["a"]["b"][2].GetString(), std::string("x"));
  std::string deep = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  ASSERT_TRUE(ParseJson(deep, &d).ok());
  EXPECT_TRUE(d.IsArray());
}

TEST(JsonTest, RefusesNestingPastTheBoundWithoutRecursing) {
  rapidjson::Document d;
  // A million levels: the recursive reader overflows the stack near 150,000.
  Status st = ParseJson(std::string(1000000, '['), &d);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("nested deeper than 1000 levels"), std::string::npos) << st.message();
  EXPECT_TRUE(d.IsNull());
  std::string objects;
  for (int i = 0; i < 300000; ++i) objects += "{\"a\":";
  EXPECT_FALSE(ParseJson(objects, &d).ok());
  EXPECT_FALSE(ParseJson(std::string(kMaxJsonDepth + 1, '['), &d).ok());
  EXPECT_FALSE(ValidateJson(std::string(1000000, '[')).ok());
}

TEST(JsonTest, ErrorsNameTheOffset) {
  rapidjson::Document d;
  Status st = ParseJson("[1,2", &d);
  EXPECT_NE(st.message().find("at offset 4"), std::string::npos) << st.message();
  st = ParseJson("", &d);
  EXPECT_FALSE(st.ok());
}

TEST(JsonTest, InsituAndStopWhenDone) {
  std::string text = R"({"k":"v"})";
  rapidjson::Document d;
  ASSERT_TRUE(ParseJsonInsitu(text.data(), &d).ok());
  EXPECT_EQ(d["k"].GetString(), std::string("v"));
  size_t end = 0;
  ASSERT_TRUE(ValidateJson<rapidjson::kParseStopWhenDoneFlag>(R"({"a":1} trailing)", &end).ok());
  EXPECT_EQ(end, 7u);
}

TEST(JsonTest, FullPrecisionNumbersAreExactAndNeverUndefined) {
  // kParseFullPrecisionFlag: numbers converted by std::from_chars, as RapidJSON's events.
  std::string text = R"([0.3, 0E221, -0.000e-400, 1e-400, 12, -12, 4294967296, -2147483649,)" +
                     std::string(200, '2') + ", 0." + std::string(30, '0') + R"(1, 1.5e300])";
  rapidjson::Document d;
  ASSERT_TRUE(ParseJsonInsitu<rapidjson::kParseFullPrecisionFlag>(text.data(), &d).ok());
  ASSERT_EQ(d.Size(), 11u);
  EXPECT_EQ(d[0].GetDouble(), 0.3);
  EXPECT_EQ(d[1].GetDouble(), 0.0);
  EXPECT_EQ(d[2].GetDouble(), 0.0);
  EXPECT_EQ(d[3].GetDouble(), 0.0);
  EXPECT_TRUE(d[4].IsUint());
  EXPECT_EQ(d[4].GetInt(), 12);
  EXPECT_TRUE(d[5].IsInt());
  EXPECT_EQ(d[5].GetInt(), -12);
  EXPECT_TRUE(d[6].IsUint64() && !d[6].IsUint());
  EXPECT_TRUE(d[7].IsInt64() && !d[7].IsInt());
  EXPECT_NEAR(d[8].GetDouble(), 2.2222222222222222e199, 1e185);
  EXPECT_EQ(d[9].GetDouble(), 1e-31);
  EXPECT_EQ(d[10].GetDouble(), 1.5e300);
  // Written back, 0.3 stays 0.3.
  rapidjson::StringBuffer b;
  rapidjson::Writer<rapidjson::StringBuffer> w(b);
  d[0].Accept(w);
  EXPECT_STREQ(b.GetString(), "0.3");
  // Past the double range: refused, as RapidJSON refuses it.
  std::string big = "[1e400]";
  Status st = ParseJson<rapidjson::kParseFullPrecisionFlag>(big, &d);
  EXPECT_NE(st.message().find("Number too big"), std::string::npos) << st.message();
  // Without the flag, numbers are RapidJSON's own (and a raw-number handler still sees text).
  ASSERT_TRUE(ParseJson("[0.5]", &d).ok());
  EXPECT_EQ(d[0].GetDouble(), 0.5);
}

}  // namespace
}  // namespace sluice
