#include "plugins/splunk/hec_encoder.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "batch_util.h"

namespace sluice::splunk_sink {
namespace {

using Action = HecClassification::Action;
using test::TestBatch;

TEST(HecEncoderTest, EventEnvelopes) {
  EventMeta meta{"web-1", "/var/log/app.log", "_json", "main", {{"env", "prod"}}};
  HecEncoder enc(meta);
  TestBatch tb("b", {"{\"user\":\"ann\"}\n", "plain \"text\" line", "[1,2]", "{broken"},
               1700000000123);
  std::string body;
  enc.AppendEvents(tb.view(), &body);
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = body.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(body.substr(start, nl - start));
  }
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0],
            "{\"time\":1700000000.123,\"host\":\"web-1\",\"source\":\"/var/log/app.log\","
            "\"sourcetype\":\"_json\",\"index\":\"main\",\"fields\":{\"env\":\"prod\"},"
            "\"event\":{\"user\":\"ann\"}}");
  rapidjson::Document doc;
  doc.Parse(lines[1].c_str());
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_STREQ(doc["event"].GetString(), "plain \"text\" line");
  doc.Parse(lines[2].c_str());
  EXPECT_TRUE(doc["event"].IsArray());
  doc.Parse(lines[3].c_str());
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_STREQ(doc["event"].GetString(), "{broken");
}

TEST(HecEncoderTest, EmptyMetadataIsLeftOutAndRawBodiesAreLines) {
  HecEncoder enc(EventMeta{});
  TestBatch tb("b", {"a", "b\n"}, 5);
  std::string body;
  enc.AppendEvents(tb.view(), &body);
  EXPECT_EQ(body, "{\"time\":0.005,\"event\":\"a\"}\n{\"time\":0.005,\"event\":\"b\"}\n");
  std::string raw;
  HecEncoder::AppendRaw(tb.view(), &raw);
  EXPECT_EQ(raw, "a\nb\n");
  EXPECT_EQ(enc.RawQuery(), "");
  HecEncoder with(EventMeta{"", "my src", "access_combined", "web", {}});
  EXPECT_EQ(with.RawQuery(), "?source=my%20src&sourcetype=access_combined&index=web");
}

struct Case {
  long status;
  const char* body;
  Action action;
  bool loud;
  const char* code;
};

TEST(HecEncoderTest, ClassifyResponseTable) {
  const Case cases[] = {
      {200, R"({"text":"Success","code":0})", Action::kOk, false, ""},
      {200, R"({"text":"Success","code":0,"ackId":7})", Action::kOk, false, ""},
      {403, R"({"text":"Token disabled","code":1})", Action::kRetry, true, "Splunk.DisabledToken"},
      {401, R"({"text":"Token is required","code":2})", Action::kRetry, true,
       "Splunk.InvalidToken"},
      {401, R"({"text":"Invalid authorization","code":3})", Action::kRetry, true,
       "Splunk.InvalidToken"},
      {403, R"({"text":"Invalid token","code":4})", Action::kRetry, true, "Splunk.InvalidToken"},
      {400, R"({"text":"No data","code":5})", Action::kReject, false, "Splunk.InvalidDataFormat"},
      {400, R"({"text":"Invalid data format","code":6,"invalid-event-number":2})", Action::kReject,
       false, "Splunk.InvalidDataFormat"},
      {400, R"({"text":"Incorrect index","code":7,"invalid-event-number":0})", Action::kReject,
       false, "Splunk.InvalidIndex"},
      {500, R"({"text":"Internal server error","code":8})", Action::kRetry, false,
       "Splunk.ServerError"},
      {503, R"({"text":"Server is busy","code":9})", Action::kRetry, false, "Splunk.ServerBusy"},
      {400, R"({"text":"Data channel is missing","code":10})", Action::kRetry, true,
       "Splunk.InvalidChannel"},
      {400, R"({"text":"Invalid data channel","code":11})", Action::kRetry, true,
       "Splunk.InvalidChannel"},
      {400, R"({"text":"Event field is required","code":12})", Action::kReject, false,
       "Splunk.InvalidDataFormat"},
      {400, R"({"text":"ACK is disabled","code":14})", Action::kRetry, true, "Splunk.DisabledAck"},
      {503, R"({"text":"HEC is unhealthy, queues are full","code":18})", Action::kRetry, false,
       "Splunk.ServerBusy"},
      {502, "<html>bad gateway</html>", Action::kRetry, false, "Splunk.ServerError"},
      {404, "not found", Action::kReject, false, "Splunk.URLNotFound"},
      {0, "", Action::kRetry, false, "Splunk.ConnectionClosed"},
  };
  for (const Case& c : cases) {
    HecClassification cl = ClassifyResponse(c.status, c.body, 0, "Connection refused");
    EXPECT_EQ(cl.action, c.action) << c.status << " " << c.body;
    EXPECT_EQ(cl.loud, c.loud) << c.status << " " << c.body;
    EXPECT_EQ(cl.error_code, c.code) << c.status << " " << c.body;
  }
  auto ok = ClassifyResponse(200, R"({"text":"Success","code":0,"ackId":7})", 0);
  EXPECT_EQ(ok.ack_id, 7);
  auto bad = ClassifyResponse(
      400, R"({"text":"Invalid data format","code":6,"invalid-event-number":2})", 0);
  EXPECT_EQ(bad.invalid_event, 2);
  EXPECT_EQ(ClassifyResponse(503, R"({"text":"Server is busy","code":9})", 5000).retry_after_ms,
            5000u);
}

TEST(HecEncoderTest, AckQueryAndAnswer) {
  EXPECT_EQ(AckQueryBody({3, 4}), "{\"acks\":[3,4]}");
  bool malformed = false;
  EXPECT_TRUE(AckStatus(R"({"acks":{"3":true,"4":false}})", 3, &malformed));
  EXPECT_FALSE(AckStatus(R"({"acks":{"3":true,"4":false}})", 4, &malformed));
  EXPECT_FALSE(malformed);
  EXPECT_FALSE(AckStatus(R"({"acks":{}})", 5, &malformed));
  EXPECT_FALSE(AckStatus("nope", 5, &malformed));
  EXPECT_TRUE(malformed);
}

// A fake clock: sleeping advances it.
struct FakeClock {
  int64_t now = 1000;
  std::function<int64_t()> Now() {
    return [this] { return now; };
  }
  std::function<void(int64_t)> Sleep() {
    return [this](int64_t ms) { now += ms; };
  }
};

TEST(HecEncoderTest, WaitForAckPollsUntilTrue) {
  FakeClock clock;
  int calls = 0;
  auto r = WaitForAck(7, clock.now, 180000, 1000, clock.Now(), clock.Sleep(), [&](int64_t id) {
    EXPECT_EQ(id, 7);
    ++calls;
    if (calls == 2) return AckPoll{503, R"({"text":"Server is busy","code":9})", ""};
    if (calls == 3) return AckPoll{0, "", "Connection refused"};
    return AckPoll{200, calls < 5 ? R"({"acks":{"7":false}})" : R"({"acks":{"7":true}})", ""};
  });
  EXPECT_EQ(r.state, AckWaitResult::State::kAcked);
  EXPECT_EQ(r.polls, 5);
  EXPECT_EQ(clock.now, 6000);
}

TEST(HecEncoderTest, WaitForAckTimesOutWhenTheAckIsLost) {
  FakeClock clock;
  int64_t start = clock.now;
  auto r = WaitForAck(9, start, 180000, 10000, clock.Now(), clock.Sleep(), [](int64_t) {
    return AckPoll{200, R"({"acks":{"9":false}})", ""};
  });
  EXPECT_EQ(r.state, AckWaitResult::State::kTimeout);
  EXPECT_EQ(r.error_code, "Splunk.AckTimeout");
  EXPECT_EQ(r.polls, 18);
  EXPECT_EQ(clock.now, start + 180000);
}

TEST(HecEncoderTest, WaitForAckStopsOnAcksDisabled) {
  FakeClock clock;
  auto r = WaitForAck(1, clock.now, 180000, 1000, clock.Now(), clock.Sleep(), [](int64_t) {
    return AckPoll{400, R"({"text":"ACK is disabled","code":14})", ""};
  });
  EXPECT_EQ(r.state, AckWaitResult::State::kError);
  EXPECT_TRUE(r.loud);
  EXPECT_EQ(r.error_code, "Splunk.DisabledAck");
  EXPECT_EQ(r.polls, 1);
}

}  // namespace
}  // namespace sluice::splunk_sink
