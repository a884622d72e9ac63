// The multiline presets' line tests and the container log parsers, table-tested.
#include "agent/tail/multiline_preset.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "agent/tail/container_log.h"

namespace sluice::agent {
namespace {

struct LineCase {
  const char* line;
  bool want;
};

TEST(MultilinePresetTest, NamesRoundTrip) {
  for (const char* name : {"java", "python", "go", "docker", "cri"}) {
    auto p = ParseMultilinePreset(name);
    ASSERT_TRUE(p.has_value()) << name;
    EXPECT_EQ(MultilinePresetName(*p), name);
  }
  EXPECT_FALSE(ParseMultilinePreset("").has_value());
  EXPECT_FALSE(ParseMultilinePreset("Java").has_value());
}

TEST(MultilinePresetTest, JavaContinues) {
  const LineCase cases[] = {
      {"\tat com.example.App.main(App.java:10)", true},
      {"    at com.example.App.main(App.java:10)", true},
      {"\t... 3 more", true},
      {"... 12 common frames omitted", true},
      {"Caused by: java.io.IOException: gone", true},
      {"\tCaused by: java.io.IOException: gone", true},
      {"Suppressed: java.lang.RuntimeException: close", true},
      {"\tSuppressed: java.lang.RuntimeException: close", true},
      {"\t\tat com.example.Res.close(Res.java:9)\r", true},
      {"  indented continuation of a message", true},
      {"java.lang.IllegalStateException: boom", false},
      {"Exception in thread \"main\" java.lang.Error", false},
      {"2024-05-01 12:00:00 ERROR request failed", false},
      {"", false},
      {"   ", false},
      {"\t\r", false},
      {"...", false},
      {"... more", false},
      {"Caused", false},
  };
  for (const LineCase& c : cases) EXPECT_EQ(JavaContinues(c.line), c.want) << c.line;
}

TEST(MultilinePresetTest, PythonLines) {
  EXPECT_TRUE(IsPythonTracebackStart("Traceback (most recent call last):"));
  EXPECT_TRUE(IsPythonTracebackStart("Traceback (most recent call last):\r"));
  EXPECT_TRUE(IsPythonTracebackStart("Exception Group Traceback (most recent call last):"));
  EXPECT_FALSE(IsPythonTracebackStart("  Traceback (most recent call last):"));
  EXPECT_FALSE(IsPythonTracebackStart("Traceback (most recent call last): x"));

  const LineCase exception_lines[] = {
      {"ValueError: invalid literal for int() with base 10: 'x'", true},
      {"requests.exceptions.HTTPError: 404 Client Error", true},
      {"app.errors.RequestError: bad payload", true},
      {"KeyboardInterrupt", true},
      {"StopIteration\r", true},
      {"ValueError:", true},
      {"2024-05-01 12:00:00 INFO next", false},
      {"INFO:app:next request", true},  // as Fluent Bit's rule: a name and a colon
      {"a..b: x", false},
      {".x: y", false},
      {": y", false},
      {"", false},
      {"  File \"x.py\", line 1, in f", false},
      {"print(x): y", false},
  };
  for (const LineCase& c : exception_lines) {
    EXPECT_EQ(IsPythonExceptionLine(c.line), c.want) << c.line;
  }
  EXPECT_TRUE(
      IsPythonChainMarker("During handling of the above exception, another exception occurred:"));
  EXPECT_TRUE(
      IsPythonChainMarker("The above exception was the direct cause of the following exception:"));
  EXPECT_FALSE(IsPythonChainMarker("During handling of the above exception"));
}

TEST(MultilinePresetTest, GoLines) {
  const LineCase starts[] = {
      {"panic: runtime error: index out of range [5] with length 3", true},
      {"fatal error: all goroutines are asleep - deadlock!", true},
      {"goroutine 1 [running]:", true},
      {"2024/05/01 12:00:00 http: panic serving 10.0.0.1:51234: boom", true},
      {"panic:", false},
      {"  panic: nested", false},
      {"2024/05/01 12:00:00 serving", false},
  };
  for (const LineCase& c : starts) EXPECT_EQ(IsGoTraceStart(c.line), c.want) << c.line;

  const LineCase trace_lines[] = {
      {"goroutine 7 [chan receive, 2 minutes]:", true},
      {"goroutine 18 gp=0xc000102380 m=0 mp=0x5f4ae0 [running]:", true},
      {"main.main()", true},
      {"main.(*worker).run(0x0)", true},
      {"net/http.(*conn).serve(0xc000120000, {0x7a1e88, 0xc0001a4000})", true},
      {"panic({0x4647e0?, 0x4b3a00?})", true},
      {"created by main.startPool in goroutine 1", true},
      {"\t/app/worker.go:31 +0x12", true},
      {"\tpanic: second [recovered]", true},
      {"[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x47e0b2]", true},
      {"panic: again", true},
      {"runtime stack:", true},
      {"...additional frames elided...", true},
      {"", false},
      {"exit status 2", false},
      {"2024/05/01 12:00:05 restarted (pid 7)", false},
      {"goroutine 1", false},
      {"main.main", false},
  };
  for (const LineCase& c : trace_lines) EXPECT_EQ(IsGoTraceLine(c.line), c.want) << c.line;

  EXPECT_TRUE(IsGoExitStatus("exit status 2"));
  EXPECT_TRUE(IsGoExitStatus("exit status 255\r"));
  EXPECT_FALSE(IsGoExitStatus("exit status "));
  EXPECT_FALSE(IsGoExitStatus("exit status two"));
}

TEST(ContainerLogTest, CriLines) {
  struct Case {
    const char* line;
    bool ok;
    const char* time;
    int stream;
    bool partial;
    const char* content;
  };
  const Case cases[] = {
      {"2024-05-01T12:00:00.000000001Z stdout F hello world", true,
       "2024-05-01T12:00:00.000000001Z", kStdout, false, "hello world"},
      {"2024-05-01T12:00:00.000000001+02:00 stderr P part ", true,
       "2024-05-01T12:00:00.000000001+02:00", kStderr, true, "part "},
      {"2024-05-01T12:00:00Z stdout F ", true, "2024-05-01T12:00:00Z", kStdout, false, ""},
      {"2024-05-01T12:00:00Z stdout F", true, "2024-05-01T12:00:00Z", kStdout, false, ""},
      {"2024-05-01T12:00:00Z stdout P:x  two  spaces", true, "2024-05-01T12:00:00Z", kStdout, true,
       " two  spaces"},
      {"2024-05-01T12:00:00Z stdin F x", false, "", 0, false, ""},
      {"2024-05-01T12:00:00Z stdout  F x", false, "", 0, false, ""},
      {"hello stdout F x", false, "", 0, false, ""},
      {"2024-05-01T12:00:00Z", false, "", 0, false, ""},
      {"", false, "", 0, false, ""},
  };
  for (const Case& c : cases) {
    CriLine l;
    ASSERT_EQ(ParseCriLine(c.line, &l), c.ok) << c.line;
    if (!c.ok) continue;
    EXPECT_EQ(l.time, c.time) << c.line;
    EXPECT_EQ(l.stream, c.stream) << c.line;
    EXPECT_EQ(l.partial, c.partial) << c.line;
    EXPECT_EQ(l.content, c.content) << c.line;
  }
}

TEST(ContainerLogTest, DockerLines) {
  DockerLineParser p;
  ASSERT_TRUE(
      p.Parse(R"({"log":"GET /health 200\n","stream":"stdout","time":"2024-05-01T12:00:00.1Z"})"));
  EXPECT_EQ(p.log(), "GET /health 200\n");
  EXPECT_EQ(p.stream(), kStdout);
  EXPECT_EQ(p.others(), R"("stream":"stdout","time":"2024-05-01T12:00:00.1Z")");

  // Escapes are decoded; other members (any JSON) are kept in order.
  ASSERT_TRUE(p.Parse(
      R"({"log":"caf\u00e9 \"q\"\tx","stream":"stderr","attrs":{"tag":"web","n":[1,2.5e3,null,true]},"time":"t"})"));
  EXPECT_EQ(p.log(), "caf\xc3\xa9 \"q\"\tx");
  EXPECT_EQ(p.stream(), kStderr);
  EXPECT_EQ(p.others(),
            R"("stream":"stderr","attrs":{"tag":"web","n":[1,2.5e3,null,true]},"time":"t")");

  const char* not_docker[] = {
      "plain text",
      "",
      R"({"log":"x\n","stream":"stdin","time":"t"})",
      R"({"log":1,"stream":"stdout"})",
      R"({"stream":"stdout","time":"t"})",
      R"({"log":"x\n","time":"t"})",
      R"({"log":"x\n","stream":"stdout")",
      R"({"log":"x\n","stream":"stdout"} trailing)",
      R"(["log"])",
  };
  for (const char* line : not_docker) EXPECT_FALSE(p.Parse(line)) << line;
  // And it recovers after a failure.
  ASSERT_TRUE(p.Parse(R"({"log":"y","stream":"stdout"})"));
  EXPECT_EQ(p.log(), "y");
  EXPECT_EQ(p.others(), R"("stream":"stdout")");
}

TEST(ContainerLogTest, JsonTextIsTheWritersText) {
  const std::string inputs[] = {
      "",
      "plain text",
      std::string("ctl \x01\x1f\x7f \" \\ / \b\f\n\r\t nul:\0.", 26),
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
      "bad \xff\xc3 utf-8 \xed\xa0\x80",
      "cut \xe2\x82",
  };
  for (const std::string& in : inputs) {
    std::string want, got = "prefix:", scratch;
    StringOutput os(&want);
    JsonWriter w(os);
    WriteString(&w, in, &scratch);
    AppendJsonText(in, &got, &scratch);
    EXPECT_EQ(got, "prefix:" + want) << in;
  }
  std::string out;
  std::string scratch;
  AppendJsonText(std::string("\x01\"", 2), &out, &scratch);
  EXPECT_EQ(out, R"("\u0001\"")");
}

TEST(ContainerLogTest, JsonRecordIsCutToFitAndStaysJson) {
  std::string out, s1, s2;
  EXPECT_FALSE(BuildJsonRecord("{\"log\":", "a\"b", false, "}", 100, "~", &out, &s1, &s2));
  EXPECT_EQ(out, R"({"log":"a\"b"})");
  // 20 bytes: {"log":""} is 10, so 9 bytes of log and the terminator.
  EXPECT_TRUE(
      BuildJsonRecord("{\"log\":", std::string(50, 'x'), false, "}", 20, "~", &out, &s1, &s2));
  EXPECT_EQ(out, "{\"log\":\"" + std::string(9, 'x') + "~\"}");
  // Escaped bytes count as written; a UTF-8 character is not split.
  EXPECT_TRUE(
      BuildJsonRecord("{\"log\":", "\"\"\"\"\"\"\"\"\"\"", false, "}", 16, "", &out, &s1, &s2));
  EXPECT_EQ(out, R"({"log":"\"\"\""})");
  EXPECT_TRUE(
      BuildJsonRecord("{\"log\":", "ab\xc3\xa9\xc3\xa9", false, "}", 14, "", &out, &s1, &s2));
  EXPECT_EQ(out, "{\"log\":\"ab\xc3\xa9\"}");
  // Overflow: cut even when it would fit.
  EXPECT_TRUE(BuildJsonRecord("{\"log\":", "abc", true, "}", 100, "!", &out, &s1, &s2));
  EXPECT_EQ(out, R"({"log":"abc!"})");
  // Not even an empty log fits: the text is cut.
  EXPECT_TRUE(BuildJsonRecord("{\"log\":", "abc", false, "}", 6, "!", &out, &s1, &s2));
  EXPECT_EQ(out, "{\"log!");
}

}  // namespace
}  // namespace sluice::agent
