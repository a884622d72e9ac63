// Shared fixture of the flow tests: a temporary directory with logs/, a real broker under data/
// and checkpoints under cp/; helpers to write numbered lines and read every record back.
#pragma once

#include <gtest/gtest.h>
#include <uv.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/tail/flow.h"
#include "broker/broker.h"
#include "core/clock.h"

namespace sluice::agent {

class FlowTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Opens the broker (again) and the stream "logs".
  void OpenBroker(broker::FsyncPolicy fsync = broker::FsyncPolicy::kNever,
                  broker::CapacityMode mode = broker::CapacityMode::kUnlimited, int shards = 1);
  FlowOptions Options(const std::string& glob);
  std::unique_ptr<Flow> StartFlow(const FlowOptions& o);
  // Stops the flow, runs the loop until every handle is closed, and checks it.
  void StopFlow(std::unique_ptr<Flow> flow);

  // Appends lines "<prefix><i>" for i in [from, to).
  void AppendLines(const std::string& rel, int from, int to, const std::string& prefix = "line-");
  std::string Path(const std::string& rel) const { return (dir_ / "logs" / rel).string(); }
  // Every record of every shard, in shard then offset order.
  std::vector<std::string> ReadAll();
  // How often each numbered line "line-N" was read; other records are counted under -1.
  std::map<int, int> Count();
  // Asserts lines [0, n) each appear exactly once and nothing else does.
  void ExpectExactlyOnce(int n);
  // Runs the loop alone (file events, kicks, timers; no PollNow) until the flow has put
  // `records` or 30 s have passed, moving the broker's clock `broker_ms_per_turn` each turn.
  void RunLoopUntilPut(Flow* flow, uint64_t records, int64_t broker_ms_per_turn = 0);

  std::filesystem::path dir_;
  uv_loop_t loop_{};
  FakeClock clock_;
  FakeClock broker_clock_;
  std::unique_ptr<broker::Broker> broker_;
  broker::Stream* stream_ = nullptr;
};

}  // namespace sluice::agent
