#include "agent/tail/framer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::agent {
namespace {

struct Collect final : RecordSink {
  std::vector<std::string> records;
  std::vector<uint64_t> begins;
  std::vector<uint64_t> ends;
  void OnRecord(std::string_view data, uint64_t begin, uint64_t end_offset) override {
    records.emplace_back(data);
    begins.push_back(begin);
    ends.push_back(end_offset);
  }
};

TEST(FramerTest, SplitsLinesAndCarriesPartialLine) {
  FramerOptions o;
  Framer f(o, 0);
  Collect c;
  f.Feed("alpha\nbe", &c);
  ASSERT_EQ(c.records, (std::vector<std::string>{"alpha"}));
  EXPECT_EQ(c.ends[0], 6u);
  EXPECT_EQ(f.committed_offset(), 6u);
  EXPECT_TRUE(f.has_pending());
  f.Feed("ta\ngamma\n", &c);
  ASSERT_EQ(c.records, (std::vector<std::string>{"alpha", "beta", "gamma"}));
  EXPECT_EQ(c.ends[1], 11u);
  EXPECT_EQ(c.begins[1], 6u);
  EXPECT_EQ(c.begins[2], 11u);
  EXPECT_EQ(c.ends[2], 17u);
  EXPECT_EQ(f.committed_offset(), 17u);
  EXPECT_FALSE(f.has_pending());
}

TEST(FramerTest, OffsetsStartWhereReadingStarts) {
  FramerOptions o;
  o.skip_header_lines = 1;  // not applied past offset 0
  Framer f(o, 100);
  Collect c;
  f.Feed("x\n", &c);
  ASSERT_EQ(c.records, (std::vector<std::string>{"x"}));
  EXPECT_EQ(c.ends[0], 102u);
}

TEST(FramerTest, FlushEmitsUnterminatedLastLine) {
  FramerOptions o;
  Framer f(o, 0);
  Collect c;
  f.Feed("one\ntwo", &c);
  EXPECT_EQ(c.records.size(), 1u);
  f.Flush(&c);
  ASSERT_EQ(c.records, (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(c.ends[1], 7u);
  EXPECT_EQ(c.begins[1], 4u);
  EXPECT_EQ(f.committed_offset(), 7u);
  EXPECT_FALSE(f.has_pending());
}

TEST(FramerTest, BinarySafe) {
  FramerOptions o;
  Framer f(o, 0);
  Collect c;
  std::string data("a\0b\xff\xfe\r\n\0\n", 9);
  f.Feed(data, &c);
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0], std::string("a\0b\xff\xfe\r", 6));
  EXPECT_EQ(c.records[1], std::string("\0", 1));
}

TEST(FramerTest, EmptyLinesAreRecords) {
  FramerOptions o;
  Framer f(o, 0);
  Collect c;
  f.Feed("\n\nx\n", &c);
  EXPECT_EQ(c.records, (std::vector<std::string>{"", "", "x"}));
}

TEST(FramerTest, TruncatesLongRecordsWithTerminator) {
  FramerOptions o;
  o.max_record_size = 8;
  o.truncated_record_terminator = "~\n";
  Framer f(o, 0);
  Collect c;
  f.Feed("12345678\n123456789abc\nok\n", &c);
  ASSERT_EQ(c.records, (std::vector<std::string>{"12345678", "123456~\n", "ok"}));
  EXPECT_EQ(f.truncated_records(), 1u);
  EXPECT_EQ(c.ends[1], 22u);
}

TEST(FramerTest, LongLineAcrossFeedsUsesBoundedMemory) {
  FramerOptions o;
  o.max_record_size = 16;
  o.truncated_record_terminator = "";
  Framer f(o, 0);
  Collect c;
  std::string chunk(1000, 'z');
  for (int i = 0; i < 100; ++i) f.Feed(chunk, &c);
  EXPECT_LE(f.pending_bytes(), 17u);
  f.Feed("\nnext\n", &c);
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0], std::string(16, 'z'));
  EXPECT_EQ(c.records[1], "next");
  EXPECT_EQ(c.ends[0], 100001u);
}

TEST(FramerTest, SkipsHeaderLinesAtStartOfFile) {
  FramerOptions o;
  o.skip_header_lines = 2;
  Framer f(o, 0);
  Collect c;
  f.Feed("h1\nh2\nr1\n", &c);
  ASSERT_EQ(c.records, (std::vector<std::string>{"r1"}));
  f.Reset(0);  // truncated: the header comes again
  f.Feed("h1\nh2\nr2\n", &c);
  ASSERT_EQ(c.records, (std::vector<std::string>{"r1", "r2"}));
}

TEST(FramerTest, ValidateRejectsTerminatorAsLongAsLimit) {
  FramerOptions o;
  o.max_record_size = 2;
  o.truncated_record_terminator = "ab";
  EXPECT_FALSE(Framer::Validate(o).ok());
  o.truncated_record_terminator = "a";
  EXPECT_TRUE(Framer::Validate(o).ok());
}

TEST(FramerTest, MultilineGroupsStackTraces) {
  auto re = Regex::Compile(R"(^\d{4}-\d{2}-\d{2} )");
  ASSERT_TRUE(re.ok());
  FramerOptions o;
  o.start_pattern = re->get();
  Framer f(o, 0);
  Collect c;
  f.Feed(
      "2024-01-02 10:00:00 ERROR boom\n"
      "java.lang.IllegalStateException: x\n"
      "\tat com.example.Foo.bar(Foo.java:10)\n"
      "2024-01-02 10:00:01 INFO ok\n",
      &c);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0],
            "2024-01-02 10:00:00 ERROR boom\njava.lang.IllegalStateException: x\n"
            "\tat com.example.Foo.bar(Foo.java:10)");
  // The pending record is not committed: a restart must read it again.
  EXPECT_EQ(f.committed_offset(), c.ends[0]);
  EXPECT_TRUE(f.has_pending());
  f.Flush(&c);
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1], "2024-01-02 10:00:01 INFO ok");
  EXPECT_EQ(c.begins[0], 0u);
  EXPECT_EQ(c.begins[1], c.ends[0]);
  EXPECT_EQ(f.committed_offset(), f.next_offset());
}

TEST(FramerTest, MultilineRecordIsBounded) {
  auto re = Regex::Compile("^START");
  ASSERT_TRUE(re.ok());
  FramerOptions o;
  o.start_pattern = re->get();
  o.max_record_size = 20;
  o.truncated_record_terminator = "!";
  Framer f(o, 0);
  Collect c;
  f.Feed("START a\n", &c);
  for (int i = 0; i < 100; ++i) f.Feed("continuation line\n", &c);
  f.Feed("START b\n", &c);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].size(), 20u);
  EXPECT_EQ(c.records[0].back(), '!');
}

TEST(RegexTest, BadPatternNamesOffset) {
  auto re = Regex::Compile("a(b");
  ASSERT_FALSE(re.ok());
  EXPECT_NE(re.status().message().find("offset"), std::string::npos);
}

TEST(RegexTest, NamedCaptures) {
  auto re = Regex::Compile(R"(^(?<user>\w+)=(\d+)$)");
  ASSERT_TRUE(re.ok());
  std::vector<std::string_view> g;
  ASSERT_TRUE((*re)->Capture("bob=42", &g));
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0], "bob");
  EXPECT_EQ(g[1], "42");
  EXPECT_EQ((*re)->group_names()[0], "user");
  EXPECT_EQ((*re)->group_names()[1], "");
  EXPECT_FALSE((*re)->Capture("nope", &g));
}

}  // namespace
}  // namespace sluice::agent
