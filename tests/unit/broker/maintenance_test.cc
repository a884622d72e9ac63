#include "broker/maintenance.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "broker_test_util.h"

namespace sluice::broker {
namespace {

class MaintenanceTest : public testing::BrokerTest {};

TEST_F(MaintenanceTest, GroupCommitsAndEnforcesRetentionOffTheCaller) {
  OpenBroker();
  Stream* s = MakeStream("m", 1);
  PutN(s, 3, "x");
  ASSERT_TRUE(s->SplitShard(0, 1000).ok());
  clock_.Advance(25 * 3600 * 1000);  // past the fsync interval and the closed parent's retention
  std::mutex mu;
  std::condition_variable cv;
  int ticks = 0;
  MaintenanceOptions o;
  o.sync_tick = std::chrono::milliseconds(1);
  o.on_tick = [&] {
    std::lock_guard<std::mutex> lock(mu);
    ++ticks;
    cv.notify_all();
  };
  auto m = MaintenanceThread::Start(broker_.get(), o);
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return ticks >= 2; }));
  }
  m->Stop();
  EXPECT_EQ(s->DurableGeneration(), s->WriteGeneration());
  EXPECT_EQ(s->GetShard(0).status().code(), Code::kNotFound);  // expired by retention
  EXPECT_EQ(s->ListShards().size(), 2u);
}

}  // namespace
}  // namespace sluice::broker
