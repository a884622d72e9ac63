// A background thread for the broker's timers: group commit (Broker::SyncDue) every sync_tick and
// retention (Broker::EnforceRetention) every retention_tick. Both block on the disk, so they must
// not run on the event loop; the daemon starts one of these after Broker::Open.
//
// THREADING: Start/Stop from one owning thread. OWNERSHIP: `broker` is not owned and must outlive
// this object; the destructor stops and joins the thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "broker/broker.h"

namespace sluice::broker {

struct MaintenanceOptions {
  std::chrono::milliseconds sync_tick{10};
  std::chrono::milliseconds retention_tick{60 * 1000};
  std::function<void()> on_tick;  // for tests: called after every tick, on the thread
};

class MaintenanceThread final {
 public:
  static std::unique_ptr<MaintenanceThread> Start(Broker* broker,
                                                  const MaintenanceOptions& options = {});
  ~MaintenanceThread();
  MaintenanceThread(const MaintenanceThread&) = delete;
  MaintenanceThread& operator=(const MaintenanceThread&) = delete;
  void Stop();

 private:
  MaintenanceThread(Broker* broker, const MaintenanceOptions& options);
  void Run();

  Broker* broker_;
  MaintenanceOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace sluice::broker
