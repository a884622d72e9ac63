// The CBOR transcoder: requests as the AWS SDK for Java sends them (byte-string Data, tag-1
// epoch-millisecond timestamps) to the JSON the operations take, answers back to CBOR, and
// malformed or hostile input refused with a message that says what is wrong.
#include "broker/api/cbor_transcode.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <cstdlib>
#include <random>

#include "tests/unit/broker_api/cbor_test_util.h"

namespace sluice::broker::api {
namespace {

using namespace testing;  // NOLINT: the CBOR builders

std::string ToJson(const std::string& cbor) {
  std::string json;
  Status st = CborToJson(cbor, &json);
  EXPECT_TRUE(st.ok()) << st.message();
  return json;
}

// The error CborToJson gives for `cbor` (empty when it accepts it).
std::string Refusal(const std::string& cbor) {
  std::string json;
  Status st = CborToJson(cbor, &json);
  if (st.ok()) return "";
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  return st.message();
}

std::string ToCbor(std::string_view json) {
  std::string cbor;
  Status st = JsonToCbor(json, &cbor);
  EXPECT_TRUE(st.ok()) << st.message();
  return cbor;
}

// What KinesisApi::Call::TimestampMs makes of a JSON number: seconds * 1000, truncated.
int64_t OperationMs(std::string_view json_number) {
  return static_cast<int64_t>(std::strtod(std::string(json_number).c_str(), nullptr) * 1000.0);
}

TEST(CborToJsonTest, PutRecordsDataIsAByteString) {
  std::string body =
      Map({{"StreamName", Text("s")},
           {"Records",
            Array({Map({{"Data", Bytes(std::string("hi\0\xff", 4))}, {"PartitionKey", Text("k")}}),
                   Map({{"Data", Bytes("")},
                        {"PartitionKey", Text("p\"\\\n")},
                        {"ExplicitHashKey", Text("7")}})})}});
  EXPECT_EQ(ToJson(body), R"({"StreamName":"s","Records":[{"Data":"aGkA/w==","PartitionKey":"k"},)"
                          R"({"Data":"","PartitionKey":"p\"\\\u000a","ExplicitHashKey":"7"}]})");
}

TEST(CborToJsonTest, TaggedTimestampIsMillisecondsAndComesBackExact) {
  // GetShardIterator AT_TIMESTAMP as the Java SDK writes it: tag 1, integer epoch milliseconds.
  std::string body = Map({{"StreamName", Text("s")},
                          {"ShardId", Text("shardId-000000000000")},
                          {"ShardIteratorType", Text("AT_TIMESTAMP")},
                          {"Timestamp", Tag(1, Uint(1700000000123))}});
  std::string json = ToJson(body);
  EXPECT_EQ(json, R"({"StreamName":"s","ShardId":"shardId-000000000000",)"
                  R"("ShardIteratorType":"AT_TIMESTAMP","Timestamp":1700000000.1235})");
  EXPECT_EQ(OperationMs("1700000000.1235"), 1700000000123);
}

TEST(CborToJsonTest, EveryMillisecondSurvivesTheOperationsArithmetic) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    int64_t ms = static_cast<int64_t>(rng() % 4102444800000ull);  // 1970..2100
    if (i % 2 == 1) ms = -ms;
    std::string json = ToJson(Map({{"Timestamp", Tag(1, ms < 0 ? Neg(ms) : Uint(ms))}}));
    std::string number = json.substr(13, json.size() - 14);  // {"Timestamp":<number>}
    ASSERT_EQ(OperationMs(number), ms) << json;
    ASSERT_EQ(ToJson(ToCbor(json)), json);  // and back to the same millisecond
  }
}

TEST(CborToJsonTest, TimestampMembersAreMillisecondsTaggedOrNot) {
  // The CBOR protocol's default timestamp format in a payload is epoch milliseconds; the member,
  // not the tag, makes a timestamp (the SDK's reader skips tags too).
  EXPECT_EQ(
      ToJson(Map({{"ShardFilter", Map({{"Type", Text("AT_TIMESTAMP")}, {"Timestamp", Uint(1500)}})},
                  {"StreamCreationTimestamp", Double(2500.9)},
                  {"Other", Tag(1, Uint(3000))},
                  {"Plain", Uint(3000)}})),
      R"({"ShardFilter":{"Type":"AT_TIMESTAMP","Timestamp":1.5005},)"
      R"("StreamCreationTimestamp":2.5005,"Other":3000,"Plain":3000})");
}

TEST(CborToJsonTest, ScalarsAndIndefiniteLengths) {
  std::string body = "\xbf";  // indefinite map
  body += Text("a") + "\x9f" + Uint(0) + Neg(-1) + Neg(-1000) + Double(1.5) + "\xf5\xf4\xf6\xf7" +
          "\xff";
  body += Text("b") + "\x5f" + Bytes("ab") + Bytes("c") + "\xff";  // chunked bytes
  body += "\x7f" + Text("k") + Text("ey") + "\xff" + Text("v");    // chunked key
  body += Text("n") + "\x3b\xff\xff\xff\xff\xff\xff\xff\xff";      // -2^64
  body += Text("u") + Uint(UINT64_MAX);
  body += Text("e") + Map({}) + "\xff";
  std::string json = ToJson(body);
  EXPECT_EQ(json, R"({"a":[0,-1,-1000,1.5,true,false,null,null],"b":"YWJj","key":"v",)"
                  R"("n":-18446744073709551616,"u":18446744073709551615,"e":{}})");
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  EXPECT_FALSE(doc.HasParseError());
}

TEST(CborToJsonTest, EmptyBodyIsAnEmptyObject) { EXPECT_EQ(ToJson(""), "{}"); }

TEST(CborToJsonTest, UnknownTagsAreIgnored) {
  // 55799: "self-described CBOR"; tags on text are read as the text.
  EXPECT_EQ(ToJson(Tag(55799, Map({{"StreamName", Tag(32, Text("s"))}}))), R"({"StreamName":"s"})");
}

TEST(CborToJsonTest, MalformedInputIsNamed) {
  struct Case {
    std::string cbor;
    std::string says;
  };
  std::string deep;
  for (int i = 0; i < kMaxCborDepth; ++i) deep += Head(5, 1) + Text("a");
  deep += Map({});
  std::string deep_indef;
  for (int i = 0; i < 100000; ++i) deep_indef += "\x9f";
  const Case cases[] = {
      {Array({}), "the body must be a CBOR map"},
      {Text("x"), "the body must be a CBOR map"},
      {Map({{"a", Uint(1)}}) + std::string(1, '\0'), "1 bytes follow the body's map"},
      {Head(5, 2) + Text("a") + Uint(1) + Text("b"), "the body ends before its map is complete"},
      {Head(5, 2) + Text("a") + Uint(1), "a map of 2 pairs is longer than the rest of the body"},
      {Head(5, 1) + Text("a"), "the body ends before its map is complete"},
      {Head(5, 1) + Uint(1) + Uint(1), "a map key must be a text string"},
      {Head(5, 1) + Bytes("k") + Uint(1), "a map key must be a text string"},
      {Head(5, 1) + Map({}) + Uint(1), "a map key must be a text string"},
      {Map({{"a", Text("\xc3\x28")}}), "not valid UTF-8"},
      {Map({{"a", "\xff"}}), "a break (0xff) outside an indefinite-length item"},
      {"\xbf" + Text("a") + "\xff", "a map key with no value"},
      {Map({{"a", Tag(1, "")}}), "the body ends"},
      {"\xbf" + Text("a") + Head(6, 1) + "\xff", "a tag with no item after it"},
      {Map({{"a", "\x1c"}}), "malformed or unsupported item (initial byte 0x1c)"},
      {Map({{"a", Double(std::nan(""))}}), "NaN or infinite"},
      {Map({{"a", "\x5f" + Text("x") + "\xff"}}), "a text chunk inside an indefinite byte string"},
      {Map({{"a", "\x5f\x5f"}}), "an indefinite string inside another"},
      {Map({{"a", "\x7f" + Uint(1) + "\xff"}}), "a non-string item inside an indefinite string"},
      {Map({{"a", "\x7f" + Array({}) + "\xff"}}), "a non-string item inside an indefinite string"},
      {Map({{"a", "\x5f\xa0\xff"}}), "a non-string item inside an indefinite string"},
      // Claimed lengths far past the body: refused, nothing allocated for them.
      {Map({{"Data", "\x5b\x00\x00\x00\x10\x00\x00\x00\x00"}}), "the body ends inside an item"},
      {Map({{"Data", "\x5a\xff\xff\xff\xff" + std::string(8, 'x')}}),
       "the body ends inside an item"},
      {Map({{"Records", "\x9b\x0f\xff\xff\xff\xff\xff\xff\xff"}}),
       "an array of 1152921504606846975 items is longer than the rest of the body (0 bytes)"},
      {Map({{"m", "\xbb\xff\xff\xff\xff\xff\xff\xff\xff"}}), "is longer than the rest of the body"},
      {deep, "containers nested deeper than 64 levels"},
      {Map({{"a", deep_indef}}), "containers nested deeper than 64 levels"},
  };
  for (const Case& c : cases) {
    std::string why = Refusal(c.cbor);
    EXPECT_NE(why.find("Malformed CBOR at byte "), std::string::npos) << why;
    EXPECT_NE(why.find(c.says), std::string::npos) << "wanted '" << c.says << "', got: " << why;
  }
}

TEST(CborToJsonTest, OffsetPointsAtTheBadItem) {
  // {"a": 1, 2: ...}: the integer key is at byte 4.
  EXPECT_EQ(Refusal(Head(5, 2) + Text("a") + Uint(1) + Uint(2) + Uint(3)),
            "Malformed CBOR at byte 4: a map key must be a text string");
}

TEST(CborToJsonTest, EveryPrefixOfAValidBodyIsRefusedCleanly) {
  std::string body =
      Map({{"StreamName", Text("s")},
           {"Records", Array({Map({{"Data", Bytes("payload")}, {"PartitionKey", Text("k")}})})},
           {"Timestamp", Tag(1, Uint(1700000000000))}});
  for (size_t n = 1; n < body.size(); ++n) {
    EXPECT_FALSE(Refusal(body.substr(0, n)).empty()) << n;
  }
}

TEST(JsonToCborTest, GetRecordsAnswer) {
  std::string cbor = ToCbor(
      R"({"Records":[{"SequenceNumber":"4960","ApproximateArrivalTimestamp":1700000000.123,)"
      R"("Data":"aGkA/w==","PartitionKey":"k"}],"NextShardIterator":"it","MillisBehindLatest":0,)"
      R"("ChildShards":[]})");
  Item root = Load(cbor);
  ASSERT_TRUE(root);
  cbor_item_t* records = Member(root.get(), "Records");
  ASSERT_TRUE(records && cbor_isa_array(records));
  ASSERT_EQ(cbor_array_size(records), 1u);
  Item r(cbor_array_get(records, 0));
  EXPECT_EQ(BytesOf(Member(r.get(), "Data")), std::string("hi\0\xff", 4));
  EXPECT_EQ(TextOf(Member(r.get(), "SequenceNumber")), "4960");
  cbor_item_t* ts = Member(r.get(), "ApproximateArrivalTimestamp");
  ASSERT_TRUE(ts && cbor_isa_tag(ts));
  EXPECT_EQ(cbor_tag_value(ts), 1u);
  Item ms(cbor_tag_item(ts));
  ASSERT_TRUE(cbor_isa_uint(ms.get()));  // an integer: the SDK reads it with Long.parseLong
  EXPECT_EQ(cbor_get_int(ms.get()), 1700000000123u);
  EXPECT_TRUE(cbor_isa_uint(Member(root.get(), "MillisBehindLatest")));
  EXPECT_EQ(TextOf(Member(root.get(), "NextShardIterator")), "it");
}

TEST(JsonToCborTest, ScalarsKeepTheirTypes) {
  Item root = Load(ToCbor(R"({"n":-5,"big":18446744073709551615,"f":1.25,"t":true,"z":null,)"
                          R"("StreamCreationTimestamp":-1.5,"s":"é\"\u0001"})"));
  ASSERT_TRUE(root);
  cbor_item_t* n = Member(root.get(), "n");
  ASSERT_TRUE(n && cbor_isa_negint(n));
  EXPECT_EQ(cbor_get_int(n), 4u);  // -1 - 4
  EXPECT_EQ(cbor_get_int(Member(root.get(), "big")), UINT64_MAX);
  cbor_item_t* f = Member(root.get(), "f");
  ASSERT_TRUE(f && cbor_isa_float_ctrl(f) && cbor_float_get_width(f) == CBOR_FLOAT_64);
  EXPECT_EQ(cbor_float_get_float8(f), 1.25);
  EXPECT_TRUE(cbor_get_bool(Member(root.get(), "t")));
  EXPECT_TRUE(cbor_is_null(Member(root.get(), "z")));
  Item ts(cbor_tag_item(Member(root.get(), "StreamCreationTimestamp")));
  ASSERT_TRUE(cbor_isa_negint(ts.get()));
  EXPECT_EQ(cbor_get_int(ts.get()), 1499u);  // -1500 ms
  EXPECT_EQ(TextOf(Member(root.get(), "s")), "é\"\x01");
}

TEST(JsonToCborTest, EdgeNumbersComeBackAsTheyWere) {
  for (const char* json : {R"({"a":-0,"b":-18446744073709551616,"c":-9223372036854775808})",
                           R"({"a":1e+300,"b":5e-324,"c":0.1})"}) {
    EXPECT_EQ(ToJson(ToCbor(json)), json);
  }
  // Timestamps: exact decimal milliseconds, further digits truncated toward zero.
  EXPECT_EQ(ToJson(ToCbor(R"({"Timestamp":1.2345,"CreateTimestamp":-0.0019})")),
            R"({"Timestamp":1.2345,"CreateTimestamp":-0.0015})");
  EXPECT_EQ(ToJson(ToCbor(R"({"Timestamp":1.7e9})")), R"({"Timestamp":1700000000.0005})");
  // Past what a double holds exactly, and the ends of int64 milliseconds.
  for (const char* json :
       {R"({"Timestamp":4611686018427387.9035})", R"({"Timestamp":9223372036854775.8075})",
        R"({"Timestamp":-9223372036854775.8085})"}) {
    EXPECT_EQ(ToJson(ToCbor(json)), json);
  }
  EXPECT_EQ(ToJson(Map({{"Timestamp", Uint(UINT64_MAX)}})),
            R"({"Timestamp":9223372036854775.8075})");
}

TEST(JsonToCborTest, ErrorDocument) {
  Item root = Load(ToCbor(R"({"__type":"ResourceNotFoundException","message":"Stream x"})"));
  ASSERT_TRUE(root);
  EXPECT_EQ(TextOf(Member(root.get(), "__type")), "ResourceNotFoundException");
  EXPECT_EQ(TextOf(Member(root.get(), "message")), "Stream x");
}

TEST(JsonToCborTest, EmptyAnswerIsEmpty) { EXPECT_EQ(ToCbor(""), ""); }

TEST(JsonToCborTest, BadBlobOrJsonIsRefused) {
  std::string out;
  EXPECT_FALSE(JsonToCbor(R"({"Data":"abc"})", &out).ok());
  EXPECT_FALSE(JsonToCbor(R"({"Data":"ab!="})", &out).ok());
  EXPECT_FALSE(JsonToCbor(R"({"a":)", &out).ok());
}

TEST(CborRoundTripTest, JsonToCborToJsonIsTheSameDocument) {
  const std::string json =
      R"({"StreamDescriptionSummary":{"StreamName":"s","OpenShardCount":2,"Ratio":0.5,)"
      R"("Flags":[true,false,null],"Neg":-7},"Records":[{"Data":"AAECAwQ=","PartitionKey":"k"}]})";
  EXPECT_EQ(ToJson(ToCbor(json)), json);
  // Timestamps come back as the same millisecond.
  std::string back = ToJson(ToCbor(R"({"ConsumerCreationTimestamp":1700000000.999})"));
  EXPECT_EQ(back, R"({"ConsumerCreationTimestamp":1700000000.9995})");
  EXPECT_EQ(OperationMs("1700000000.9995"), 1700000000999);
}

TEST(CborContentTypeTest, Recognised) {
  EXPECT_TRUE(IsCborContentType("application/x-amz-cbor-1.1"));
  EXPECT_TRUE(IsCborContentType("Application/X-Amz-Cbor-1.1; charset=utf-8"));
  EXPECT_FALSE(IsCborContentType("application/x-amz-json-1.1"));
  EXPECT_FALSE(IsCborContentType("application/x-amz-cbor-1.10"));
  EXPECT_FALSE(IsCborContentType(""));
}

}  // namespace
}  // namespace sluice::broker::api
