#include "core/clock.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(ClockTest, FakeClockMovesOnlyByHand) {
  FakeClock clock(1000);
  EXPECT_EQ(clock.NowMs(), 1000);
  int64_t mono = clock.MonotonicMs();
  clock.Advance(250);
  EXPECT_EQ(clock.NowMs(), 1250);
  EXPECT_EQ(clock.MonotonicMs(), mono + 250);
  clock.SetWall(10);  // a backwards wall-clock jump leaves monotonic time alone
  EXPECT_EQ(clock.NowMs(), 10);
  EXPECT_EQ(clock.MonotonicMs(), mono + 250);
}

TEST(ClockTest, RealClockIsSane) {
  Clock* c = Clock::Real();
  EXPECT_GT(c->NowMs(), 1'600'000'000'000);
  int64_t a = c->MonotonicMs();
  EXPECT_GE(c->MonotonicMs(), a);
}

}  // namespace
}  // namespace sluice
