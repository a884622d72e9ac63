// Syslog parsing (RFC 3164, RFC 5424) into JSON objects, and the TCP framing of RFC 6587
// (octet counting and newlines, per message) across reads split anywhere.
#include "agent/input/syslog_parse.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::agent {
namespace {

using Format = SyslogOptions::Format;

struct ParseCase {
  const char* name;
  Format format;
  const char* message;
  const char* json;  // nullptr: does not parse
};

const ParseCase kParseCases[] = {
    {"Rfc3164WithPid", Format::kAuto,
     "<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick on /dev/pts/8",
     R"({"pri":34,"facility":4,"severity":2,"time":"Oct 11 22:14:15","host":"mymachine",)"
     R"("ident":"su","pid":"123","message":"'su root' failed for lonvick on /dev/pts/8"})"},
    {"Rfc3164WithoutPid", Format::kRfc3164, "<13>Feb  5 17:32:18 host1 cron: job done",
     R"({"pri":13,"facility":1,"severity":5,"time":"Feb  5 17:32:18","host":"host1",)"
     R"("ident":"cron","message":"job done"})"},
    {"Rfc3164WithYear", Format::kAuto, "<190>Oct 11 2023 22:14:15 router1 sshd[77]: accepted",
     R"({"pri":190,"facility":23,"severity":6,"time":"Oct 11 2023 22:14:15","host":"router1",)"
     R"("ident":"sshd","pid":"77","message":"accepted"})"},
    {"Rfc3164WithoutHost", Format::kAuto, "<14>Jan  1 00:00:01 app[9]: local message",
     R"({"pri":14,"facility":1,"severity":6,"time":"Jan  1 00:00:01","ident":"app","pid":"9",)"
     R"("message":"local message"})"},
    {"Rfc3164HighPrecisionTime", Format::kAuto, "<30>2023-10-11T22:14:15.003+02:00 web1 nginx: up",
     R"({"pri":30,"facility":3,"severity":6,"time":"2023-10-11T22:14:15.003+02:00",)"
     R"("host":"web1","ident":"nginx","message":"up"})"},
    {"Rfc5424WithStructuredData", Format::kAuto,
     "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
     "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] An application "
     "event",
     R"({"pri":165,"facility":20,"severity":5,"time":"2003-10-11T22:14:15.003Z",)"
     R"("host":"mymachine.example.com","ident":"evntslog","msgid":"ID47","extradata":)"
     R"("[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]",)"
     R"("message":"An application event"})"},
    {"Rfc5424EscapedBracketInSd", Format::kRfc5424,
     "<14>1 2024-01-02T03:04:05Z h a 42 - [x@1 k=\"a\\]b\"][y@1 z=\"1\"] msg",
     R"({"pri":14,"facility":1,"severity":6,"time":"2024-01-02T03:04:05Z","host":"h",)"
     R"("ident":"a","pid":"42","extradata":"[x@1 k=\"a\\]b\"][y@1 z=\"1\"]","message":"msg"})"},
    {"Rfc5424AllNil", Format::kAuto, "<0>1 - - - - - -", R"({"pri":0,"facility":0,"severity":0})"},
    {"Rfc5424NilWithBomMessage", Format::kAuto,
     "<86>1 2024-05-06T07:08:09.1+00:00 host sudo 4242 - - \xEF\xBB\xBFhello",
     R"({"pri":86,"facility":10,"severity":6,"time":"2024-05-06T07:08:09.1+00:00",)"
     R"("host":"host","ident":"sudo","pid":"4242","message":"hello"})"},
    {"Rfc5424MissingFields", Format::kRfc5424, "<14>1 2024-01-02T03:04:05Z host", nullptr},
    {"Rfc5424UnclosedSd", Format::kRfc5424, "<14>1 - - - - - [x@1 k=\"v\"", nullptr},
    {"Rfc5424AsRfc3164", Format::kRfc3164, "<14>1 - - - - - -", nullptr},
    {"PriOutOfRange", Format::kAuto, "<192>Oct 11 22:14:15 h p: m", nullptr},
    {"NoPri", Format::kAuto, "Oct 11 22:14:15 h p: m", nullptr},
    {"Garbage", Format::kAuto, "\x01\x02 not syslog at all", nullptr},
    {"Empty", Format::kAuto, "", nullptr},
    {"BadMonth", Format::kAuto, "<13>Foo 11 22:14:15 h p: m", nullptr},
    {"BadClock", Format::kAuto, "<13>Oct 11 22:14 h p: m", nullptr},
    {"RawNeverParses", Format::kRaw, "<13>Oct 11 22:14:15 h p: m", nullptr},
    {"InvalidUtf8Escaped", Format::kAuto, "<13>Oct 11 22:14:15 h p: \xff",
     R"({"pri":13,"facility":1,"severity":5,"time":"Oct 11 22:14:15","host":"h","ident":"p",)"
     "\"message\":\"\xC3\xBF\"}"},
};

class SyslogParseTest : public testing::TestWithParam<ParseCase> {};

TEST_P(SyslogParseTest, Parses) {
  const ParseCase& c = GetParam();
  std::string out = "kept";
  bool ok = SyslogToJson(c.message, c.format, &out);
  if (c.json == nullptr) {
    EXPECT_FALSE(ok);
    EXPECT_EQ(out, "kept");  // left unchanged
  } else {
    ASSERT_TRUE(ok);
    EXPECT_EQ(out, std::string("kept") + c.json);
  }
}

INSTANTIATE_TEST_SUITE_P(Table, SyslogParseTest, testing::ValuesIn(kParseCases),
                         [](const auto& info) { return std::string(info.param.name); });

struct Framed {
  std::vector<std::string> messages;
  int truncated = 0;
  SyslogFramer::Emit emit() {
    return [this](std::string_view m, bool t) {
      messages.emplace_back(m);
      truncated += t ? 1 : 0;
    };
  }
};

// Feeds `stream` split at every position into two reads, and in one-byte reads.
void ExpectFraming(const std::string& stream, const std::vector<std::string>& want,
                   uint64_t max = 1024, int want_truncated = 0) {
  for (size_t split = 0; split <= stream.size(); ++split) {
    SyslogFramer f(max);
    Framed got;
    f.Feed(stream.substr(0, split), got.emit());
    f.Feed(stream.substr(split), got.emit());
    f.Finish(got.emit());
    ASSERT_EQ(got.messages, want) << "split at " << split;
    EXPECT_EQ(got.truncated, want_truncated) << "split at " << split;
  }
  SyslogFramer f(max);
  Framed got;
  for (char c : stream) f.Feed(std::string_view(&c, 1), got.emit());
  f.Finish(got.emit());
  EXPECT_EQ(got.messages, want);
}

TEST(SyslogFramerTest, OctetCounted) {
  ExpectFraming("11 <13>hello a12 <13>x\ny z 10", {"<13>hello a", "<13>x\ny z 10"});
}

TEST(SyslogFramerTest, NewlineDelimited) {
  ExpectFraming("<13>one\n<13>two\r\n\n<13>three", {"<13>one", "<13>two", "<13>three"});
}

TEST(SyslogFramerTest, MixedPerMessage) {
  ExpectFraming("<13>nl 1\n7 <13>oct<13>nl 2\n5 <13>a\n",
                {"<13>nl 1", "<13>oct", "<13>nl 2", "<13>a"});
}

TEST(SyslogFramerTest, DigitsThatAreNotACount) {
  // A message starting with a digit but no count: taken as newline-framed, as rsyslog does.
  ExpectFraming("12x\n7y z\n", {"12x", "7y z"});
}

TEST(SyslogFramerTest, LongMessagesTruncated) {
  std::string big(100, 'a');
  ExpectFraming("100 " + big + "<13>next\n" + big + "\n3 end",
                {std::string(10, 'a'), "<13>next", std::string(10, 'a'), "end"}, 10, 2);
}

TEST(SyslogFramerTest, IncompleteOctetCountedDroppedAtEnd) {
  SyslogFramer f(1024);
  Framed got;
  f.Feed("20 <13>short", got.emit());
  EXPECT_TRUE(f.Finish(got.emit()));
  EXPECT_TRUE(got.messages.empty());
}

}  // namespace
}  // namespace sluice::agent
