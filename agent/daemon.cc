#include "agent/daemon.h"

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "agent/admin.h"
#include "agent/tail/flow.h"
#include "broker/api/firehose_api.h"
#include "broker/api/kinesis_api.h"
#include "broker/broker.h"
#include "broker/maintenance.h"
#include "buffer/delivery_stream.h"
#include "buffer/plugin_host.h"
#include "core/log.h"

namespace sluice::agent {
namespace {

namespace fs = std::filesystem;

constexpr std::chrono::milliseconds kDeliveryGrace{10'000};

// Configured plugin directories first, then the directory the binary was installed or built
// with: <exe dir>/plugins (a build tree) and <exe dir>/../lib/sluice/plugins (a package).
std::vector<fs::path> PluginDirs(const config::Config& config) {
  std::vector<fs::path> dirs(config.plugin_dirs.begin(), config.plugin_dirs.end());
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    dirs.push_back(exe.parent_path() / "plugins");
    dirs.push_back(exe.parent_path().parent_path() / "lib/sluice/plugins");
  }
  return dirs;
}

std::string JsonEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

struct Daemon::State {
  config::Config config;
  uv_loop_t loop{};
  bool loop_initialized = false;
  uv_signal_t sigint{}, sigterm{}, sighup{};
  bool handles_started = false;
  bool stopping = false;
  int pending_stops = 0;
  Status exit_status;
  std::unique_ptr<broker::Broker> broker;
  // Group commit and retention block on the disk, so they run on their own thread.
  std::unique_ptr<broker::MaintenanceThread> maintenance;
  std::unique_ptr<buffer::PluginHost> plugins;
  std::vector<std::unique_ptr<buffer::DeliveryStream>> deliveries;
  std::vector<std::unique_ptr<Flow>> flows;
  std::unique_ptr<broker::api::KinesisApiServer> api;
  std::unique_ptr<AdminEndpoint> admin;
  int64_t started_ms = 0;
};

Daemon::Daemon(std::unique_ptr<State> state) : s_(std::move(state)) {}

Daemon::~Daemon() {
  // Deliveries join their threads before the plugin host unloads what they use.
  s_->deliveries.clear();
  s_->flows.clear();
  if (s_->loop_initialized) {
    uv_run(&s_->loop, UV_RUN_DEFAULT);  // pending close callbacks
    int rc = uv_loop_close(&s_->loop);
    if (rc != 0) SLUICE_LOG(Error, "event loop closed with open handles").With("rc", rc);
  }
}

Status Daemon::Validate(const config::Config& config) {
  buffer::PluginHost host(PluginDirs(config));
  std::string errors;
  auto check = [&](const buffer::SinkSection& section) {
    auto plugin = host.Load(section.type);
    if (!plugin.ok()) {
      errors += section.mark.file + ":" + std::to_string(section.mark.line) + ":" +
                std::to_string(section.mark.column) + ": " + section.path +
                ".type: " + plugin.status().message() + "\n";
      return;
    }
    auto valid = buffer::PluginHost::Validate(**plugin, section);
    if (!valid.ok()) errors += valid.status().message() + "\n";
  };
  for (const buffer::DeliveryOptions& d : config.deliveries) {
    check(d.sink);
    if (d.backup_sink) check(*d.backup_sink);
  }
  if (!errors.empty()) {
    errors.pop_back();
    return InvalidArgument(errors);
  }
  return Status::Ok();
}

Status Daemon::RunUntilSignal(const config::Config& config) {
  RETURN_IF_ERROR(Validate(config));
  auto state = std::make_unique<State>();
  state->config = config;
  Daemon d(std::move(state));
  Status st = d.Start();
  if (!st.ok()) {
    // Unwind what did start: the same orderly stop as on a signal.
    d.BeginStop();
    Status ignored = d.Run();
    (void)ignored;
    return st;
  }
  return d.Run();
}

Status Daemon::Start() {
  State& s = *s_;
  log::SetLevel(s.config.log.level);
  log::SetFormat(s.config.log.format);
  s.started_ms = Clock::Real()->NowMs();
  int rc = uv_loop_init(&s.loop);
  if (rc != 0) return Internal(std::string("uv_loop_init: ") + uv_strerror(rc));
  s.loop_initialized = true;
  s.loop.data = this;

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
  s.handles_started = true;

  // The broker first: everything else reads from it or writes to it.
  ASSIGN_OR_RETURN(s.broker, broker::Broker::Open(config::BrokerOptionsOf(s.config)));
  for (const broker::StreamOptions& so : s.config.streams) {
    if (s.broker->GetStream(so.name).ok()) continue;
    auto created = s.broker->CreateStream(so);
    if (!created.ok()) return created.status().Annotate("stream " + so.name);
  }
  s.maintenance = broker::MaintenanceThread::Start(s.broker.get());

  // Deliveries before flows, so that consumers exist before the first record is put.
  fs::path data_dir = s.config.data_dir;
  s.plugins = std::make_unique<buffer::PluginHost>(PluginDirs(s.config));
  for (const buffer::DeliveryOptions& d : s.config.deliveries) {
    // direct_put: the Firehose API appends to an internal stream that this delivery reads.
    ASSIGN_OR_RETURN(broker::Stream * stream,
                     d.direct_put ? broker::api::OpenDirectPutStream(s.broker.get(), d.name,
                                                                     d.concurrency)
                                  : s.broker->GetStream(d.stream));
    auto ds = buffer::DeliveryStream::Create(d, stream, s.plugins.get(),
                                             data_dir / "deliveries" / d.name, Clock::Real());
    if (!ds.ok()) return ds.status().Annotate("delivery " + d.name);
    RETURN_IF_ERROR((*ds)->Start().Annotate("delivery " + d.name));
    s.deliveries.push_back(std::move(*ds));
  }
  for (const FlowOptions& f : s.config.sources) {
    ASSIGN_OR_RETURN(broker::Stream * stream, s.broker->GetStream(f.stream));
    auto flow = Flow::Create(&s.loop, f, stream, data_dir / "agent" / f.name, Clock::Real());
    if (!flow.ok()) return flow.status().Annotate("source " + f.name);
    s.flows.push_back(std::move(*flow));
    RETURN_IF_ERROR(s.flows.back()->Start().Annotate("source " + f.name));
  }

  if (s.config.broker.api.listen) {
    broker::api::ApiOptions ao;
    ao.data_dir = data_dir;
    ao.listen = s.config.broker.api.listen->text;
    ao.max_body_size = s.config.broker.api.max_body_size;
    for (const buffer::DeliveryOptions& d : s.config.deliveries) {
      ao.firehose_deliveries.push_back({d.name, d.direct_put ? "" : d.stream});
    }
    for (const config::ApiCredential& c : s.config.broker.api.auth) {
      ao.credentials.push_back({c.access_key_id, c.secret_access_key});
    }
    ASSIGN_OR_RETURN(s.api, broker::api::KinesisApiServer::Create(&s.loop, s.broker.get(), ao));
    RETURN_IF_ERROR(s.api->Start());
  }
  if (s.config.admin.listen.port != 0 || !s.config.admin.listen.text.empty()) {
    ASSIGN_OR_RETURN(
        s.admin, AdminEndpoint::Create(&s.loop, s.config.admin.listen.host,
                                       s.config.admin.listen.port, [this] { return Snapshot(); }));
    RETURN_IF_ERROR(s.admin->Start());
  }

  SLUICE_LOG(Info, "sluice started")
      .With("config", s.config.source_file)
      .With("data_dir", s.config.data_dir)
      .With("streams", static_cast<uint64_t>(s.config.streams.size()))
      .With("sources", static_cast<uint64_t>(s.flows.size()))
      .With("deliveries", static_cast<uint64_t>(s.deliveries.size()))
      .With("api", s.api ? s.config.broker.api.listen->text : std::string("off"))
      .With("admin", s.admin ? s.config.admin.listen.text : std::string("off"));
  return Status::Ok();
}

Status Daemon::Run() {
  if (!s_->loop_initialized) return s_->exit_status;
  uv_run(&s_->loop, UV_RUN_DEFAULT);
  return s_->exit_status;
}

// Stop order: listeners and flows first (flows put what they read, sync and checkpoint), then the
// deliveries flush within their grace, then the broker syncs and the loop's own handles close.
void Daemon::BeginStop() {
  State& s = *s_;
  if (s.stopping) return;
  s.stopping = true;
  s.pending_stops = 1;  // released below, after every async stop was issued
  auto done = [this] {
    if (--s_->pending_stops == 0) FinishStop();
  };
  for (auto& flow : s.flows) {
    ++s.pending_stops;
    flow->Stop(done);
  }
  if (s.api) {
    ++s.pending_stops;
    s.api->Stop(done);
  }
  if (s.admin) {
    ++s.pending_stops;
    s.admin->Stop(done);
  }
  done();
}

void Daemon::FinishStop() {
  State& s = *s_;
  for (auto& d : s.deliveries) d->Stop(kDeliveryGrace);
  if (s.maintenance) s.maintenance->Stop();
  if (s.broker) {
    for (const std::string& name : s.broker->ListStreams()) {
      auto stream = s.broker->GetStream(name);
      if (!stream.ok()) continue;
      Status sync = (*stream)->Sync();
      if (!sync.ok() && s.exit_status.ok()) s.exit_status = sync;
    }
  }
  if (s.handles_started) {
    for (uv_handle_t* h :
         {reinterpret_cast<uv_handle_t*>(&s.sigint), reinterpret_cast<uv_handle_t*>(&s.sigterm),
          reinterpret_cast<uv_handle_t*>(&s.sighup)}) {
      uv_close(h, nullptr);
    }
  }
  SLUICE_LOG(Info, "sluice stopped");
}

AdminSnapshot Daemon::Snapshot() const {
  const State& s = *s_;
  AdminSnapshot snap;
  auto add = [&snap](std::string name, std::string help, std::string type, std::string labels,
                     double v) {
    snap.metrics.push_back(
        {std::move(name), std::move(help), std::move(type), std::move(labels), v});
  };
  std::string status = "{\"uptime_ms\":" + std::to_string(Clock::Real()->NowMs() - s.started_ms);
  status += ",\"streams\":[";
  bool first = true;
  for (const std::string& name : s.broker->ListStreams()) {
    auto stream = s.broker->GetStream(name);
    if (!stream.ok()) continue;
    std::string sl = "stream=\"" + JsonEscape(name) + "\"";
    status += std::string(first ? "" : ",") + "{\"name\":\"" + JsonEscape(name) + "\",\"shards\":[";
    first = false;
    bool first_shard = true;
    for (const broker::ShardInfo& sh : (*stream)->ListShards()) {
      auto end = (*stream)->EndOffset(sh.index);
      uint64_t records = end.ok() ? *end : 0;
      add("sluice_stream_shard_records", "Records stored in the shard (end offset).", "gauge",
          sl + ",shard=\"" + sh.shard_id + "\"", static_cast<double>(records));
      status += std::string(first_shard ? "" : ",") + "{\"id\":\"" + sh.shard_id +
                "\",\"open\":" + (sh.open ? "true" : "false") +
                ",\"end_offset\":" + std::to_string(records) + "}";
      first_shard = false;
    }
    status += "]}";
  }
  status += "],\"sources\":[";
  first = true;
  for (const auto& flow : s.flows) {
    FlowStats st = flow->stats();
    std::string fl = "source=\"" + JsonEscape(flow->options().name) + "\"";
    add("sluice_agent_files_tracked", "Files followed by the flow.", "gauge", fl,
        static_cast<double>(st.files_tracked));
    add("sluice_agent_incoming_records_total", "Records put into the stream.", "counter", fl,
        static_cast<double>(st.records_put));
    add("sluice_agent_incoming_bytes_total", "Record bytes put into the stream.", "counter", fl,
        static_cast<double>(st.bytes_put));
    add("sluice_agent_bytes_behind", "Bytes of tracked files not yet durably checkpointed.",
        "gauge", fl, static_cast<double>(st.bytes_behind));
    add("sluice_agent_rotations_total", "Files let go after rotation.", "counter", fl,
        static_cast<double>(st.rotations));
    add("sluice_agent_truncations_total", "Copy-truncations seen.", "counter", fl,
        static_cast<double>(st.truncations));
    add("sluice_agent_parse_failures_total", "Records a processing step could not parse.",
        "counter", fl, static_cast<double>(st.parse_failures));
    add("sluice_agent_put_throttled_total", "Puts refused by limits or quota.", "counter", fl,
        static_cast<double>(st.put_throttled));
    status += std::string(first ? "" : ",") + "{\"name\":\"" + JsonEscape(flow->options().name) +
              "\",\"files_tracked\":" + std::to_string(st.files_tracked) +
              ",\"records_put\":" + std::to_string(st.records_put) +
              ",\"bytes_put\":" + std::to_string(st.bytes_put) +
              ",\"bytes_behind\":" + std::to_string(st.bytes_behind) +
              ",\"rotations\":" + std::to_string(st.rotations) +
              ",\"truncations\":" + std::to_string(st.truncations) + "}";
    first = false;
  }
  status += "],\"deliveries\":[";
  first = true;
  int64_t now = Clock::Real()->NowMs();
  std::string health = "{";
  for (const auto& d : s.deliveries) {
    buffer::DeliveryStats st = d->stats();
    std::string dl = "delivery_stream=\"" + JsonEscape(d->name()) + "\"";
    double freshness =
        st.oldest_buffered_arrival_ms ? (now - st.oldest_buffered_arrival_ms) / 1e3 : 0;
    add("sluice_delivery_records_total", "Records delivered to the sink.", "counter", dl,
        static_cast<double>(st.records_delivered));
    add("sluice_delivery_bytes_total", "Record bytes delivered (before codecs).", "counter", dl,
        static_cast<double>(st.bytes_delivered));
    add("sluice_delivery_objects_total", "Objects or requests delivered.", "counter", dl,
        static_cast<double>(st.objects_delivered));
    add("sluice_delivery_spilled_records_total", "Records written to the error output.", "counter",
        dl, static_cast<double>(st.records_spilled));
    add("sluice_delivery_retries_total", "Delivery attempts retried.", "counter", dl,
        static_cast<double>(st.retries));
    add("sluice_delivery_data_freshness_seconds", "Age of the oldest buffered record.", "gauge", dl,
        freshness);
    status += std::string(first ? "" : ",") + "{\"name\":\"" + JsonEscape(d->name()) +
              "\",\"records_delivered\":" + std::to_string(st.records_delivered) +
              ",\"bytes_delivered\":" + std::to_string(st.bytes_delivered) +
              ",\"objects_delivered\":" + std::to_string(st.objects_delivered) +
              ",\"records_spilled\":" + std::to_string(st.records_spilled) +
              ",\"buffered_bytes\":" + std::to_string(st.buffered_bytes) + "}";
    health += std::string(first ? "" : ",") + "\"delivery/" + JsonEscape(d->name()) + "\":\"" +
              (st.errors == 0 ? "ok" : "errors") + "\"";
    first = false;
  }
  status += "]}";
  health += "}";
  snap.status_json = std::move(status);
  snap.health_detail = std::move(health);
  return snap;
}

}  // namespace sluice::agent
