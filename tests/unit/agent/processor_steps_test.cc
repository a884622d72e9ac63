// The field-editing steps (regex, timestamp, modify, mask, sample, throttle, grep rules),
// table-tested: each case is a step list, an input record and the exact output record.
#include <gtest/gtest.h>

#include "agent/tail/processor.h"

namespace sluice::agent {
namespace {

using K = ProcessingStep::Kind;

ProcessingStep Step(K kind) {
  ProcessingStep s;
  s.kind = kind;
  return s;
}
ProcessingStep Json() { return Step(K::kJson); }
ProcessingStep Modify(std::function<void(ProcessingStep&)> f) {
  ProcessingStep s = Step(K::kModify);
  f(s);
  return s;
}
ProcessingStep Mask(std::string kind, std::string field, std::string with = "redact") {
  ProcessingStep s = Step(K::kMask);
  s.mask_kind = std::move(kind);
  s.field = std::move(field);
  s.mask_with = std::move(with);
  return s;
}

struct Case {
  const char* name;
  std::vector<ProcessingStep> steps;
  std::string in;
  std::string out;  // "<dropped>" or "<unparsed>" (passed through as it was)
};

std::string Out(Processor& p, std::string_view in, int64_t now_ms = 0) {
  ProcessResult r =
      p.Process(in, {.file = "f", .offset = 0, .now_ms = now_ms, .host = "h", .tag = "src"});
  if (r.dropped) return "<dropped>";
  if (r.unparsed) return "<unparsed>" + std::string(r.data);
  return std::string(r.data);
}

void RunTable(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    auto p = Processor::Create(c.steps);
    ASSERT_TRUE(p.ok()) << c.name << ": " << p.status().ToString();
    EXPECT_EQ(Out(**p, c.in), c.out) << c.name;
  }
}

TEST(ProcessorStepsTest, Modify) {
  RunTable({
      {"rename keeps an existing target",
       {Json(), Modify([](auto& s) {
          s.rename = {{"msg", "message"}, {"a", "b"}};
        })},
       R"({"msg":"hi","a":1,"b":2})",
       R"({"a":1,"b":2,"message":"hi"})"},
      {"hard_rename replaces",
       {Json(), Modify([](auto& s) {
          s.hard_rename = {{"a", "b"}};
        })},
       R"({"a":1,"b":2})",
       R"({"b":1})"},
      {"copy and hard_copy, nested paths made",
       {Json(), Modify([](auto& s) {
          s.copy = {{"a", "x.y"}, {"a", "b"}};
          s.hard_copy = {{"a", "c"}};
        })},
       R"({"a":{"k":[1,2]},"b":0,"c":0})",
       R"({"a":{"k":[1,2]},"b":0,"c":{"k":[1,2]},"x":{"y":{"k":[1,2]}}})"},
      {"add only when absent, set always",
       {Json(), Modify([](auto& s) {
          s.add = {{"env", "prod"}, {"level", "info"}};
          s.set = {{"host", "web-1"}, {"meta.team", "core"}};
        })},
       R"({"level":"error","host":"old"})",
       R"({"level":"error","host":"web-1","env":"prod","meta":{"team":"core"}})"},
      {"remove by path and by prefix",
       {Json(), Modify([](auto& s) {
          s.remove = {"user.password", "tmp_*", "absent"};
        })},
       R"({"tmp_a":1,"user":{"name":"x","password":"p"},"tmp_b":2,"k":3})",
       R"({"user":{"name":"x"},"k":3})"},
      {"nest by names and prefix",
       {Json(), Modify([](auto& s) {
          s.nest_under = "http";
          s.nest_keys = {"status", "req_*"};
        })},
       R"({"status":200,"req_path":"/a","req_ms":3,"msg":"x"})",
       R"({"msg":"x","http":{"status":200,"req_path":"/a","req_ms":3}})"},
      {"lift with prefix",
       {Json(), Modify([](auto& s) {
          s.lift_key = "kubernetes";
          s.lift_prefix = "k8s_";
        })},
       R"({"log":"x","kubernetes":{"pod":"p","ns":"n"}})",
       R"({"log":"x","k8s_pod":"p","k8s_ns":"n"})"},
      {"not JSON: unparsed, passed through",
       {Modify([](auto& s) {
         s.set = {{"a", "b"}};
       })},
       "plain line",
       "<unparsed>plain line"},
      {"numbers and unicode survive the document",
       {Json(), Modify([](auto& s) {
          s.set = {{"z", "é"}};
        })},
       R"({"i":-12,"u":18446744073709551615,"f":1.25,"s":"\u00e9\n","b":true,"n":null})",
       R"({"i":-12,"u":18446744073709551615,"f":1.25,"s":"é\n","b":true,"n":null,"z":"é"})"},
  });
}

TEST(ProcessorStepsTest, Mask) {
  ProcessingStep hash = Mask("ipv4", "ip", "hash");
  hash.hash_key = "k1";
  ProcessingStep prefix4 = Mask("ipv4", "ip", "prefix");
  prefix4.keep = 24;
  ProcessingStep prefix6 = Mask("ipv6", "ip", "prefix");
  prefix6.keep = 48;
  ProcessingStep card_keep = Mask("credit_card", "");
  card_keep.mask_with = "prefix";
  card_keep.keep = 6;
  card_keep.replacement = "******";
  ProcessingStep pat = Mask("pattern", "");
  pat.pattern = "token=[A-Za-z0-9]+";
  pat.replacement = "token=***";
  RunTable({
      {"the whole JSON record: a number with a finding becomes a string, so it stays JSON",
       {Json(), Mask("credit_card", "")},
       R"({"card":4111111111111111,"n":12,"note":"paid 4111111111111111"})",
       R"({"card":"[REDACTED]","n":12,"note":"paid [REDACTED]"})"},
      {"ipv4 in a field",
       {Json(), Mask("ipv4", "client_ip")},
       R"({"client_ip":"203.0.113.7","path":"/a"})",
       R"({"client_ip":"[REDACTED]","path":"/a"})"},
      {"ipv4 anywhere, not inside versions or longer numbers",
       {Mask("ipv4", "")},
       "from 10.1.2.3 and 10.1.2.3.4 v1.2.3.4.5 999.1.1.1 to 192.168.0.1.",
       "from [REDACTED] and 10.1.2.3.4 v1.2.3.4.5 999.1.1.1 to [REDACTED]."},
      {"ipv4 prefix keeps the network",
       {Json(), prefix4},
       R"({"ip":"203.0.113.7"})",
       R"({"ip":"203.0.113.0"})"},
      {"ipv6 prefix and plain",
       {Json(), prefix6},
       R"({"ip":"2001:db8:85a3::8a2e:370:7334"})",
       R"({"ip":"2001:db8:85a3::"})"},
      {"ipv6 found, times are not",
       {Mask("ipv6", "")},
       "at 12:30:45 from fe80::1 and ::ffff:10.0.0.1 ok",
       "at 12:30:45 from [REDACTED] and [REDACTED] ok"},
      {"email",
       {Mask("email", "")},
       R"({"msg":"mail a.b+c@example.co.uk now"})",
       R"({"msg":"mail [REDACTED] now"})"},
      {"credit card: Luhn-valid only",
       {card_keep},
       "paid 4111 1111 1111 1111 ref 4111111111111112",
       "paid 4111 1****** ref 4111111111111112"},
      {"hash is keyed and stable",
       {Json(), hash},
       R"({"ip":"203.0.113.7"})",
       R"({"ip":"3793ecdddeefda1e5129496b4dc961f9"})"},
      {"pattern", {pat}, "GET /x?token=abc123&y=1", "GET /x?token=***&y=1"},
      {"field absent: unchanged",
       {Json(), Mask("ipv4", "nope")},
       R"({"ip":"1.2.3.4"})",
       R"({"ip":"1.2.3.4"})"},
  });
}

TEST(ProcessorStepsTest, MaskHashIsHmacSha256) {
  // The table's expected value is HMAC-SHA-256("k1", "203.0.113.7")'s first 16 bytes in hex,
  // as `printf 203.0.113.7 | openssl dgst -sha256 -hmac k1` computes it.
  ProcessingStep hash = Mask("ipv4", "", "hash");
  hash.hash_key = "k1";
  auto p = Processor::Create({hash});
  ASSERT_TRUE(p.ok());
  std::string a = Out(**p, "203.0.113.7"), b = Out(**p, "x 203.0.113.7 y");
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ("x " + a + " y", b);
  hash.hash_key = "k2";
  auto q = Processor::Create({hash});
  EXPECT_NE(Out(**q, "203.0.113.7"), a);
  // A key longer than SHA-256's 64-byte block is hashed first (RFC 2104).
  hash.hash_key = std::string(100, 'k');
  auto l = Processor::Create({hash});
  EXPECT_EQ(Out(**l, "203.0.113.7"), "5aa60b339442ff66935ff94d5002a7db");
}

TEST(ProcessorStepsTest, RegexTypedGroups) {
  ProcessingStep line = Step(K::kRegex);
  line.pattern = R"(^(?<method>\S+) (?<path>\S+) (?<status>\d+) (?<ms>[\d.]+) (?<cached>\w+)$)";
  line.types = {{"status", "int"}, {"ms", "float"}, {"cached", "bool"}};
  ProcessingStep field = line;
  field.field = "req";
  ProcessingStep unnamed = Step(K::kRegex);
  unnamed.pattern = R"(^(\w+)=(?<v>\d+)$)";
  unnamed.types = {{"v", "int"}};
  RunTable({
      {"a line into typed fields",
       {line},
       "GET /a 200 1.5 true",
       R"({"method":"GET","path":"/a","status":200,"ms":1.5,"cached":true})"},
      {"a text not of its type stays a string",
       {line},
       "GET /a 200 1.5 maybe",
       R"({"method":"GET","path":"/a","status":200,"ms":1.5,"cached":"maybe"})"},
      {"a field parsed into the record",
       {Json(), field},
       R"({"req":"PUT /b 503 20 false","x":1})",
       R"({"req":"PUT /b 503 20 false","x":1,"method":"PUT","path":"/b","status":503,"ms":20.0,)"
       R"("cached":false})"},
      {"no match: unparsed", {line}, "nope", "<unparsed>nope"},
      {"unnamed groups are left out", {unnamed}, "a=12", R"({"v":12})"},
  });
}

TEST(ProcessorStepsTest, TimestampSetsEventTime) {
  ProcessingStep ts = Step(K::kTimestamp);
  ts.field = "ts";
  ts.time_format = "rfc3339";
  auto p = Processor::Create({Json(), ts});
  ASSERT_TRUE(p.ok());
  ProcessResult r = (*p)->Process(R"({"ts":"2024-03-10T14:05:09.123Z","m":1})", {});
  EXPECT_TRUE(r.has_event_time);
  EXPECT_EQ(r.event_ms, 1710079509123);
  EXPECT_EQ(r.data, R"({"ts":"2024-03-10T14:05:09.123Z","m":1})");  // the record is unchanged
  r = (*p)->Process(R"({"ts":"yesterday"})", {});
  EXPECT_FALSE(r.has_event_time);
  EXPECT_TRUE(r.unparsed);
  r = (*p)->Process(R"({"m":1})", {});
  EXPECT_TRUE(r.unparsed);
  EXPECT_EQ((*p)->stats()[1].changed, 1u);
  EXPECT_EQ((*p)->stats()[1].failed, 2u);

  // After an edit (the record is a document) and as an epoch number.
  ProcessingStep epoch = ts;
  epoch.time_format = "epoch_ms";
  auto q = Processor::Create({Json(), Modify([](auto& s) { s.rename = {{"time", "ts"}}; }), epoch});
  ASSERT_TRUE(q.ok());
  r = (*q)->Process(R"({"time":1710079509123})", {});
  EXPECT_TRUE(r.has_event_time);
  EXPECT_EQ(r.event_ms, 1710079509123);
  EXPECT_EQ(r.data, R"({"ts":1710079509123})");
}

TEST(ProcessorStepsTest, GrepRulesAndOr) {
  ProcessingStep all = Step(K::kGrep);
  all.rules = {{"path", "^/health"}, {"agent", "kube-probe"}};
  all.drop = true;
  ProcessingStep any = all;
  any.any = true;
  auto a = Processor::Create({Json(), all});
  auto o = Processor::Create({Json(), any});
  ASSERT_TRUE(a.ok() && o.ok());
  const std::string probe = R"({"path":"/healthz","agent":"kube-probe/1.29"})";
  const std::string health = R"({"path":"/healthz","agent":"curl"})";
  const std::string other = R"({"path":"/api","agent":"curl"})";
  EXPECT_EQ(Out(**a, probe), "<dropped>");
  EXPECT_EQ(Out(**a, health), health);
  EXPECT_EQ(Out(**o, health), "<dropped>");
  EXPECT_EQ(Out(**o, other), other);
  EXPECT_EQ((*o)->stats()[1].dropped, 1u);
}

TEST(ProcessorStepsTest, SampleAndThrottle) {
  ProcessingStep sample = Step(K::kSample);
  sample.rate = 4;
  auto s = Processor::Create({sample});
  ASSERT_TRUE(s.ok());
  int kept = 0;
  for (int i = 0; i < 100; ++i) kept += Out(**s, "x") != "<dropped>";
  EXPECT_EQ(kept, 25);

  // By key: a key's records are all kept or all dropped.
  sample.field = "trace";
  auto k = Processor::Create({Json(), sample});
  ASSERT_TRUE(k.ok());
  int kept_keys = 0;
  for (int t = 0; t < 400; ++t) {
    const std::string rec = R"({"trace":"t)" + std::to_string(t) + R"("})";
    const bool first = Out(**k, rec) != "<dropped>";
    for (int again = 0; again < 3; ++again) EXPECT_EQ(Out(**k, rec) != "<dropped>", first);
    kept_keys += first;
  }
  EXPECT_GT(kept_keys, 60);  // 100 expected of 400
  EXPECT_LT(kept_keys, 140);

  ProcessingStep th = Step(K::kThrottle);
  th.rate = 3;
  th.interval = std::chrono::milliseconds(1000);
  th.field = "user";
  auto t = Processor::Create({Json(), th});
  ASSERT_TRUE(t.ok());
  auto pass = [&](const char* user, int64_t now) {
    return Out(**t, std::string(R"({"user":")") + user + R"("})", now) != "<dropped>";
  };
  int a = 0, b = 0;
  for (int i = 0; i < 10; ++i) a += pass("a", 1000 + i);
  for (int i = 0; i < 2; ++i) b += pass("b", 1500);
  EXPECT_EQ(a, 3);
  EXPECT_EQ(b, 2);
  EXPECT_TRUE(pass("a", 2000));  // a new window
  EXPECT_EQ((*t)->stats()[1].dropped, 7u);
}

TEST(ProcessorStepsTest, OneParseForJsonModifyMaskGrep) {
  ProcessingStep grep = Step(K::kGrep);
  grep.field = "path";
  grep.pattern = "^/health";
  grep.drop = true;
  auto p = Processor::Create(
      {Json(), Modify([](auto& s) { s.remove = {"secret"}; }), Mask("ipv4", "ip"), grep});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(Out(**p, R"({"ip":"10.0.0.1","path":"/a","secret":"s"} )"),
            R"({"ip":"[REDACTED]","path":"/a"})");
  EXPECT_EQ(Out(**p, R"({"ip":"10.0.0.1","path":"/health"})"), "<dropped>");
  EXPECT_EQ(Out(**p, R"({"ip":"10.0.0.1"} trailing)"), R"(<unparsed>{"ip":"10.0.0.1"} trailing)");
  // A text step after edits sees the edited record.
  ProcessingStep meta = Step(K::kAddMetadata);
  meta.add_file = true;
  auto q = Processor::Create({Json(), Mask("ipv4", "ip"), meta});
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(Out(**q, R"({"ip":"10.0.0.1"})"), R"({"file":"f","data":{"ip":"[REDACTED]"}})");
}

TEST(ProcessorStepsTest, AddMetadataKubernetesFromThePath) {
  ProcessingStep meta = Step(K::kAddMetadata);
  meta.add_kubernetes = true;
  auto p = Processor::Create({Json(), meta});
  ASSERT_TRUE(p.ok());
  const std::string id(64, 'a');
  const std::string file = "/var/log/containers/web-7d9f8b-x2x4z_shop_nginx-" + id + ".log";
  ProcessResult r = (*p)->Process(
      R"({"log":"x"})", {.file = file, .offset = 0, .now_ms = 0, .host = "h", .tag = "src"});
  EXPECT_EQ(r.data, R"({"kubernetes":{"pod_name":"web-7d9f8b-x2x4z","namespace_name":"shop",)"
                    R"("container_name":"nginx","container_id":")" +
                        id + R"("},"data":{"log":"x"}})");
  r = (*p)->Process(
      R"({"log":"y"})",
      {.file = "/var/log/pods/shop_web-1_0f9c1c2e-5b6a-4d3e-9f10-1234567890ab/app/0.log",
       .offset = 0,
       .now_ms = 0,
       .host = "h",
       .tag = "src"});
  EXPECT_EQ(
      r.data,
      R"({"kubernetes":{"pod_name":"web-1","namespace_name":"shop",)"
      R"("container_name":"app","pod_uid":"0f9c1c2e-5b6a-4d3e-9f10-1234567890ab"},"data":{"log":"y"}})");
  r = (*p)->Process(
      R"({"log":"z"})",
      {.file = "/var/log/syslog", .offset = 0, .now_ms = 0, .host = "h", .tag = "src"});
  EXPECT_EQ(r.data, R"({"data":{"log":"z"}})");  // not a container log: nothing added
}

ProcessingStep Lua(std::string code, std::string call = "f") {
  ProcessingStep s = Step(K::kLua);
  s.lua.code = std::move(code);
  s.lua.call = std::move(call);
  s.unparsed_to_error_output = true;
  return s;
}

TEST(ProcessorStepsTest, LuaStepKeepsDropsRewritesAndTimes) {
  auto p = Processor::Create({Json(), Lua(R"(
    function f(tag, ts, r)
      if r.path == "/health" then return -1, ts, r end
      if r.keep then return 0, ts, r end
      if r.at then return 1, r.at, r end
      if r.boom then error("boom " .. tag) end
      if r.split then return 2, ts, {{a = 1}, {a = 2}} end
      r.tag = tag
      r.n = (r.n or 0) + 1
      return 2, ts, r
    end)")});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  RecordContext ctx{"f", 0, 1000, "h", "app"};
  EXPECT_TRUE((*p)->Process(R"({"path":"/health"})", ctx).dropped);
  EXPECT_EQ((*p)->Process(R"({"keep":true, "x" : 1})", ctx).data, R"({"keep":true, "x" : 1})");
  ProcessResult r = (*p)->Process(R"({"n":1,"path":"/a"})", ctx);
  EXPECT_EQ(r.data, R"({"n":2,"path":"/a","tag":"app"})");
  EXPECT_FALSE(r.has_event_time);
  r = (*p)->Process(R"({"at":1710079509.123})", ctx);
  EXPECT_TRUE(r.has_event_time);
  EXPECT_EQ(r.event_ms, 1710079509123);
  r = (*p)->Process(R"({"boom":1})", ctx);
  EXPECT_TRUE(r.unparsed);
  EXPECT_TRUE(r.to_error_output);
  EXPECT_EQ(r.data, R"({"boom":1})");  // the record as it came to the step
  EXPECT_NE(r.error.find("boom app"), std::string_view::npos) << r.error;
  r = (*p)->Process(R"({"split":1})", ctx);
  EXPECT_TRUE(r.unparsed);
  EXPECT_NE(r.error.find("split"), std::string_view::npos) << r.error;
  // A line that is no JSON comes as {log = line}.
  auto q = Processor::Create({Lua("function f(t, ts, r) r.len = #r.log return 2, ts, r end")});
  ASSERT_TRUE(q.ok());
  EXPECT_EQ((*q)->Process("plain", ctx).data, R"({"log":"plain","len":5})");
  const auto& st = (*p)->stats();
  EXPECT_EQ(st[1].name, "2:lua");
  EXPECT_EQ(st[1].dropped, 1u);
  EXPECT_EQ(st[1].changed, 2u);
  EXPECT_EQ(st[1].failed, 2u);
}

TEST(ProcessorStepsTest, LuaStepErrorsAtCreate) {
  auto p = Processor::Create({Lua("function f( end")});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("processing[0]: lua"), std::string::npos)
      << p.status().ToString();
}

TEST(ProcessorStepsTest, CreateErrors) {
  ProcessingStep bad_type = Step(K::kRegex);
  bad_type.pattern = "(?<a>x)";
  bad_type.types = {{"b", "int"}};
  ProcessingStep bad_time = Step(K::kTimestamp);
  bad_time.field = "t";
  bad_time.time_format = "nonsense";
  ProcessingStep bad_mask = Mask("mac", "");
  ProcessingStep no_secret = Mask("email", "", "hash");
  ProcessingStep bad_path = Modify([](auto& s) { s.remove = {"a..b"}; });
  struct {
    ProcessingStep step;
    const char* says;
  } cases[] = {{bad_type, "no named group"},
               {bad_time, "strptime"},
               {bad_mask, "none of ipv4"},
               {no_secret, "hash_secret"},
               {bad_path, "empty name"}};
  for (auto& c : cases) {
    auto p = Processor::Create({Json(), c.step});
    ASSERT_FALSE(p.ok()) << c.says;
    EXPECT_NE(p.status().message().find("processing[1]"), std::string::npos)
        << p.status().ToString();
    EXPECT_NE(p.status().message().find(c.says), std::string::npos) << p.status().ToString();
  }
}

}  // namespace
}  // namespace sluice::agent
