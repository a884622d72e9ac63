#include "agent/daemon.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "agent/admin.h"
#include "agent/config/errors.h"
#include "agent/daemon_firehose.h"
#include "agent/daemon_state.h"
#include "agent/input/input_source.h"
#include "broker/api/firehose_api.h"
#include "buffer/delivery_plan.h"
#include "buffer/kafka_source.h"
#include "buffer/kinesis_source.h"
#include "core/log.h"

namespace sluice::agent {

namespace fs = std::filesystem;

// Configured plugin directories first, then the directory the binary was installed or built
// with: <exe dir>/plugins (a build tree) and <exe dir>/../lib/sluice/plugins (a package).
std::vector<fs::path> PluginDirsOf(const config::Config& config) {
  std::vector<fs::path> dirs(config.plugin_dirs.begin(), config.plugin_dirs.end());
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    dirs.push_back(exe.parent_path() / "plugins");
    dirs.push_back(exe.parent_path().parent_path() / "lib/sluice/plugins");
  }
  return dirs;
}

// The sd_notify protocol: one datagram to the AF_UNIX socket named by $NOTIFY_SOCKET ('@' first
// means the abstract namespace).
void NotifySystemd(std::string_view message) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return;
  size_t len = std::strlen(path);
  sockaddr_un addr{};
  if (len >= sizeof addr.sun_path || (path[0] != '/' && path[0] != '@')) return;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path, len);
  if (path[0] == '@') addr.sun_path[0] = '\0';
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  ssize_t n = sendto(fd, message.data(), message.size(), MSG_NOSIGNAL,
                     reinterpret_cast<const sockaddr*>(&addr),
                     static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
  if (n < 0) SLUICE_LOG(Warn, "systemd notification failed").With("error", std::strerror(errno));
  close(fd);
}

Status ApplyEncryption(broker::Stream* stream, const broker::StreamOptions& so,
                       bool sets_encryption) {
  // Without an encryption section the entry says nothing about it: the stream keeps what it
  // has, which Start/StopStreamEncryption through the API may have set.
  if (!sets_encryption) return Status::Ok();
  const broker::StreamEncryption now = stream->options().encryption;
  const broker::StreamEncryption& want = so.encryption;
  if (now.enabled == want.enabled && (!want.enabled || now.key_id == want.key_id)) {
    return Status::Ok();
  }
  RETURN_IF_ERROR(stream->SetEncryption(want).Annotate("stream " + so.name + " encryption"));
  SLUICE_LOG(Info, want.enabled ? "stream encryption started" : "stream encryption stopped")
      .With("stream", so.name)
      .With("key_id", want.key_id.empty() ? std::string("(the keyring's primary)") : want.key_id);
  return Status::Ok();
}

Status EnsureStream(Daemon::State& s, const broker::StreamOptions& so, bool sets_encryption) {
  auto existing = s.broker->GetStream(so.name);
  if (!existing.ok()) {
    auto created = s.broker->CreateStream(so);
    if (!created.ok()) return created.status().Annotate("stream " + so.name);
    return Status::Ok();
  }
  broker::Stream* stream = *existing;
  int open_shards = 0;
  for (const broker::ShardInfo& sh : stream->ListShards()) open_shards += sh.open ? 1 : 0;
  if (open_shards != so.shards) {
    RETURN_IF_ERROR(stream->UpdateShardCount(so.shards).Annotate("stream " + so.name));
    SLUICE_LOG(Info, "stream resharded").With("stream", so.name).With("shards", so.shards);
  }
  if (stream->options().retention_hours != so.retention_hours) {
    RETURN_IF_ERROR(stream->SetRetentionHours(so.retention_hours).Annotate("stream " + so.name));
  }
  return ApplyEncryption(stream, so, sets_encryption);
}

Result<std::unique_ptr<buffer::DeliveryStream>> CreateDelivery(Daemon::State& s,
                                                               const buffer::DeliveryOptions& d) {
  fs::path data_dir = s.config.data_dir;
  std::unique_ptr<buffer::DeliverySource> source;
  if (d.kafka) {
    source = std::make_unique<buffer::KafkaSource>(*d.kafka, kKafkaSourceMemory);
  } else if (d.kinesis) {
    source = std::make_unique<buffer::KinesisSource>(*d.kinesis, kKafkaSourceMemory,
                                                     data_dir / "deliveries" / d.name);
  } else {
    // direct_put: the Firehose API appends to an internal stream that this delivery reads.
    ASSIGN_OR_RETURN(broker::Stream * stream,
                     d.direct_put
                         ? broker::api::OpenDirectPutStream(s.broker.get(), d.name, d.concurrency)
                         : s.broker->GetStream(d.stream));
    source = std::make_unique<buffer::StreamSource>(stream);
  }
  auto ds = buffer::DeliveryStream::Create(d, std::move(source), s.plugins.get(),
                                           data_dir / "deliveries" / d.name, Clock::Real());
  if (!ds.ok()) return ds.status().Annotate("delivery " + d.name);
  return std::move(*ds);
}

Status StartDelivery(Daemon::State& s, const buffer::DeliveryOptions& d) {
  ASSIGN_OR_RETURN(std::unique_ptr<buffer::DeliveryStream> ds, CreateDelivery(s, d));
  RETURN_IF_ERROR(ds->Start().Annotate("delivery " + d.name));
  s.deliveries.push_back(std::move(ds));
  return Status::Ok();
}

void StopDeliveries(std::vector<std::unique_ptr<buffer::DeliveryStream>>* ds) {
  for (auto& d : *ds) d->RequestStop(kDeliveryGrace);
  for (auto& d : *ds) {
    d->Stop(kDeliveryGrace);
    if (d->abandoned()) (void)d.release();  // its thread is still inside a plugin call
  }
  ds->clear();
}

// A file Flow, or the input of another `type`.
static Result<std::unique_ptr<Source>> CreateSource(Daemon::State& s, const FlowOptions& f,
                                                    broker::Stream* stream, const fs::path& dir) {
  if (f.type != SourceType::kFile) {
    return CreateInputSource(&s.loop, f, stream, dir, Clock::Real());
  }
  auto flow = Flow::Create(&s.loop, f, stream, dir, Clock::Real());
  if (!flow.ok()) return flow.status();
  return std::unique_ptr<Source>(std::move(*flow));
}

Status StartFlow(Daemon::State& s, const FlowOptions& f) {
  ASSIGN_OR_RETURN(broker::Stream * stream, s.broker->GetStream(f.stream));
  fs::path data_dir = s.config.data_dir;
  auto flow = CreateSource(s, f, stream, data_dir / "agent" / f.name);
  if (!flow.ok()) return flow.status().Annotate("source " + f.name);
  s.flows.push_back(std::move(*flow));
  return s.flows.back()->Start().Annotate("source " + f.name);
}

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

void Daemon::CheckDeliveries(const config::Config& config, config::ErrorList* errors) {
  buffer::PluginHost host(PluginDirsOf(config));
  std::vector<buffer::ConfigIssue> issues;
  for (const buffer::DeliveryOptions& d : config.deliveries) {
    (void)buffer::PlanDelivery(d, &host, &issues);
  }
  // firehose_api: each sink's defaults against its option table (the request gives the
  // required keys, so those are not missing here).
  for (const auto& [type, options] : config.firehose_api.sinks) {
    auto plugin = host.Load(type);
    if (!plugin.ok()) {
      buffer::ConfigIssue issue;
      issue.path = "firehose_api." + type;
      issue.message = plugin.status().message();
      issues.push_back(std::move(issue));
      continue;
    }
    buffer::SinkSection section;
    section.type = type;
    section.options = options;
    section.path = "firehose_api." + type;
    std::vector<buffer::ConfigIssue> found;
    (void)buffer::PluginHost::Check(**plugin, section, &found);
    for (buffer::ConfigIssue& i : found) {
      if (i.message.find("required key is missing") == std::string::npos) {
        issues.push_back(std::move(i));
      }
    }
  }
  for (buffer::ConfigIssue& i : issues) {
    errors->Add(i.mark.line, i.mark.column, std::move(i.path), std::move(i.message));
  }
}

Status Daemon::RunUntilSignal(const config::Config& config) {
  auto state = std::make_unique<State>();
  state->config = config;
  auto text = ConfigText(config);
  if (text.ok()) {
    auto fp = ConfigFingerprints(*text);
    if (fp.ok()) {
      AddPluginStamps(config.deliveries, buffer::PluginHost(PluginDirsOf(config)), &*fp);
      state->fingerprints = std::move(*fp);
    }
  }
  // A first start that fails leaves nothing behind: no data directory to clean up by hand.
  std::error_code ec;
  bool fresh = !config.data_dir.empty() && !fs::exists(config.data_dir, ec);
  Status st;
  {
    Daemon d(std::move(state));
    st = d.Start();
    if (st.ok()) return d.Run();
    // Unwind what did start: the same orderly stop as on a signal.
    d.BeginStop();
    Status ignored = d.Run();
    (void)ignored;
    // Nothing was accepted unless a source started reading (sources start last).
    fresh = fresh && d.s_->flows.empty();
  }
  if (fresh) fs::remove_all(config.data_dir, ec);
  return st;
}

Status Daemon::Start() {
  State& s = *s_;
  log::SetLevel(s.config.log.level);
  log::SetFormat(s.config.log.format);
  s.started_ms = Clock::Real()->NowMs();
  s.last_reload_ms = s.started_ms;
  int rc = uv_loop_init(&s.loop);
  if (rc != 0) return Internal(std::string("uv_loop_init: ") + uv_strerror(rc));
  s.loop_initialized = true;
  s.loop.data = this;

  auto on_signal = [](uv_signal_t* h, int signum) {
    auto* self = static_cast<Daemon*>(h->loop->data);
    if (signum == SIGHUP) {
      SLUICE_LOG(Info, "SIGHUP received: reloading the configuration");
      self->Reload([](ReloadReply) {});
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
    // An existing stream keeps its shards and retention until a reload changes its entry, but
    // takes the encryption its entry asks for now: encryption at rest is not left to a reload.
    if (auto existing = s.broker->GetStream(so.name); existing.ok()) {
      RETURN_IF_ERROR(ApplyEncryption(*existing, so, s.config.SetsEncryption(so.name)));
      continue;
    }
    auto created = s.broker->CreateStream(so);
    if (!created.ok()) return created.status().Annotate("stream " + so.name);
  }
  s.maintenance = broker::MaintenanceThread::Start(s.broker.get());

  // Deliveries before flows, so that consumers exist before the first record is put.
  s.plugins = std::make_unique<buffer::PluginHost>(PluginDirsOf(s.config));
  for (const buffer::DeliveryOptions& d : s.config.deliveries) RETURN_IF_ERROR(StartDelivery(s, d));
  // Then the ones created through the Firehose API, as stored under data_dir.
  s.firehose = std::make_unique<FirehoseDeliveries>(&s);
  s.firehose->StartStored();

  // Listeners next, so a port in use fails the start before any source has read a line.
  fs::path data_dir = s.config.data_dir;
  if (s.config.broker.api.audit) {
    broker::api::AuditLog::Options o;
    o.dir = data_dir / "audit";
    o.max_bytes = s.config.broker.api.audit_max_size;
    o.keep = s.config.broker.api.audit_keep;
    ASSIGN_OR_RETURN(s.audit, broker::api::AuditLog::Open(std::move(o)));
  }
  if (s.config.broker.api.listen) {
    broker::api::ApiOptions ao;
    ao.data_dir = data_dir;
    ao.listen = s.config.broker.api.listen->text;
    ao.max_body_size = s.config.broker.api.max_body_size;
    ao.idle_timeout_ms = static_cast<uint64_t>(s.config.broker.api.limits.idle_timeout.count());
    ao.request_timeout_ms =
        static_cast<uint64_t>(s.config.broker.api.limits.request_timeout.count());
    ao.max_connections = s.config.broker.api.limits.max_connections;
    ao.workers = s.config.broker.api.workers;
    ao.audit = s.audit;
    if (const auto& t = s.config.broker.api.tls) {
      ASSIGN_OR_RETURN(s.api_tls,
                       http::TlsServerContext::Load({t->cert_file, t->key_file, t->client_ca_file},
                                                    "broker.api.tls"));
      ao.tls = s.api_tls;
    }
    ao.delivery_controller = s.firehose.get();
    for (const buffer::DeliveryOptions& d : s.config.deliveries) {
      if (d.kafka || d.kinesis) continue;  // not fed through the API
      ao.firehose_deliveries.push_back({d.name, d.direct_put ? "" : d.stream});
    }
    for (const config::ApiCredential& c : s.config.broker.api.auth) {
      ao.credentials.push_back({c.access_key_id, c.secret_access_key, c.policy, c.session_token});
    }
    ASSIGN_OR_RETURN(s.api, broker::api::KinesisApiServer::Create(&s.loop, s.broker.get(), ao));
    RETURN_IF_ERROR(s.api->Start());
  }
  if (s.config.admin.listen.port != 0 || !s.config.admin.listen.text.empty()) {
    // The admin endpoint's own Kinesis API: loopback, no credentials (the admin endpoint is
    // trusted as /reload is). Its metadata (tags, creation times) and iterator key live apart
    // from the API listener's, so neither instance overwrites the other's file.
    broker::api::ApiOptions ao;
    ao.data_dir = data_dir / "admin_api";
    ao.internal_streams = true;
    std::error_code ec;
    fs::create_directories(ao.data_dir, ec);
    ASSIGN_OR_RETURN(s.admin_api, broker::api::KinesisApi::Create(s.broker.get(), ao));
    AdminHandlers handlers;
    handlers.snapshot = [this] { return Snapshot(); };
    handlers.reload = [this](std::function<void(ReloadReply)> done) { Reload(std::move(done)); };
    handlers.api = [this](std::string_view op, std::string& body, int* status,
                          std::string* answer) {
      broker::api::ApiReply reply;
      s_->admin_api->Handle(op, body, &reply);
      if (s_->audit) {
        const std::string action = "kinesis:" + std::string(op);
        broker::api::AuditEntry e;
        e.time_ms = Clock::Real()->NowMs();
        e.source = "admin endpoint";
        e.principal = "admin";
        e.action = action;
        e.resource = reply.resource;
        e.result = reply.error_type.empty() ? std::string_view("ok") : reply.error_type;
        e.status = reply.status;
        e.tls = s_->admin_tls != nullptr;
        e.records = reply.records;
        s_->audit->Record(e);
      }
      *status = reply.status;
      *answer = std::move(reply.body);
    };
    if (const auto& t = s.config.admin.tls) {
      ASSIGN_OR_RETURN(s.admin_tls,
                       http::TlsServerContext::Load({t->cert_file, t->key_file, t->client_ca_file},
                                                    "admin.tls"));
    }
    const config::ListenerLimits& l = s.config.admin.limits;
    AdminLimits limits{static_cast<uint64_t>(l.idle_timeout.count()),
                       static_cast<uint64_t>(l.request_timeout.count()), l.max_connections};
    ASSIGN_OR_RETURN(s.admin,
                     AdminEndpoint::Create(&s.loop, s.config.admin.listen.host,
                                           s.config.admin.listen.port, handlers, s.admin_tls,
                                           s.config.admin.token, s.config.admin.socket, limits));
    RETURN_IF_ERROR(s.admin->Start());
  }

  // Sources last: from here on, records are read from files.
  for (const FlowOptions& f : s.config.sources) RETURN_IF_ERROR(StartFlow(s, f));

  SLUICE_LOG(Info, "sluice started")
      .With("config", s.config.source_file)
      .With("data_dir", s.config.data_dir)
      .With("streams", static_cast<uint64_t>(s.config.streams.size()))
      .With("sources", static_cast<uint64_t>(s.flows.size()))
      .With("deliveries", static_cast<uint64_t>(s.deliveries.size()))
      .With("api", s.api ? s.config.broker.api.listen->text : std::string("off"))
      .With("admin", s.admin ? s.config.admin.listen.host + ":" + std::to_string(s.admin->port())
                             : std::string("off"));
  NotifySystemd("READY=1\nSTATUS=running");
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
  NotifySystemd("STOPPING=1");
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
  StopDeliveries(&s.deliveries);
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

}  // namespace sluice::agent
