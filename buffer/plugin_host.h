// The plugin host: loads sink plugins (shared objects exporting sluice_plugin_entry), checks
// their ABI, validates sink sections of the configuration against their option tables, and
// creates instances that a delivery worker calls.
//
// THREADING: PluginHost is thread-safe (one mutex; loading is rare). A SinkInstance belongs to
// one delivery worker: its calls never overlap. OWNERSHIP: the PluginHost owns every loaded
// Plugin (dlclose on destruction); Plugin pointers stay valid while the host lives, and every
// SinkInstance must be destroyed before its host.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "buffer/delivery_options.h"
#include "buffer/delivery_policy.h"
#include "core/status.h"
#include "plugins/sdk/sluice_plugin.h"

namespace sluice::buffer {

// An option after validation: normalised value (durations in ms, sizes in bytes, bools
// "true"/"false"), defaults applied, in the plugin's table order.
struct ValidatedOption {
  std::string name;
  std::string value;
};
using ValidatedOptions = std::vector<ValidatedOption>;

// The issues, sorted by position, one per line: "file:line:col: path: message".
std::string FormatIssues(std::vector<ConfigIssue> issues);

// Returns the value of `name` or `fallback`.
std::string_view OptionValue(const ValidatedOptions& opts, std::string_view name,
                             std::string_view fallback = {});

class Plugin final {
 public:
  Plugin(void* handle, const sluice_plugin* table, std::filesystem::path path);
  ~Plugin();
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  const std::string& name() const { return name_; }
  const std::filesystem::path& path() const { return path_; }
  const sluice_plugin& table() const { return *table_; }
  bool object_sink() const { return table_->kind == SLUICE_KIND_OBJECT_SINK; }
  bool transform() const { return table_->kind == SLUICE_KIND_TRANSFORM; }
  bool has_flag(uint32_t flag) const { return (table_->flags & flag) != 0; }
  // The delivery policy the sink declares (ABI 1.3), or DefaultPolicy(name) when it declares none.
  const SinkPolicy& policy() const { return policy_; }
  // Whether a journaled batch replayed after a crash overwrites its object (object sinks with
  // SLUICE_FLAG_IDEMPOTENT_KEYS; record sinks get record ids to de-duplicate by).
  bool replay_exactly_once() const {
    return !object_sink() || has_flag(SLUICE_FLAG_IDEMPOTENT_KEYS);
  }

 private:
  void* handle_;
  const sluice_plugin* table_;
  std::filesystem::path path_;
  std::string name_;
  SinkPolicy policy_;
};

// Counters plugins add through host_counter_add; thread-safe.
class PluginCounters final {
 public:
  void Add(std::string_view name, uint64_t delta);
  std::map<std::string, uint64_t> Snapshot() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, uint64_t, std::less<>> counters_;
};

// One created plugin instance (a sink or a transform). Calls on_destroy when destroyed.
class SinkInstance final {
 public:
  // `counters` must outlive the instance; `delivery` names the stream in plugin log lines.
  static Result<std::unique_ptr<SinkInstance>> Create(const Plugin* plugin,
                                                      const ValidatedOptions& options,
                                                      std::string delivery,
                                                      PluginCounters* counters);
  ~SinkInstance();
  SinkInstance(const SinkInstance&) = delete;
  SinkInstance& operator=(const SinkInstance&) = delete;

  const Plugin& plugin() const { return *plugin_; }
  // Calls on_deliver; `result` is prepared (zeroed, struct_size set) here. Returns its code.
  int Deliver(const sluice_batch& batch, sluice_deliver_result* result);
  // Calls on_transform (transform plugins only). Returns its code.
  int Transform(const sluice_record* records, size_t count, sluice_transform_output* outputs);
  Status Healthcheck();

 private:
  struct HostContext {
    std::string delivery;
    std::string plugin;
    PluginCounters* counters;
  };
  SinkInstance(const Plugin* plugin, std::unique_ptr<HostContext> ctx);

  const Plugin* plugin_;
  std::unique_ptr<HostContext> ctx_;
  sluice_host_services services_{};
  void* instance_ = nullptr;
};

class PluginHost final {
 public:
  explicit PluginHost(std::vector<std::filesystem::path> plugin_dirs);
  ~PluginHost();

  // Finds `<dir>/<type>.so` in the plugin directories (first match wins), loads it once and
  // checks that it declares the name `type`. Errors name the directories searched.
  Result<const Plugin*> Load(std::string_view type);
  // Loads one shared object. kAlreadyExists when another file already provides its name.
  Result<const Plugin*> LoadFile(const std::filesystem::path& path);

  // Checks a sink section against the plugin's option table: unknown keys (with a suggestion),
  // wrong types, missing required keys. Appends each problem to `issues` and returns nullopt
  // when there was any.
  static std::optional<ValidatedOptions> Check(const Plugin& plugin, const SinkSection& section,
                                               std::vector<ConfigIssue>* issues);
  // Check, with every problem one line of the error message ("file:line:col: path: message").
  static Result<ValidatedOptions> Validate(const Plugin& plugin, const SinkSection& section);

  // The plugin's options as a Markdown table (for docs/plugins.md and `sluice plugins`).
  static std::string Reference(const Plugin& plugin);

 private:
  std::vector<std::filesystem::path> dirs_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Plugin>> plugins_;
};

}  // namespace sluice::buffer
