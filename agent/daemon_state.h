// The daemon's state, shared by daemon.cc (lifecycle), daemon_snapshot.cc (/status, /metrics,
// /health) and daemon_reload.cc (SIGHUP and POST /reload). Private to those files.
//
// THREADING: the loop thread only; the delivery streams' own threads never touch it.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/admin.h"
#include "agent/config/config.h"
#include "agent/daemon.h"
#include "agent/tail/flow.h"
#include "agent/tail/source.h"
#include "broker/api/kinesis_api.h"
#include "broker/broker.h"
#include "broker/maintenance.h"
#include "buffer/delivery_stream.h"
#include "buffer/plugin_host.h"

namespace sluice::agent {

constexpr std::chrono::milliseconds kDeliveryGrace{10'000};
// Records a kafka source fetches ahead of its delivery's reads, at most.
constexpr uint64_t kKafkaSourceMemory = 64ull << 20;

// Per-delivery numbers remembered between two health checks, to tell a failing sink (retrying
// and delivering nothing) from a slow one.
struct SinkProgress {
  uint64_t retries = 0;
  uint64_t delivered = 0;
  bool failing = false;
  uint64_t spilled = 0;
  int64_t last_spill_ms = 0;  // when a look last found more records spilled; 0: never
};

// How long after records were last spilled a delivery shows as "spilling" (health degraded).
inline constexpr int64_t kSpillingWindowMs = 60000;

class FirehoseDeliveries;  // daemon_firehose.h

struct Daemon::State {
  config::Config config;
  // The raw YAML of every source, stream and delivery entry by name, as last applied: a reload
  // restarts exactly the entries whose text changed.
  std::map<std::string, std::string> fingerprints;
  // Deliveries the configuration names that are not running because they failed to start (at a
  // reload), with the error: /health reports them unhealthy until a reload starts them.
  std::map<std::string, std::string> not_running;
  // Deliveries whose changed configuration failed to start at a reload: they run on with their
  // previous one. Name -> why; cleared when a later reload starts the delivery.
  std::map<std::string, std::string> kept_previous;
  // Why the last reload was refused before anything changed (its configuration does not load or
  // validate), and when; empty once a later reload applies. /health is degraded meanwhile: the
  // file on disk is not what runs.
  std::string reload_rejected;
  int64_t reload_rejected_ms = 0;
  uint64_t config_generation = 1;
  int64_t last_reload_ms = 0;
  bool reloading = false;
  std::vector<std::function<void(ReloadReply)>> reload_waiters;

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
  std::vector<std::unique_ptr<Source>> flows;  // every source: file Flows and inputs
  // The delivery streams created through the Firehose API; before `api`, which uses it.
  std::unique_ptr<FirehoseDeliveries> firehose;
  std::unique_ptr<broker::api::KinesisApiServer> api;
  std::unique_ptr<broker::api::KinesisApi> admin_api;  // POST /api on the admin endpoint
  std::unique_ptr<AdminEndpoint> admin;
  // The listeners' certificates (null: plaintext), read again by every reload.
  std::shared_ptr<http::TlsServerContext> api_tls, admin_tls;
  // The audit log of API calls (broker.api.audit), shared by the API listener and admin /api.
  std::shared_ptr<broker::api::AuditLog> audit;
  std::map<std::string, SinkProgress> sink_progress;
  int64_t started_ms = 0;
};

// The plugin search path of a config (daemon.cc).
std::vector<std::filesystem::path> PluginDirsOf(const config::Config& config);
// Fingerprints of a config's entries ("stream/<name>", "source/<name>", "delivery/<name>"): the
// YAML of each entry, re-emitted (daemon_reload.cc).
Result<std::map<std::string, std::string>> ConfigFingerprints(std::string_view yaml_text);
// Appends to each delivery's fingerprint the identity of the plugin files it uses (sink, backup
// sink, transform plugin) as `host` would find them now, and of its lua transform's script: a
// reload then restarts the deliveries whose plugin was rebuilt or script edited, and they load
// the new file.
void AddPluginStamps(const std::vector<buffer::DeliveryOptions>& deliveries,
                     const buffer::PluginHost& host, std::map<std::string, std::string>* fps);
// The text a config was loaded from: its file, or the embedded default.
Result<std::string> ConfigText(const config::Config& config);
using sluice::JsonEscape;  // core/json.h

// Building blocks shared by Start and Reload (daemon.cc).
// Creates the stream if absent; else applies a changed shard count or retention, and its
// encryption when `sets_encryption` (the entry has an encryption section).
Status EnsureStream(Daemon::State& s, const broker::StreamOptions& options, bool sets_encryption);
// Sets the stream's encryption to the entry's when `sets_encryption` and they differ.
Status ApplyEncryption(broker::Stream* stream, const broker::StreamOptions& options,
                       bool sets_encryption);
Status StartDelivery(Daemon::State& s, const buffer::DeliveryOptions& options);
// Builds a delivery (plugin instances included: on_create runs) without starting it.
Result<std::unique_ptr<buffer::DeliveryStream>> CreateDelivery(
    Daemon::State& s, const buffer::DeliveryOptions& options);
// Stops every delivery of `ds` within one shared grace (kDeliveryGrace) and empties `ds`. One
// whose plugin call outlived the grace is abandoned: leaked on purpose, since its thread still
// runs (stop stays bounded; its batch stays journaled).
void StopDeliveries(std::vector<std::unique_ptr<buffer::DeliveryStream>>* ds);
Status StartFlow(Daemon::State& s, const FlowOptions& options);

}  // namespace sluice::agent
