#include "agent/daemon.h"

#include <filesystem>
#include <string>
#include <vector>

#include "broker/broker.h"
#include "core/log.h"

namespace sluice::agent {
namespace {

constexpr uint64_t kSyncTickMs = 20;           // how often interval-fsync streams are checked
constexpr uint64_t kRetentionTickMs = 60'000;  // how often expired segments are dropped

}  // namespace

struct Daemon::State {
  config::Config config;
  uv_loop_t loop{};
  bool loop_initialized = false;
  uv_signal_t sigint{}, sigterm{}, sighup{};
  uv_timer_t sync_timer{}, retention_timer{};
  int open_handles = 0;
  bool stopping = false;
  Status exit_status;
  std::unique_ptr<broker::Broker> broker;
};

Daemon::Daemon(std::unique_ptr<State> state) : s_(std::move(state)) {}

Daemon::~Daemon() {
  if (s_ && s_->loop_initialized) {
    // Run any close callbacks still pending so the loop can close.
    uv_run(&s_->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&s_->loop);
    if (rc != 0) SLUICE_LOG(Error, "event loop closed with open handles").With("rc", rc);
  }
}

Status Daemon::Validate(const config::Config& config) {
  (void)config;
  return Status::Ok();
}

Status Daemon::RunUntilSignal(const config::Config& config) {
  auto state = std::make_unique<State>();
  state->config = config;
  Daemon d(std::move(state));
  RETURN_IF_ERROR(d.Start());
  return d.Run();
}

Status Daemon::Start() {
  State& s = *s_;
  int rc = uv_loop_init(&s.loop);
  if (rc != 0) return Internal(std::string("uv_loop_init: ") + uv_strerror(rc));
  s.loop_initialized = true;
  s.loop.data = this;

  broker::BrokerOptions bo;
  bo.data_dir = s.config.data_dir;
  ASSIGN_OR_RETURN(s.broker, broker::Broker::Open(bo));
  for (const broker::StreamOptions& so : s.config.streams) {
    auto existing = s.broker->GetStream(so.name);
    if (existing.ok()) continue;
    auto created = s.broker->CreateStream(so);
    if (!created.ok()) return created.status().Annotate("stream " + so.name);
  }

  auto on_signal = [](uv_signal_t* h, int signum) {
    auto* self = static_cast<Daemon*>(h->loop->data);
    if (signum == SIGHUP) {
      SLUICE_LOG(Info, "SIGHUP received; reload is not available yet, ignoring");
      return;
    }
    SLUICE_LOG(Info, "stopping").With("signal", signum == SIGINT ? "SIGINT" : "SIGTERM");
    self->BeginStop();
  };
  for (auto [handle, signum] : {std::pair{&s.sigint, SIGINT}, std::pair{&s.sigterm, SIGTERM},
                                std::pair{&s.sighup, SIGHUP}}) {
    uv_signal_init(&s.loop, handle);
    uv_signal_start(handle, on_signal, signum);
  }

  uv_timer_init(&s.loop, &s.sync_timer);
  uv_timer_start(
      &s.sync_timer,
      [](uv_timer_t* t) {
        auto* self = static_cast<Daemon*>(t->loop->data);
        Status st = self->s_->broker->SyncDue();
        if (!st.ok()) SLUICE_LOG(Error, "broker sync failed").With("error", st.ToString());
      },
      kSyncTickMs, kSyncTickMs);
  uv_timer_init(&s.loop, &s.retention_timer);
  uv_timer_start(
      &s.retention_timer,
      [](uv_timer_t* t) {
        auto* self = static_cast<Daemon*>(t->loop->data);
        Status st = self->s_->broker->EnforceRetention();
        if (!st.ok()) SLUICE_LOG(Error, "retention failed").With("error", st.ToString());
      },
      kRetentionTickMs, kRetentionTickMs);

  SLUICE_LOG(Info, "sluice started")
      .With("config", s.config.source_file)
      .With("data_dir", s.config.data_dir)
      .With("streams", static_cast<uint64_t>(s.config.streams.size()))
      .With("sources", static_cast<uint64_t>(s.config.sources.size()))
      .With("deliveries", static_cast<uint64_t>(s.config.deliveries.size()));
  return Status::Ok();
}

Status Daemon::Run() {
  uv_run(&s_->loop, UV_RUN_DEFAULT);
  return s_->exit_status;
}

void Daemon::BeginStop() {
  State& s = *s_;
  if (s.stopping) return;
  s.stopping = true;
  Status st = s.broker->SyncDue();
  for (const std::string& name : s.broker->ListStreams()) {
    auto stream = s.broker->GetStream(name);
    if (stream.ok()) {
      Status sync = (*stream)->Sync();
      if (!sync.ok() && s.exit_status.ok()) s.exit_status = sync;
    }
  }
  if (!st.ok() && s.exit_status.ok()) s.exit_status = st;
  for (uv_handle_t* h :
       {reinterpret_cast<uv_handle_t*>(&s.sigint), reinterpret_cast<uv_handle_t*>(&s.sigterm),
        reinterpret_cast<uv_handle_t*>(&s.sighup), reinterpret_cast<uv_handle_t*>(&s.sync_timer),
        reinterpret_cast<uv_handle_t*>(&s.retention_timer)}) {
    uv_close(h, nullptr);
  }
}

}  // namespace sluice::agent
