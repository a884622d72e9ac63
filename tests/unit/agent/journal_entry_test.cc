// The journal source's pure parts: priority names, the sd-journal match list of the options,
// and journal entries (field lists) as JSON objects: repeated fields, binary values in base64,
// truncation that keeps the object valid. Then the match list against sd-journal itself, on a
// journal file written by systemd-journal-remote (skipped when it is not installed).
#include "agent/input/journal_entry.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace sluice::agent {
namespace {

TEST(JournalPriorityTest, NumbersAndNames) {
  EXPECT_EQ(ParseJournalPriority("0"), 0);
  EXPECT_EQ(ParseJournalPriority("7"), 7);
  EXPECT_EQ(ParseJournalPriority("emerg"), 0);
  EXPECT_EQ(ParseJournalPriority("err"), 3);
  EXPECT_EQ(ParseJournalPriority("error"), 3);
  EXPECT_EQ(ParseJournalPriority("warning"), 4);
  EXPECT_EQ(ParseJournalPriority("info"), 6);
  EXPECT_EQ(ParseJournalPriority("debug"), 7);
  EXPECT_EQ(ParseJournalPriority("8"), -1);
  EXPECT_EQ(ParseJournalPriority("-1"), -1);
  EXPECT_EQ(ParseJournalPriority("INFO"), -1);
  EXPECT_EQ(ParseJournalPriority(""), -1);
}

TEST(JournalFieldNameTest, WhatJournaldAccepts) {
  EXPECT_TRUE(IsJournalFieldName("MESSAGE"));
  EXPECT_TRUE(IsJournalFieldName("_SYSTEMD_UNIT"));
  EXPECT_TRUE(IsJournalFieldName("CODE_LINE2"));
  EXPECT_FALSE(IsJournalFieldName("message"));
  EXPECT_FALSE(IsJournalFieldName("2FIELD"));
  EXPECT_FALSE(IsJournalFieldName("A-B"));
  EXPECT_FALSE(IsJournalFieldName(""));
  EXPECT_FALSE(IsJournalFieldName(std::string(65, 'A')));
}

TEST(JournalMatchesTest, UnitsPrioritiesAndFields) {
  JournalOptions o;
  EXPECT_TRUE(JournalMatches(o).empty());
  o.units = {"nginx", "ssh.service", "user@1000.service", "docker.socket"};
  o.priority = 2;
  o.matches = {{"_TRANSPORT", "stdout"}, {"SYSLOG_IDENTIFIER", "app"}};
  EXPECT_EQ(JournalMatches(o),
            (std::vector<std::string>{"_SYSTEMD_UNIT=nginx.service", "_SYSTEMD_UNIT=ssh.service",
                                      "_SYSTEMD_UNIT=user@1000.service",
                                      "_SYSTEMD_UNIT=docker.socket", "PRIORITY=0", "PRIORITY=1",
                                      "PRIORITY=2", "SYSLOG_IDENTIFIER=app", "_TRANSPORT=stdout"}));
}

std::string ToJson(const std::vector<std::string_view>& fields, uint64_t max = 1 << 20,
                   bool* cut = nullptr) {
  std::string out;
  bool c = JournalEntryToJson(fields, 1700000000123456, max, &out);
  if (cut != nullptr) *cut = c;
  return out;
}

TEST(JournalEntryTest, FieldsInOrderAfterTheTime) {
  bool cut = true;
  EXPECT_EQ(ToJson({"MESSAGE=hello \"world\"", "PRIORITY=6", "_SYSTEMD_UNIT=a.service", "_PID=42",
                    "SYSLOG_IDENTIFIER=app"},
                   1 << 20, &cut),
            R"({"__REALTIME_TIMESTAMP":"1700000000123456","MESSAGE":"hello \"world\"",)"
            R"("PRIORITY":"6","_SYSTEMD_UNIT":"a.service","_PID":"42",)"
            R"("SYSLOG_IDENTIFIER":"app"})");
  EXPECT_FALSE(cut);
}

TEST(JournalEntryTest, RepeatedFieldIsAnArray) {
  EXPECT_EQ(ToJson({"TAG=a", "MESSAGE=m", "TAG=b", "TAG=c"}),
            R"({"__REALTIME_TIMESTAMP":"1700000000123456","TAG":["a","b","c"],"MESSAGE":"m"})");
}

TEST(JournalEntryTest, ControlCharactersEscapedEmptyValuesKept) {
  EXPECT_EQ(ToJson({"MESSAGE=\x1b[31mred\x1b[0m\tline\nnext", "EMPTY="}),
            R"({"__REALTIME_TIMESTAMP":"1700000000123456",)"
            R"("MESSAGE":"\u001B[31mred\u001B[0m\tline\nnext","EMPTY":""})");
}

TEST(JournalEntryTest, BinaryValuesAreBase64UnderASuffixedName) {
  using namespace std::string_view_literals;
  EXPECT_EQ(ToJson({"BLOB=a\0b"sv, "BAD=\xff\xfe"sv, "MESSAGE=ok"}),
            R"({"__REALTIME_TIMESTAMP":"1700000000123456","BLOB_base64":"YQBi",)"
            R"("BAD_base64":"//4=","MESSAGE":"ok"})");
  // One binary value makes every value of the field base64.
  EXPECT_EQ(ToJson({"X=ab"sv, "X=\0"sv}),
            R"({"__REALTIME_TIMESTAMP":"1700000000123456","X_base64":["YWI=","AA=="]})");
}

TEST(JournalEntryTest, ItemsWithoutAnEqualSignAreSkipped) {
  EXPECT_EQ(ToJson({"garbage", "=novalue", "MESSAGE=m"}),
            R"({"__REALTIME_TIMESTAMP":"1700000000123456","MESSAGE":"m"})");
}

TEST(JournalEntryTest, TruncationKeepsAValidObject) {
  const std::string big = "MESSAGE=" + std::string(1000, 'x') + "\xc3\xa9" + std::string(50, 'y');
  for (uint64_t max : {2u, 10u, 40u, 60u, 100u, 500u, 1001u, 1050u, 1100u}) {
    bool cut = false;
    std::string out = ToJson({"PRIORITY=3", big, "_PID=1", "BLOB=\xff"}, max, &cut);
    EXPECT_TRUE(cut) << max;
    EXPECT_LE(out.size(), std::max<uint64_t>(max, 2)) << max;
    rapidjson::Document d;
    d.Parse(out.data(), out.size());
    ASSERT_FALSE(d.HasParseError()) << max << ": " << out;
    ASSERT_TRUE(d.IsObject()) << out;
    if (max >= 100) {
      EXPECT_TRUE(d.HasMember("__REALTIME_TIMESTAMP")) << out;
      EXPECT_TRUE(d.HasMember("PRIORITY")) << out;
      // The short fields after the long one keep their room; the long one is cut to the rest.
      EXPECT_TRUE(d.HasMember("_PID")) << out;
      EXPECT_TRUE(d.HasMember("BLOB_base64")) << out;
      if (max >= 500) {
        EXPECT_TRUE(d.HasMember("MESSAGE")) << out;
        EXPECT_GT(out.size(), max - 8) << out;
      }
    }
  }
  bool cut = true;
  std::string whole = ToJson({"PRIORITY=3", big}, 1 << 20, &cut);
  EXPECT_FALSE(cut);
  EXPECT_EQ(ToJson({"PRIORITY=3", big}, whole.size(), &cut), whole);
  EXPECT_FALSE(cut);
  ToJson({"PRIORITY=3", big}, whole.size() - 1, &cut);
  EXPECT_TRUE(cut);
}

// The match list against sd-journal: units OR-ed, priorities OR-ed, other fields AND-ed.
TEST(JournalMatchesTest, SdJournalSelectsWhatJournalctlWould) {
  const char* remote = "/lib/systemd/systemd-journal-remote";
  if (access(remote, X_OK) != 0) GTEST_SKIP() << "systemd-journal-remote is not installed";
  const std::filesystem::path dir = std::filesystem::path(testing::TempDir()) /
                                    ("journal_entry_test." + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::string input;
  const char* units[] = {"a.service", "b.service", "c.service"};
  for (int i = 0; i < 240; ++i) {
    input += "__REALTIME_TIMESTAMP=" + std::to_string(1700000000000000 + i) + "\n";
    input += "__MONOTONIC_TIMESTAMP=" + std::to_string(1000 + i) + "\n";
    input += "_BOOT_ID=0123456789abcdef0123456789abcdef\n";
    input += std::string("_SYSTEMD_UNIT=") + units[i % 3] + "\n";
    input += "PRIORITY=" + std::to_string(i % 8) + "\n";
    input += std::string("KIND=") + (i % 5 == 0 ? "skip" : "keep") + "\n";
    input += "MESSAGE=entry " + std::to_string(i) + "\n\n";
  }
  const std::string cmd =
      std::string(remote) + " --output=" + (dir / "t.journal").string() + " - 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "w");
  ASSERT_NE(p, nullptr);
  fwrite(input.data(), 1, input.size(), p);
  ASSERT_EQ(pclose(p), 0);

  JournalOptions o;
  o.units = {"a", "b.service"};
  o.priority = 3;
  o.matches = {{"KIND", "keep"}};
  sd_journal* j = nullptr;
  ASSERT_GE(sd_journal_open_directory(&j, dir.c_str(), 0), 0);
  for (const std::string& m : JournalMatches(o)) {
    ASSERT_GE(sd_journal_add_match(j, m.data(), m.size()), 0);
  }
  std::vector<std::string> got;
  while (sd_journal_next(j) > 0) {
    const void* d;
    size_t len;
    ASSERT_GE(sd_journal_get_data(j, "MESSAGE", &d, &len), 0);
    got.emplace_back(static_cast<const char*>(d) + 8, len - 8);
  }
  sd_journal_close(j);
  std::filesystem::remove_all(dir);
  std::vector<std::string> want;
  for (int i = 0; i < 240; ++i) {
    if (i % 3 != 2 && i % 8 <= 3 && i % 5 != 0) want.push_back("entry " + std::to_string(i));
  }
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace sluice::agent
