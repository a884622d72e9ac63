// The Framer's multiline presets on real-looking traces and container logs: the exact records,
// their offsets, the committed offset, and the same records when the bytes come in pieces.
#include <gtest/gtest.h>

#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "agent/tail/framer.h"

namespace sluice::agent {
namespace {

struct Record {
  std::string data;
  uint64_t begin;
  uint64_t end;
  bool operator==(const Record&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Record& r) {
  return os << "{[" << r.begin << ", " << r.end << ") \"" << r.data << "\"}";
}

struct Collect final : RecordSink {
  std::vector<Record> records;
  void OnRecord(std::string_view data, uint64_t begin, uint64_t end) override {
    records.push_back({std::string(data), begin, end});
  }
};

// Offset of the start of line `n` (0-based) of `text`; n == line count: its size.
uint64_t LineStart(const std::string& text, int n) {
  size_t at = 0;
  for (int i = 0; i < n; ++i) at = text.find('\n', at) + 1;
  return at;
}

// The lines [first, last] of `text` joined with '\n', with their offsets.
Record Lines(const std::string& text, int first, int last) {
  uint64_t b = LineStart(text, first), e = LineStart(text, last + 1);
  return {text.substr(b, e - b - 1), b, e};
}

// A record whose text is given, from lines [first, last].
Record Json(const std::string& text, const std::string& data, int first, int last) {
  return {data, LineStart(text, first), LineStart(text, last + 1)};
}

std::vector<Record> Frame(const FramerOptions& o, const std::string& text, size_t piece,
                          bool flush = true) {
  Framer f(o, 0);
  Collect c;
  for (size_t at = 0; at < text.size(); at += piece) {
    f.Feed(std::string_view(text).substr(at, piece), &c);
  }
  if (flush) f.Flush(&c);
  return c.records;
}

// Whole, then in pieces of 1, 7 and 4096 bytes: the same records.
void ExpectRecords(MultilinePreset preset, const std::string& text,
                   const std::vector<Record>& want) {
  FramerOptions o;
  o.preset = preset;
  ASSERT_TRUE(Framer::Validate(o).ok());
  EXPECT_EQ(Frame(o, text, text.size()), want);
  for (size_t piece : {1, 7, 4096}) EXPECT_EQ(Frame(o, text, piece), want) << "piece " << piece;
}

const std::string kJavaTrace =
    "2024-05-01 12:00:00,123 INFO  [main] c.e.App - starting\n"                        // 0
    "Exception in thread \"main\" java.lang.IllegalStateException: could not start\n"  // 1
    "\tat com.example.App.start(App.java:42)\n"
    "\tat com.example.App.main(App.java:10)\n"
    "Caused by: java.io.UncheckedIOException: config unreadable\n"
    "\tat com.example.Config.load(Config.java:77)\n"
    "\tat com.example.App.start(App.java:40)\n"
    "\t... 1 more\n"
    "\tSuppressed: java.lang.RuntimeException: close failed\n"
    "\t\tat com.example.Config.close(Config.java:90)\n"
    "\t\t... 2 more\n"
    "Caused by: java.nio.file.NoSuchFileException: /etc/app.yaml\n"
    "\tat java.base/sun.nio.fs.UnixException.translateToIOException(UnixException.java:92)\n"
    "\t... 12 common frames omitted\n"                          // 13
    "2024-05-01 12:00:01,000 INFO  [main] c.e.App - exiting\n"  // 14
    "java.lang.NullPointerException\n"                          // 15: printStackTrace()
    "\tat com.example.App.stop(App.java:50)\n";                 // 16

TEST(FramerPresetsTest, JavaTraceWithCausesAndSuppressed) {
  ExpectRecords(MultilinePreset::kJava, kJavaTrace,
                {Lines(kJavaTrace, 0, 0), Lines(kJavaTrace, 1, 13), Lines(kJavaTrace, 14, 14),
                 Lines(kJavaTrace, 15, 16)});
}

TEST(FramerPresetsTest, JavaRecordIsPendingUntilTheNextRecordOrFlush) {
  FramerOptions o;
  o.preset = MultilinePreset::kJava;
  Framer f(o, 0);
  Collect c;
  f.Feed(kJavaTrace.substr(0, LineStart(kJavaTrace, 14)), &c);
  // The trace could go on: only the first line is out, and the checkpoint stays before the trace.
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(f.committed_offset(), LineStart(kJavaTrace, 1));
  EXPECT_TRUE(f.has_pending());
  f.Flush(&c);  // flush_timeout
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1], Lines(kJavaTrace, 1, 13));
  EXPECT_EQ(f.committed_offset(), LineStart(kJavaTrace, 14));
  EXPECT_FALSE(f.has_pending());
}

const std::string kPythonTrace =
    "INFO:app:handling request 7\n"         // 0
    "Traceback (most recent call last):\n"  // 1
    "  File \"/srv/app/handlers.py\", line 12, in handle\n"
    "    value = int(payload[\"n\"])\n"
    "            ^^^^^^^^^^^^^^^^^^\n"
    "ValueError: invalid literal for int() with base 10: 'x'\n"
    "\n"
    "During handling of the above exception, another exception occurred:\n"
    "\n"
    "Traceback (most recent call last):\n"
    "  File \"/srv/app/main.py\", line 30, in <module>\n"
    "    handle(req)\n"
    "  File \"/srv/app/handlers.py\", line 14, in handle\n"
    "    raise RequestError(\"bad payload\") from err\n"
    "app.errors.RequestError: bad payload\n"
    "\n"
    "The above exception was the direct cause of the following exception:\n"
    "\n"
    "Traceback (most recent call last):\n"
    "  File \"/srv/app/main.py\", line 33, in <module>\n"
    "    sys.exit(serve())\n"
    "SystemExit: 1\n"                       // 21
    "INFO:app:handling request 8\n"         // 22
    "Traceback (most recent call last):\n"  // 23
    "  File \"/srv/app/handlers.py\", line 12, in handle\n"
    "    value = int(payload[\"n\"])\n"
    "KeyError: 'n'\n"                                                        // 26
    "\n"                                                                     // 27
    "INFO:app:handling request 9\n"                                          // 28
    "During handling of the above exception, another exception occurred:\n"  // 29
    "INFO:app:done\n";                                                       // 30

TEST(FramerPresetsTest, PythonChainedTracebacksAreOneRecord) {
  ExpectRecords(
      MultilinePreset::kPython, kPythonTrace,
      {Lines(kPythonTrace, 0, 0), Lines(kPythonTrace, 1, 21), Lines(kPythonTrace, 22, 22),
       Lines(kPythonTrace, 23, 26), Lines(kPythonTrace, 27, 27), Lines(kPythonTrace, 28, 28),
       Lines(kPythonTrace, 29, 29), Lines(kPythonTrace, 30, 30)});
}

TEST(FramerPresetsTest, PythonLinesOutsideATraceAreNotHeld) {
  FramerOptions o;
  o.preset = MultilinePreset::kPython;
  Framer f(o, 0);
  Collect c;
  f.Feed("INFO:app:a\nTraceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n",
         &c);
  ASSERT_EQ(c.records.size(), 1u);  // the plain line is out at once
  EXPECT_EQ(f.committed_offset(), 11u);
  f.Feed("ValueError: x\n\n", &c);  // ended, but a chained exception may follow
  EXPECT_EQ(c.records.size(), 1u);
  EXPECT_EQ(f.committed_offset(), 11u);
  f.Flush(&c);  // flush_timeout: the trace, then the held blank line
  ASSERT_EQ(c.records.size(), 3u);
  EXPECT_EQ(c.records[1].data,
            "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n"
            "ValueError: x");
  EXPECT_EQ(c.records[2], (Record{"", c.records[1].end, c.records[1].end + 1}));
  EXPECT_EQ(f.committed_offset(), f.next_offset());
  EXPECT_FALSE(f.has_pending());
}

const std::string kGoPanic =
    "2024/05/01 12:00:00 starting worker pool\n"                                 // 0
    "panic: runtime error: invalid memory address or nil pointer dereference\n"  // 1
    "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x47e0b2]\n"
    "\n"
    "goroutine 7 [running]:\n"
    "main.(*worker).run(0x0)\n"
    "\t/app/worker.go:31 +0x12\n"
    "created by main.startPool in goroutine 1\n"
    "\t/app/pool.go:18 +0x65\n"
    "\n"
    "goroutine 1 [chan receive]:\n"
    "main.main()\n"
    "\t/app/main.go:22 +0x9c\n"
    "\n"
    "goroutine 8 [select]:\n"
    "main.(*worker).loop(0xc0000a2000, {0x4d5e20, 0xc0000b4000})\n"
    "\t/app/worker.go:50 +0x1b4\n"
    "created by main.startPool in goroutine 1\n"
    "\t/app/pool.go:18 +0x65\n"
    "exit status 2\n"                                       // 19
    "2024/05/01 12:00:05 restarted\n"                       // 20
    "fatal error: all goroutines are asleep - deadlock!\n"  // 21
    "\n"
    "goroutine 1 [chan receive]:\n"
    "main.main()\n"
    "\t/app/main.go:9 +0x2d\n"                                        // 25
    "\n"                                                              // 26
    "2024/05/01 12:00:09 http: panic serving 10.0.0.1:51234: boom\n"  // 27
    "goroutine 33 [running]:\n"
    "net/http.(*conn).serve.func1()\n"
    "\t/usr/local/go/src/net/http/server.go:1898 +0xbe\n"  // 30
    "2024/05/01 12:00:10 ok\n";                            // 31

TEST(FramerPresetsTest, GoPanicWithSeveralGoroutines) {
  ExpectRecords(MultilinePreset::kGo, kGoPanic,
                {Lines(kGoPanic, 0, 0), Lines(kGoPanic, 1, 19), Lines(kGoPanic, 20, 20),
                 Lines(kGoPanic, 21, 25), Lines(kGoPanic, 26, 26), Lines(kGoPanic, 27, 30),
                 Lines(kGoPanic, 31, 31)});
}

TEST(FramerPresetsTest, GoTraceEndsAtExitStatusWithoutWaiting) {
  FramerOptions o;
  o.preset = MultilinePreset::kGo;
  Framer f(o, 0);
  Collect c;
  f.Feed(kGoPanic.substr(0, LineStart(kGoPanic, 20)), &c);
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1], Lines(kGoPanic, 1, 19));
  EXPECT_EQ(f.committed_offset(), LineStart(kGoPanic, 20));
  EXPECT_FALSE(f.has_pending());
}

std::string DockerLine(const std::string& log_json, const char* stream, int nanos) {
  char time[64];
  std::snprintf(time, sizeof(time), "2024-05-01T12:00:00.%09dZ", nanos);
  return "{\"log\":\"" + log_json + "\",\"stream\":\"" + stream + "\",\"time\":\"" + time + "\"}\n";
}

TEST(FramerPresetsTest, DockerJoinsA16KiBSplitLineAcrossInterleavedStderr) {
  const std::string a(16384, 'a'), b(16384, 'b'), c(7232, 'c');
  const std::string text = DockerLine(a, "stdout", 1) +                    // 0: P
                           DockerLine("warn: disk 91%\\n", "stderr", 2) +  // 1
                           DockerLine(b, "stdout", 3) +                    // 2: P
                           DockerLine(c + "\\n", "stdout", 4) +            // 3: F
                           DockerLine("tab\\there \\\"q\\\"\\n", "stdout", 5) +
                           "not a docker line\n" +                 // 5
                           DockerLine("err part ", "stderr", 6) +  // 6: P
                           DockerLine("out\\n", "stdout", 7) +     // 7
                           DockerLine("end\\n", "stderr", 8);      // 8
  const std::string t = "\",\"stream\":\"stdout\",\"time\":\"2024-05-01T12:00:00.00000000";
  const std::string e = "\",\"stream\":\"stderr\",\"time\":\"2024-05-01T12:00:00.00000000";
  Record warn = Json(text, "{\"log\":\"warn: disk 91%" + e + "2Z\"}", 1, 1);
  warn.end = 0;  // the stdout line that began before it is not out yet
  Record out = Json(text, "{\"log\":\"out" + t + "7Z\"}", 7, 7);
  out.end = LineStart(text, 6);  // nor the stderr part
  ExpectRecords(
      MultilinePreset::kDocker, text,
      {warn, Json(text, "{\"log\":\"" + a + b + c + t + "1Z\"}", 0, 3),
       Json(text, "{\"log\":\"tab\\there \\\"q\\\"" + t + "5Z\"}", 4, 4), Lines(text, 5, 5), out,
       Json(text, "{\"log\":\"err part end" + e + "6Z\"}", 6, 8)});
}

TEST(FramerPresetsTest, DockerKeepsOtherMembersAndFlushesAPartialLine) {
  FramerOptions o;
  o.preset = MultilinePreset::kDocker;
  Framer f(o, 0);
  Collect c;
  const std::string line =
      "{\"log\":\"half \",\"stream\":\"stdout\",\"attrs\":{\"tag\":\"web\"},\"time\":\"t1\"}\n";
  f.Feed(line, &c);
  EXPECT_TRUE(c.records.empty());
  EXPECT_TRUE(f.has_pending());
  EXPECT_EQ(f.committed_offset(), 0u);
  f.Flush(&c);  // flush_timeout: what came of the line so far
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0],
            (Record{"{\"log\":\"half \",\"stream\":\"stdout\",\"attrs\":{\"tag\":\"web\"},"
                    "\"time\":\"t1\"}",
                    0, line.size()}));
  EXPECT_EQ(f.committed_offset(), line.size());
}

TEST(FramerPresetsTest, DockerJoinedRecordIsBoundedAndStaysJson) {
  FramerOptions o;
  o.preset = MultilinePreset::kDocker;
  o.max_record_size = 200;
  o.truncated_record_terminator = "...";
  const std::string text = DockerLine(std::string(100, 'x'), "stdout", 1) +
                           DockerLine(std::string(100, 'y'), "stdout", 2) +
                           DockerLine(std::string(100, 'z') + "\\n", "stdout", 3) +
                           DockerLine(std::string(150, 'w') + "\\n", "stdout", 4);
  // {"log":"xx..yy...","stream":"stdout","time":"2024-05-01T12:00:00.000000001Z"} in 200 bytes.
  const std::string tail =
      "...\",\"stream\":\"stdout\",\"time\":\"2024-05-01T12:00:00.000000001Z\"}";
  const std::string log = std::string(100, 'x') + std::string(100, 'y');
  Record joined = Json(text, "{\"log\":\"" + log.substr(0, 200 - 8 - tail.size()) + tail, 0, 2);
  // A line longer than max_record_size is cut: no longer JSON, it passes through cut.
  Record cut = Lines(text, 3, 3);
  cut.data = cut.data.substr(0, 197) + "...";
  for (size_t piece : {size_t{5}, text.size()}) {
    auto records = Frame(o, text, piece);
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[0].data.size(), 200u);
    EXPECT_EQ(records[0], joined);
    EXPECT_EQ(records[1], cut);
  }
}

TEST(FramerPresetsTest, CriJoinsPartialLinesPerStream) {
  const std::string text =
      "2024-05-01T12:00:00.000000001Z stdout P first part, \n"   // 0
      "2024-05-01T12:00:00.000000002Z stderr F an error line\n"  // 1
      "2024-05-01T12:00:00.000000003Z stdout P second part, \n"  // 2
      "2024-05-01T12:00:00.000000004Z stdout F last \"part\"\n"  // 3
      "2024-05-01T12:00:00.000000005Z stdout F \n"               // 4
      "garbage without a time\n"                                 // 5
      "2024-05-01T12:00:00.000000006Z stderr P a\n"              // 6
      "2024-05-01T12:00:00.000000007Z stderr F b\n";             // 7
  Record err = Json(text,
                    "{\"time\":\"2024-05-01T12:00:00.000000002Z\",\"stream\":\"stderr\","
                    "\"log\":\"an error line\"}",
                    1, 1);
  err.end = 0;
  ExpectRecords(MultilinePreset::kCri, text,
                {err,
                 Json(text,
                      "{\"time\":\"2024-05-01T12:00:00.000000001Z\",\"stream\":\"stdout\","
                      "\"log\":\"first part, second part, last \\\"part\\\"\"}",
                      0, 3),
                 Json(text,
                      "{\"time\":\"2024-05-01T12:00:00.000000005Z\",\"stream\":\"stdout\","
                      "\"log\":\"\"}",
                      4, 4),
                 Lines(text, 5, 5),
                 Json(text,
                      "{\"time\":\"2024-05-01T12:00:00.000000006Z\",\"stream\":\"stderr\","
                      "\"log\":\"ab\"}",
                      6, 7)});
}

TEST(FramerPresetsTest, CriCommittedOffsetNeverPassesAPendingPart) {
  FramerOptions o;
  o.preset = MultilinePreset::kCri;
  Framer f(o, 0);
  Collect c;
  const std::string p1 = "2024-05-01T12:00:00Z stdout P one \n";
  const std::string e1 = "2024-05-01T12:00:01Z stderr P oops \n";
  const std::string f1 = "2024-05-01T12:00:02Z stdout F two\n";
  const std::string f2 = "2024-05-01T12:00:03Z stderr F again\n";
  f.Feed(p1 + e1 + f1, &c);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].begin, 0u);
  EXPECT_EQ(c.records[0].end, p1.size());  // the stderr part at p1.size() is still pending
  EXPECT_EQ(f.committed_offset(), p1.size());
  f.Feed(f2, &c);
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1].data,
            "{\"time\":\"2024-05-01T12:00:01Z\",\"stream\":\"stderr\",\"log\":\"oops again\"}");
  EXPECT_EQ(f.committed_offset(), f.next_offset());
  // A restart from the checkpoint (the stderr part's line) sees the stdout record again, once.
  f.Reset(p1.size());
  Collect again;
  f.Feed(e1 + f1 + f2, &again);
  ASSERT_EQ(again.records.size(), 2u);
  EXPECT_EQ(again.records[0].data,
            "{\"time\":\"2024-05-01T12:00:02Z\",\"stream\":\"stdout\",\"log\":\"two\"}");
  EXPECT_EQ(again.records[1].data, c.records[1].data);
}

TEST(FramerPresetsTest, ValidateRefusesPatternAndPresetTogether) {
  auto re = Regex::Compile("^x");
  ASSERT_TRUE(re.ok());
  FramerOptions o;
  o.start_pattern = re->get();
  o.preset = MultilinePreset::kJava;
  Status st = Framer::Validate(o);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("start_pattern or preset"), std::string::npos);
}

TEST(FramerPresetsTest, SkippedHeaderLinesAndTruncationWithAPreset) {
  FramerOptions o;
  o.preset = MultilinePreset::kJava;
  o.skip_header_lines = 1;
  o.max_record_size = 16;
  o.truncated_record_terminator = "~";
  auto records = Frame(o, "header\nException: x\n\tat a.b(C.java:1)\nnext\n", 3);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0], (Record{"Exception: x\n\ta~", 7, 38}));
  EXPECT_EQ(records[1], (Record{"next", 38, 43}));
}

}  // namespace
}  // namespace sluice::agent
