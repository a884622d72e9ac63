#include "agent/tail/processor.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "agent/tail/json_text.h"
#include "agent/tail/partition_key.h"

namespace sluice::agent {
namespace {

ProcessingStep LogStep(const std::string& format) {
  ProcessingStep s;
  s.kind = ProcessingStep::Kind::kLogToJson;
  s.log_format = format;
  return s;
}

std::unique_ptr<Processor> Make(std::vector<ProcessingStep> steps) {
  auto p = Processor::Create(steps);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? std::move(*p) : nullptr;
}

rapidjson::Document Parse(std::string_view s) {
  rapidjson::Document d;
  d.Parse(s.data(), s.size());
  EXPECT_FALSE(d.HasParseError()) << s;
  return d;
}

std::string Field(const rapidjson::Document& d, const char* k) {
  if (!d.IsObject() || !d.HasMember(k)) return "<absent>";
  if (d[k].IsNull()) return "<null>";
  return std::string(d[k].GetString(), d[k].GetStringLength());
}

TEST(ProcessorTest, CommonApache) {
  auto p = Make({LogStep("common_apache")});
  auto r = p->Process(
      R"(127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326)",
      {});
  ASSERT_FALSE(r.unparsed);
  auto d = Parse(r.data);
  EXPECT_EQ(Field(d, "host"), "127.0.0.1");
  EXPECT_EQ(Field(d, "ident"), "-");
  EXPECT_EQ(Field(d, "authuser"), "frank");
  EXPECT_EQ(Field(d, "datetime"), "10/Oct/2000:13:55:36 -0700");
  EXPECT_EQ(Field(d, "request"), "GET /apache_pb.gif HTTP/1.0");
  EXPECT_EQ(Field(d, "response"), "200");
  EXPECT_EQ(Field(d, "bytes"), "2326");
}

TEST(ProcessorTest, CombinedApacheWithEscapedQuote) {
  auto p = Make({LogStep("combined_apache")});
  auto r = p->Process(
      R"(192.168.2.20 - - [28/Jul/2006:10:27:10 -0300] "GET /cgi-bin/try/ HTTP/1.0" 200 3395 )"
      R"re("http://example.com/\"x\"" "Mozilla/4.08 [en] (Win98; I ;Nav)")re",
      {});
  ASSERT_FALSE(r.unparsed);
  auto d = Parse(r.data);
  EXPECT_EQ(Field(d, "referer"), R"(http://example.com/\"x\")");
  EXPECT_EQ(Field(d, "agent"), "Mozilla/4.08 [en] (Win98; I ;Nav)");
  EXPECT_EQ(Field(d, "bytes"), "3395");
}

TEST(ProcessorTest, ApacheErrorBothVersions) {
  auto p = Make({LogStep("apache_error")});
  auto r = p->Process(
      "[Fri Sep 09 10:42:29.902022 2011] [core:error] [pid 35708:tid 4328636416] "
      "[client 72.15.99.187] File does not exist: /usr/local/apache2/htdocs/favicon.ico",
      {});
  ASSERT_FALSE(r.unparsed);
  auto d = Parse(r.data);
  EXPECT_EQ(Field(d, "timestamp"), "Fri Sep 09 10:42:29.902022 2011");
  EXPECT_EQ(Field(d, "module"), "core");
  EXPECT_EQ(Field(d, "severity"), "error");
  EXPECT_EQ(Field(d, "processid"), "35708");
  EXPECT_EQ(Field(d, "threadid"), "4328636416");
  EXPECT_EQ(Field(d, "client"), "72.15.99.187");
  EXPECT_EQ(Field(d, "message"), "File does not exist: /usr/local/apache2/htdocs/favicon.ico");
  r = p->Process(
      "[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied by server "
      "configuration: /export/home/live/ap/htdocs/test",
      {});
  ASSERT_FALSE(r.unparsed);
  d = Parse(r.data);
  EXPECT_EQ(Field(d, "severity"), "error");
  EXPECT_EQ(Field(d, "module"), "<absent>");
  EXPECT_EQ(Field(d, "client"), "127.0.0.1");
}

TEST(ProcessorTest, SyslogRfc3164) {
  auto p = Make({LogStep("syslog")});
  auto r = p->Process(
      "Mar  7 04:02:16 avas dccd[13284]: 21 requests/sec are too many from 192.168.1.1", {});
  ASSERT_FALSE(r.unparsed);
  auto d = Parse(r.data);
  EXPECT_EQ(Field(d, "timestamp"), "Mar  7 04:02:16");
  EXPECT_EQ(Field(d, "hostname"), "avas");
  EXPECT_EQ(Field(d, "program"), "dccd");
  EXPECT_EQ(Field(d, "processid"), "13284");
  EXPECT_EQ(Field(d, "message"), "21 requests/sec are too many from 192.168.1.1");
  r = p->Process("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
                 {});
  d = Parse(r.data);
  EXPECT_EQ(Field(d, "priority"), "34");
  EXPECT_EQ(Field(d, "program"), "su");
  EXPECT_EQ(Field(d, "processid"), "<absent>");
}

TEST(ProcessorTest, Rfc5424) {
  auto p = Make({LogStep("rfc5424")});
  auto r = p->Process(
      R"(<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 )"
      R"([exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event)",
      {});
  ASSERT_FALSE(r.unparsed);
  auto d = Parse(r.data);
  EXPECT_EQ(Field(d, "priority"), "165");
  EXPECT_EQ(Field(d, "version"), "1");
  EXPECT_EQ(Field(d, "timestamp"), "2003-10-11T22:14:15.003Z");
  EXPECT_EQ(Field(d, "hostname"), "mymachine.example.com");
  EXPECT_EQ(Field(d, "appname"), "evntslog");
  EXPECT_EQ(Field(d, "procid"), "-");
  EXPECT_EQ(Field(d, "msgid"), "ID47");
  EXPECT_EQ(Field(d, "message"), "An application event");
  r = p->Process("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - BOM'su root'",
                 {});
  d = Parse(r.data);
  EXPECT_EQ(Field(d, "structured_data"), "-");
  EXPECT_EQ(Field(d, "message"), "BOM'su root'");
}

TEST(ProcessorTest, CustomPatternWithNamesAndUnparsedPassThrough) {
  ProcessingStep s = LogStep("custom");
  s.custom_pattern = R"(^(\w+) took (\d+)ms$)";
  s.field_names = {"op", "millis"};
  auto p = Make({s});
  auto r = p->Process("save took 12ms", {});
  auto d = Parse(r.data);
  EXPECT_EQ(Field(d, "op"), "save");
  EXPECT_EQ(Field(d, "millis"), "12");
  r = p->Process("not matching", {});
  EXPECT_TRUE(r.unparsed);
  EXPECT_FALSE(r.to_error_output);
  EXPECT_EQ(r.data, "not matching");
  ProcessingStep named = LogStep("custom");
  named.custom_pattern = R"(^(?<level>[A-Z]+) (?<msg>.*)$)";
  named.unparsed_to_error_output = true;
  auto q = Make({named});
  d = Parse(q->Process("WARN disk low", {}).data);
  EXPECT_EQ(Field(d, "level"), "WARN");
  EXPECT_TRUE(q->Process("lowercase", {}).to_error_output);
}

TEST(ProcessorTest, CreateErrorsNameTheStep) {
  ProcessingStep bad = LogStep("nginx");
  auto p = Processor::Create({ProcessingStep{}, bad});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("processing[1]"), std::string::npos);
  ProcessingStep unnamed = LogStep("custom");
  unnamed.custom_pattern = "(a)(b)";
  unnamed.field_names = {"x"};
  EXPECT_FALSE(Processor::Create({unnamed}).ok());
  ProcessingStep csv;
  csv.kind = ProcessingStep::Kind::kCsvToJson;
  EXPECT_FALSE(Processor::Create({csv}).ok());
}

TEST(ProcessorTest, CsvToJsonQuotesAndMissingColumns) {
  ProcessingStep s;
  s.kind = ProcessingStep::Kind::kCsvToJson;
  s.field_names = {"a", "b", "c"};
  auto p = Make({s});
  auto d = Parse(p->Process(R"(1,"x, ""quoted""")", {}).data);
  EXPECT_EQ(Field(d, "a"), "1");
  EXPECT_EQ(Field(d, "b"), "x, \"quoted\"");
  EXPECT_EQ(Field(d, "c"), "<null>");
  EXPECT_TRUE(p->Process(R"(1,"open)", {}).unparsed);
  s.delimiter = '\t';
  auto t = Make({s});
  d = Parse(t->Process("p\tq\tr\textra", {}).data);
  EXPECT_EQ(Field(d, "c"), "r");
  d = Parse(t->Process("", {}).data);
  EXPECT_EQ(Field(d, "a"), "");
  EXPECT_EQ(Field(d, "b"), "<null>");
}

TEST(ProcessorTest, SingleLineJoinsTrimmedLines) {
  auto p = Make({ProcessingStep{}});
  EXPECT_EQ(p->Process("Exception: boom\n\tat a.b(C.java:1)\n  at d.e(F.java:2)\r", {}).data,
            "Exception: boomat a.b(C.java:1)at d.e(F.java:2)");
  ProcessingStep spaced;
  spaced.separator = " | ";
  auto q = Make({spaced});
  EXPECT_EQ(q->Process("Exception: boom\n\tat a.b(C.java:1)\n\n  at d.e(F.java:2)\n", {}).data,
            "Exception: boom | at a.b(C.java:1) | at d.e(F.java:2)");
}

TEST(ProcessorTest, AddMetadataWrapsTextOrJson) {
  ProcessingStep m;
  m.kind = ProcessingStep::Kind::kAddMetadata;
  m.add_host = m.add_file = m.add_offset = m.add_timestamp = true;
  m.static_fields = {{"env", "prod"}};
  RecordContext ctx{"/var/log/a.log", 42, 1700000000123, "web-1", "app"};
  auto p = Make({m});
  auto d = Parse(p->Process("plain line", ctx).data);
  EXPECT_EQ(Field(d, "host"), "web-1");
  EXPECT_EQ(Field(d, "file"), "/var/log/a.log");
  EXPECT_EQ(d["offset"].GetUint64(), 42u);
  EXPECT_EQ(d["timestamp"].GetInt64(), 1700000000123);
  EXPECT_EQ(Field(d, "env"), "prod");
  EXPECT_EQ(Field(d, "data"), "plain line");
  auto q = Make({LogStep("syslog"), m});
  d = Parse(q->Process("Mar  7 04:02:16 avas dccd[1]: hi", ctx).data);
  ASSERT_TRUE(d["data"].IsObject());
  EXPECT_EQ(std::string(d["data"]["message"].GetString()), "hi");
}

TEST(ProcessorTest, BinaryBytesAreEscapedIntoValidJson) {
  ProcessingStep m;
  m.kind = ProcessingStep::Kind::kAddMetadata;
  auto p = Make({m});
  std::string raw("a\0b\xff\xc3(\xe2\x82\xac", 9);
  auto out = std::string(p->Process(raw, {}).data);
  EXPECT_NE(out.find("\\u0000"), std::string::npos);
  EXPECT_TRUE(IsValidUtf8(out));
  auto d = Parse(out);
  std::string data = Field(d, "data");
  // \xff -> U+00FF, \xc3 -> U+00C3, the euro sign stays.
  EXPECT_EQ(data, std::string("a\0b\xc3\xbf\xc3\x83(\xe2\x82\xac", 11));
}

TEST(Utf8Test, Validation) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("\xe2\x82\xac\xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));          // cut short
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // past U+10FFFF
}

TEST(PartitionKeyTest, EachKind) {
  std::string out;
  auto det = PartitionKeyer::Create(PartitionKeyKind::kDeterministic, "", 1);
  (*det)->AppendKey("hello", "/f", &out);
  EXPECT_EQ(out, "5d41402abc4b2a76b9719d911017c592");  // MD5("hello")
  out.clear();
  auto file = PartitionKeyer::Create(PartitionKeyKind::kFile, "", 1);
  (*file)->AppendKey("x", "/var/log/a.log", &out);
  EXPECT_EQ(out, "/var/log/a.log");
  out.clear();
  auto rnd = PartitionKeyer::Create(PartitionKeyKind::kRandom, "", 7);
  (*rnd)->AppendKey("x", "", &out);
  std::string first = out;
  out.clear();
  (*rnd)->AppendKey("x", "", &out);
  EXPECT_NE(first, out);
  EXPECT_FALSE(first.empty());
  out.clear();
  // `random` draws the hash key as well (no MD5 per record), spread evenly over the hash space:
  // 4,000 draws fall about 1,000 in each quarter (4 sigma is 110).
  int quarters[4] = {0, 0, 0, 0};
  for (int i = 0; i < 4000; ++i) {
    uint128 h = 0;
    ASSERT_TRUE((*rnd)->AppendKey("x", "", &out, &h));
    ++quarters[static_cast<int>(h >> 126)];
  }
  for (int q : quarters) EXPECT_NEAR(q, 1000, 110);
  uint128 unused = 0;
  EXPECT_FALSE((*file)->AppendKey("x", "/f", &out, &unused));  // the stream hashes these
  EXPECT_FALSE((*det)->AppendKey("x", "/f", &out, &unused));
  out.clear();
  auto field = PartitionKeyer::Create(PartitionKeyKind::kField, "$.user.id", 1);
  ASSERT_TRUE(field.ok());
  (*field)->AppendKey(R"({"user":{"id":"u-17"}})", "", &out);
  EXPECT_EQ(out, "u-17");
  out.clear();
  (*field)->AppendKey(R"({"user":{"id":12345}})", "", &out);
  EXPECT_EQ(out, "12345");
  out.clear();
  (*field)->AppendKey("not json", "", &out);
  EXPECT_EQ(out.size(), 32u);  // deterministic fallback
  EXPECT_EQ((*field)->fallbacks(), 1u);
  out.clear();
  auto re = PartitionKeyer::Create(PartitionKeyKind::kRegex, R"(tenant=(\w+))", 1);
  ASSERT_TRUE(re.ok());
  (*re)->AppendKey("GET / tenant=acme ok", "", &out);
  EXPECT_EQ(out, "acme");
  EXPECT_FALSE(PartitionKeyer::Create(PartitionKeyKind::kRegex, "nogroup", 1).ok());
  EXPECT_FALSE(PartitionKeyer::Create(PartitionKeyKind::kField, "a..b", 1).ok());
  out.clear();
  (*file)->AppendKey("x", std::string(300, 'p') + "/end", &out);
  EXPECT_EQ(out.size(), kMaxPartitionKey);
  EXPECT_TRUE(out.ends_with("/end"));
}

}  // namespace
}  // namespace sluice::agent

namespace sluice::agent {
namespace {

ProcessingStep JsonStep() {
  ProcessingStep s;
  s.kind = ProcessingStep::Kind::kJson;
  return s;
}

ProcessingStep Grep(std::string field, std::string pattern, bool drop) {
  ProcessingStep s;
  s.kind = ProcessingStep::Kind::kGrep;
  s.field = std::move(field);
  s.pattern = std::move(pattern);
  s.drop = drop;
  return s;
}

TEST(ProcessorTest, JsonTakesAnObjectLineAndRefusesTheRest) {
  auto p = Make({JsonStep()});
  struct Case {
    std::string in, out;
    bool unparsed;
  };
  const Case cases[] = {
      {R"({"a":1,"b":{"c":"x"}})", R"({"a":1,"b":{"c":"x"}})", false},
      {"  {\"a\": [1, 2]} \r", R"({"a": [1, 2]})", false},
      {R"({"a":1} trailing)", R"({"a":1} trailing)", true},
      {R"([1,2])", R"([1,2])", true},
      {R"({"a":)", R"({"a":)", true},
      {"plain text", "plain text", true},
      {"", "", true},
  };
  for (const Case& c : cases) {
    auto r = p->Process(c.in, {});
    EXPECT_EQ(r.unparsed, c.unparsed) << c.in;
    EXPECT_EQ(r.data, c.out) << c.in;
    EXPECT_FALSE(r.dropped);
  }
  EXPECT_EQ(p->stats()[0].name, "1:json");
  EXPECT_EQ(p->stats()[0].failed, 5u);
}

TEST(ProcessorTest, JsonThenAddMetadataMergesFields) {
  ProcessingStep meta;
  meta.kind = ProcessingStep::Kind::kAddMetadata;
  meta.static_fields["env"] = "prod";
  auto p = Make({JsonStep(), meta});
  auto r = p->Process(R"({"msg":"hi"})", {});
  ASSERT_FALSE(r.unparsed);
  auto d = Parse(r.data);
  // The record's own fields stay fields: the line is not embedded as an escaped string.
  ASSERT_TRUE(d.IsObject()) << r.data;
  bool found_msg = false;
  for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it) {
    if (it->value.IsObject() && it->value.HasMember("msg")) found_msg = true;
    if (std::string_view(it->name.GetString()) == "msg") found_msg = true;
  }
  EXPECT_TRUE(found_msg) << r.data;
  EXPECT_EQ(r.data.find("\\\""), std::string_view::npos) << r.data;
}

TEST(ProcessorTest, GrepKeepsOrDropsByFieldOrRecord) {
  struct Case {
    ProcessingStep step;
    std::string in;
    bool dropped;
  };
  const Case cases[] = {
      // keep: only matching records go on
      {Grep("path", "^/api/", false), R"({"path":"/api/v1","code":200})", false},
      {Grep("path", "^/api/", false), R"({"path":"/health","code":200})", true},
      {Grep("path", "^/api/", false), R"({"code":200})", true},  // no such field
      // drop: matching records are dropped
      {Grep("path", "^/health", true), R"({"path":"/health"})", true},
      {Grep("path", "^/health", true), R"({"path":"/api"})", false},
      {Grep("path", "^/health", true), R"({"other":"/health"})", false},
      // nested paths, numbers and booleans as written, escapes undone
      {Grep("req.code", "^5\\d\\d$", true), R"({"req":{"code":503}})", true},
      {Grep("req.code", "^5\\d\\d$", true), R"({"req":{"code":200}})", false},
      {Grep("req.ok", "^false$", true), R"({"req":{"ok":false}})", true},
      {Grep("msg", "a\"b", false), R"({"msg":"a\"b"})", false},
      // a field of the same name elsewhere is not the one named
      {Grep("req.code", "^5", true), R"({"code":500,"req":{"x":1}})", false},
      {Grep("req.code", "^5", true), R"({"req":{"sub":{"code":500}}})", false},
      {Grep("req.code", "^5", true), R"({"req":[{"code":500}]})", false},
      {Grep("code", "^5", true), R"({"a":{"code":200},"code":500})", true},
      // null, objects and arrays are not values
      {Grep("req", ".", false), R"({"req":{"a":1}})", true},
      {Grep("req", ".", false), R"({"req":null})", true},
      // the path ends at an object: its members are not the field's
      {Grep("req", "^1$", false), R"({"req":{"req":1}})", true},
      {Grep("a.b", "^1$", false), R"({"a":{"b":{"b":1}},"x":2})", true},
      {Grep("a.b", "^2$", false), R"({"a":{"b":{"c":1}},"b":2})", true},
      {Grep("a.b", "^5$", false), R"({"a":{"x":1},"b":{"b":5}})", true},
      {Grep("a.b", "^5$", false), R"({"a":{"x":{"y":1},"b":5}})", false},
      // no field: the whole record
      {Grep("", "GET /health", true), R"(127.0.0.1 - - "GET /health HTTP/1.1" 200)", true},
      {Grep("", "GET /health", true), R"(127.0.0.1 - - "GET /api HTTP/1.1" 200)", false},
      // a field of a record that is not JSON: none
      {Grep("path", ".", false), "plain text", true},
  };
  for (const Case& c : cases) {
    auto p = Make({c.step});
    auto r = p->Process(c.in, {});
    EXPECT_EQ(r.dropped, c.dropped) << c.step.field << " ~ " << c.step.pattern << " on " << c.in;
    EXPECT_EQ(p->stats()[0].dropped, c.dropped ? 1u : 0u);
    if (!c.dropped) {
      EXPECT_EQ(r.data, c.in);
    }
  }
}

TEST(ProcessorTest, GrepAfterJsonAndAfterLogToJson) {
  // The nginx access line parsed, health checks dropped; the steps' counts say so.
  auto p = Make({LogStep("combined_apache"), Grep("request", "^GET /health", true)});
  auto r = p->Process(
      R"(10.0.0.1 - - [28/Jul/2006:10:27:10 -0300] "GET /health HTTP/1.1" 200 2 "-" "kube-probe")",
      {});
  EXPECT_TRUE(r.dropped);
  r = p->Process(
      R"(10.0.0.1 - - [28/Jul/2006:10:27:10 -0300] "GET /api HTTP/1.1" 200 2 "-" "curl")", {});
  EXPECT_FALSE(r.dropped);
  EXPECT_FALSE(r.unparsed);
  EXPECT_EQ(Field(Parse(r.data), "request"), "GET /api HTTP/1.1");
  ASSERT_EQ(p->stats().size(), 2u);
  EXPECT_EQ(p->stats()[1].name, "2:grep");
  EXPECT_EQ(p->stats()[1].dropped, 1u);
  EXPECT_EQ(p->stats()[0].failed, 0u);
}

TEST(ProcessorTest, DeepNestingIsRefusedNotACrash) {
  // A hostile line: 200,000 nested objects. json refuses it; grep finds no field in it.
  std::string deep;
  for (int i = 0; i < 200000; ++i) deep += "{\"a\":";
  deep += "1";
  for (int i = 0; i < 200000; ++i) deep += "}";
  auto p = Make({JsonStep()});
  EXPECT_TRUE(p->Process(deep, {}).unparsed);
  auto g = Make({Grep("a.a", ".", false)});
  EXPECT_TRUE(g->Process(deep, {}).dropped);
}

TEST(ProcessorTest, GrepErrorsNameTheStep) {
  auto bad = Processor::Create({JsonStep(), Grep("a", "(", false)});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("processing[1]: grep pattern"), std::string::npos)
      << bad.status().message();
  bad = Processor::Create({Grep("a..b", "x", false)});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("empty name"), std::string::npos);
}

}  // namespace
}  // namespace sluice::agent

namespace sluice::agent {
namespace {

TEST(ProcessorTest, LogfmtPairsIntoAnObject) {
  ProcessingStep s;
  s.kind = ProcessingStep::Kind::kLogfmt;
  auto p = Make({s});
  struct Case {
    std::string in, out;  // out "": unparsed (the line passes through)
  };
  const Case cases[] = {
      {R"(level=info msg="user logged in" user_id=42 latency=0.12s)",
       R"({"level":"info","msg":"user logged in","user_id":"42","latency":"0.12s"})"},
      {R"(  a=1   b=2  )", R"({"a":"1","b":"2"})"},
      {R"(debug a= b="")", R"({"debug":true,"a":"","b":""})"},
      {R"(msg="say \"hi\"\n" path=C:\dir)", R"({"msg":"say \"hi\"\n","path":"C:\\dir"})"},
      {R"(at=12:00:01 url=/x?a=b&c=d)", R"({"at":"12:00:01","url":"/x?a=b&c=d"})"},
      {R"(msg="open)", ""},  // the quote is never closed
      {R"(=value)", ""},     // no key
      {R"(a"b=1)", ""},      // a quote inside a key
      {"", ""},              // no pair
      {"   ", ""},
  };
  for (const Case& c : cases) {
    auto r = p->Process(c.in, {});
    if (c.out.empty()) {
      EXPECT_TRUE(r.unparsed) << c.in << " -> " << r.data;
      EXPECT_EQ(r.data, c.in);
    } else {
      EXPECT_FALSE(r.unparsed) << c.in;
      EXPECT_EQ(r.data, c.out) << c.in;
    }
  }
  // Bytes that are not UTF-8 in a value are repaired into valid JSON; in a key, refused.
  auto r = p->Process("k=\xff\xfe", {});
  ASSERT_FALSE(r.unparsed);
  EXPECT_FALSE(Parse(r.data).HasParseError());
  EXPECT_TRUE(p->Process("\xff=1", {}).unparsed);
}

TEST(ProcessorTest, LogfmtThenGrep) {
  ProcessingStep s;
  s.kind = ProcessingStep::Kind::kLogfmt;
  auto p = Make({s, Grep("level", "^debug$", true)});
  EXPECT_TRUE(p->Process("level=debug msg=noise", {}).dropped);
  auto r = p->Process("level=error msg=\"disk full\"", {});
  EXPECT_FALSE(r.dropped);
  EXPECT_EQ(r.data, R"({"level":"error","msg":"disk full"})");
}

}  // namespace
}  // namespace sluice::agent
