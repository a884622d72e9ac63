#include "core/units.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(UnitsTest, ParsesDurations) {
  EXPECT_EQ(ParseDuration("250ms")->count(), 250);
  EXPECT_EQ(ParseDuration("30s")->count(), 30'000);
  EXPECT_EQ(ParseDuration("5m")->count(), 300'000);
  EXPECT_EQ(ParseDuration("24h")->count(), 86'400'000);
  EXPECT_EQ(ParseDuration("2d")->count(), 172'800'000);
  EXPECT_EQ(ParseDuration("0")->count(), 0);
}

TEST(UnitsTest, RejectsBadDurations) {
  for (const char* bad : {"", "90x", "-5s", "1.5s", "5 s", "s", "30", "5S", "99999999999999999999h",
                          "9223372036854775807s"}) {
    auto r = ParseDuration(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_EQ(ParseDuration("90x").status().message(),
            "\"90x\" is not a duration (use e.g. 250ms, 30s, 5m, 24h)");
}

TEST(UnitsTest, ParsesSizes) {
  EXPECT_EQ(*ParseSize("512KiB"), 512u * 1024);
  EXPECT_EQ(*ParseSize("5MiB"), 5u << 20);
  EXPECT_EQ(*ParseSize("1GiB"), 1ull << 30);
  EXPECT_EQ(*ParseSize("1000"), 1000u);
  EXPECT_EQ(*ParseSize("10B"), 10u);
  EXPECT_EQ(*ParseSize("4MB"), 4'000'000u);
}

TEST(UnitsTest, RejectsBadSizes) {
  for (const char* bad : {"", "5mib", "1.5MiB", "-1", "MiB", "5 MiB", "99999999999TiB"}) {
    EXPECT_FALSE(ParseSize(bad).ok()) << bad;
  }
}

TEST(UnitsTest, FormatsRoundTrip) {
  EXPECT_EQ(FormatDuration(Millis(90'000)), "90s");
  EXPECT_EQ(FormatDuration(Millis(300'000)), "5m");
  EXPECT_EQ(FormatDuration(Millis(250)), "250ms");
  EXPECT_EQ(FormatSize(5u << 20), "5MiB");
  EXPECT_EQ(FormatSize(1000), "1000B");
  for (const char* s : {"90s", "5m", "250ms", "24h"}) {
    EXPECT_EQ(FormatDuration(*ParseDuration(s)), s);
  }
}

TEST(UnitsTest, ParsesTimestamps) {
  EXPECT_EQ(*ParseTimestampMs("2026-01-02T03:04:05Z"), 1767323045000);
  EXPECT_EQ(*ParseTimestampMs("1767323045"), 1767323045000);
  EXPECT_EQ(*ParseTimestampMs("1767323045.25"), 1767323045250);
  for (const char* bad : {"", "yesterday", "2026-01-02T03:04:05", "2026-01-02T03:04:05+01:00", "-5",
                          "0", "2026-01-02"}) {
    EXPECT_FALSE(ParseTimestampMs(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace sluice
