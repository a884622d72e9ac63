#include "broker/maintenance.h"

#include "core/log.h"

namespace sluice::broker {

std::unique_ptr<MaintenanceThread> MaintenanceThread::Start(Broker* broker,
                                                            const MaintenanceOptions& options) {
  std::unique_ptr<MaintenanceThread> m(new MaintenanceThread(broker, options));
  m->thread_ = std::thread([p = m.get()] { p->Run(); });
  return m;
}

MaintenanceThread::MaintenanceThread(Broker* broker, const MaintenanceOptions& options)
    : broker_(broker), options_(options) {}

MaintenanceThread::~MaintenanceThread() { Stop(); }

void MaintenanceThread::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MaintenanceThread::Run() {
  auto next_retention = std::chrono::steady_clock::now();
  bool sync_failing = false;
  bool retention_failing = false;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    // An error is logged when it starts and when it clears, not on every tick.
    Status st = broker_->SyncDue();
    if (!st.ok() && !sync_failing) {
      SLUICE_LOG(Error, "broker group commit failing").With("error", st.ToString());
    } else if (st.ok() && sync_failing) {
      SLUICE_LOG(Info, "broker group commit recovered");
    }
    sync_failing = !st.ok();
    if (std::chrono::steady_clock::now() >= next_retention) {
      Status rt = broker_->EnforceRetention();
      if (!rt.ok() && !retention_failing) {
        SLUICE_LOG(Error, "broker retention failing").With("error", rt.ToString());
      }
      retention_failing = !rt.ok();
      next_retention = std::chrono::steady_clock::now() + options_.retention_tick;
    }
    if (options_.on_tick) options_.on_tick();
    lock.lock();
    cv_.wait_for(lock, options_.sync_tick, [&] { return stop_; });
  }
}

}  // namespace sluice::broker
