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

}  // namespace
}  // namespace sluice
