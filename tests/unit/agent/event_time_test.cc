#include "agent/tail/event_time.h"

#include <gtest/gtest.h>

namespace sluice::agent {
namespace {

struct Case {
  const char* format;
  const char* text;
  int64_t ms;  // INT64_MIN: does not parse
};

constexpr int64_t kNo = INT64_MIN;

TEST(EventTimeTest, Table) {
  // 2024-03-10T14:05:09.123Z is 1710079509123.
  const Case cases[] = {
      {"rfc3339", "2024-03-10T14:05:09.123Z", 1710079509123},
      {"rfc3339", "2024-03-10T14:05:09Z", 1710079509000},
      {"rfc3339", "2024-03-10 14:05:09.123456789Z", 1710079509123},
      {"rfc3339", "2024-03-10T16:05:09.123+02:00", 1710079509123},
      {"rfc3339", "2024-03-10T09:05:09.123-0500", 1710079509123},
      {"rfc3339", "  2024-03-10T14:05:09.1Z ", 1710079509100},
      {"rfc3339", "2024-03-10T14:05:09", 1710079509000},  // no zone: utc_offset (0)
      {"rfc3339", "2024-03-10T14:05", 1710079500000},
      {"rfc3339", "1969-12-31T23:59:59Z", -1000},
      {"rfc3339", "2024-13-10T14:05:09Z", kNo},
      {"rfc3339", "2024-03-10T14:05:09Zjunk", kNo},
      {"rfc3339", "10/Mar/2024", kNo},
      {"rfc3339", "", kNo},
      {"epoch", "1710079509", 1710079509000},
      {"epoch", "1710079509.123456", 1710079509123},
      {"epoch", "-1.5", -1500},
      {"epoch", "17100795x", kNo},
      {"epoch_ms", "1710079509123", 1710079509123},
      {"epoch_us", "1710079509123456", 1710079509123},
      {"epoch_ns", "1710079509123456789", 1710079509123},
      // Past int64 (20 digits): no time rather than an overflow (found by fuzz_processing).
      {"epoch_ns", "-66666666666666666666", kNo},
      {"epoch_ms", "99999999999999999999", kNo},
      {"epoch_ns", "9223372036854775807", 9223372036854},
      {"common_log", "10/Mar/2024:09:05:09 -0500", 1710079509000},
      {"common_log", "10/Mar/2024:14:05:09 +0000", 1710079509000},
      {"common_log", "10/Mar/2024:14:05:09", kNo},
      {"common_log", "10/Mar/2024:14:05:09 +00:00", 1710079509000},
      {"common_log", "01/Jan/1970:00:00:00 +0000", 0},
      {"common_log", "10/Foo/2024:14:05:09 +0000", kNo},
      {"common_log", "10/Mar/2024:24:05:09 +0000", kNo},
      {"common_log", "10/mar/2024:14:05:09 +0000", kNo},
      {"%d/%b/%Y:%H:%M:%S %z", "10/Mar/2024:09:05:09 -0500", 1710079509000},
      {"%Y-%m-%d %H:%M:%S.%L", "2024-03-10 14:05:09.123", 1710079509123},
      {"%Y-%m-%d %H:%M:%S,%L %z", "2024-03-10 15:05:09,007 +0100", 1710079509007},
      {"%d.%m.%Y %H:%M", "10.03.2024 14:05", 1710079500000},
      {"%Y-%m-%d %H:%M:%S", "2024-03-10 14:05:09 trailing", kNo},
  };
  for (const Case& c : cases) {
    auto p = EventTimeParser::Create(c.format);
    ASSERT_TRUE(p.ok()) << c.format << ": " << p.status().ToString();
    auto ms = p->Parse(c.text);
    if (c.ms == kNo) {
      EXPECT_FALSE(ms.has_value()) << c.format << " \"" << c.text << "\" gave " << *ms;
    } else {
      ASSERT_TRUE(ms.has_value()) << c.format << " \"" << c.text << "\"";
      EXPECT_EQ(*ms, c.ms) << c.format << " \"" << c.text << "\"";
    }
  }
}

TEST(EventTimeTest, OffsetForTimesWithoutZoneAndRefusals) {
  auto p = EventTimeParser::Create("rfc3339", 2 * 3600);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p->Parse("2024-03-10T16:05:09"), 1710079509000);
  EXPECT_EQ(*p->Parse("2024-03-10T14:05:09Z"), 1710079509000);  // a zone wins
  auto s = EventTimeParser::Create("%Y-%m-%d %H:%M:%S", -3600);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s->Parse("2024-03-10 13:05:09"), 1710079509000);
  EXPECT_FALSE(EventTimeParser::Create("yyyy-mm-dd").ok());
  EXPECT_FALSE(EventTimeParser::Create("").ok());
}

TEST(EventTimeTest, DaysFromCivil) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(2000, 3, 1), 11017);
  EXPECT_EQ(DaysFromCivil(1969, 12, 31), -1);
}

}  // namespace
}  // namespace sluice::agent
