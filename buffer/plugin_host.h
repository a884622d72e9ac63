// The plugin host: loads sink plugins (shared objects exporting sluice_plugin_entry), checks
// their ABI, validates sink sections of the configuration against their option tables, and
// creates instances that a delivery worker calls.
//
// THREADING: PluginHost is thread-safe (one mutex; loading is rare). A SinkInstance belongs to
// one delivery worker: its calls never overlap (its child_* counters may be read from any thread).
// OWNERSHIP: the PluginHost owns every loaded Plugin (dlclose on destruction); Plugin pointers stay
// valid while the host lives, and every SinkInstance must be destroyed before its host.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
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
  // `stamp`: the identity of the file loaded (FileStamp), to notice a newer file at its path.
  // `copy_fd`: the private copy it was loaded from (owned by the host), -1 when none.
  Plugin(void* handle, const sluice_plugin* table, std::filesystem::path path,
         std::string stamp = {}, int copy_fd = -1);
  ~Plugin();
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  const std::string& name() const { return name_; }
  const std::filesystem::path& path() const { return path_; }
  const std::string& stamp() const { return stamp_; }
  // The sealed memory file the code was loaded from (a plugin child loads the same bytes), or -1.
  int copy_fd() const { return copy_fd_; }
  const sluice_plugin& table() const { return *table_; }
  bool object_sink() const { return table_->kind == SLUICE_KIND_OBJECT_SINK; }
  bool transform() const { return table_->kind == SLUICE_KIND_TRANSFORM; }
  bool has_flag(uint32_t flag) const { return (table_->flags & flag) != 0; }
  // The delivery policy the sink declares (ABI 1.3), or DefaultPolicy(name) when it declares none.
  const SinkPolicy& policy() const { return policy_; }
  // Whether a journaled batch replayed after a crash leaves each record once at the destination:
  // only when the sink declares SLUICE_FLAG_IDEMPOTENT_KEYS (object sinks: the replay overwrites
  // its object; record sinks: the destination keeps one copy per record id). Record ids alone do
  // not make a replay exactly once: Kinesis, Firehose, Kafka and Splunk keep both copies.
  bool replay_exactly_once() const { return has_flag(SLUICE_FLAG_IDEMPOTENT_KEYS); }

 private:
  void* handle_;
  const sluice_plugin* table_;
  std::filesystem::path path_;
  std::string stamp_;
  int copy_fd_;
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

// Writes one line a plugin logged (host_log), attributed to its delivery and plugin: the same
// line whether the plugin runs in the daemon or in a child process.
void LogPluginLine(sluice_log_level level, std::string_view msg, const std::string& delivery,
                   const std::string& plugin);

// Where an instance runs (sink.isolation / transform.isolation) and, in a child process, the
// bounds of one call.
struct IsolationOptions {
  Isolation isolation = Isolation::kInProcess;
  // kProcess: a call older than this kills the child (Plugin.Timeout).
  std::chrono::milliseconds call_timeout{600000};
  // kProcess: checked while a call waits; true kills the child (Plugin.Aborted). May be empty.
  std::function<bool()> aborted;
  // kProcess: the executable run as `<executable> plugin-host --fd N` (the daemon itself).
  std::filesystem::path executable = "/proc/self/exe";
};

// One created plugin instance (a sink or a transform), called by one delivery worker. In the
// daemon's process (on_* called directly) or in a child process (see plugin_process.h). Calls
// on_destroy when destroyed.
class SinkInstance {
 public:
  // `counters` must outlive the instance; `delivery` names the stream in plugin log lines.
  // Fails when on_create fails (in the child too: the delivery fails to start).
  static Result<std::unique_ptr<SinkInstance>> Create(const Plugin* plugin,
                                                      const ValidatedOptions& options,
                                                      std::string delivery,
                                                      PluginCounters* counters,
                                                      const IsolationOptions& isolation = {});
  virtual ~SinkInstance() = default;
  SinkInstance(const SinkInstance&) = delete;
  SinkInstance& operator=(const SinkInstance&) = delete;

  const Plugin& plugin() const { return *plugin_; }
  // As created: whether calls run in the daemon's process (a crash there ends the daemon), and
  // how long one call may take before it counts as stuck (in a child: before the child is killed).
  bool in_process() const { return in_process_; }
  std::chrono::milliseconds call_timeout() const { return call_timeout_; }
  // Calls on_deliver; `result` is prepared (zeroed, struct_size set) here. Returns its code.
  virtual int Deliver(const sluice_batch& batch, sluice_deliver_result* result) = 0;
  // Calls on_transform (transform plugins only). Returns its code.
  virtual int Transform(const sluice_record* records, size_t count,
                        sluice_transform_output* outputs) = 0;
  virtual Status Healthcheck() = 0;

  // `isolation: process` only (0 in process); thread-safe. Children started again after one
  // died or was killed; children that died during a call; children killed at call_timeout.
  virtual uint64_t child_restarts() const { return 0; }
  virtual uint64_t child_crashes() const { return 0; }
  virtual uint64_t child_timeouts() const { return 0; }

 protected:
  explicit SinkInstance(const Plugin* plugin) : plugin_(plugin) {}
  const Plugin* plugin_;

 private:
  bool in_process_ = true;
  std::chrono::milliseconds call_timeout_{600000};
};

// Where an in-process instance's host_log and host_counter_add go instead of the log and the
// PluginCounters (the child host forwards them to the daemon). Thread-safe.
class HostCalls {
 public:
  virtual ~HostCalls() = default;
  virtual void Log(sluice_log_level level, std::string_view msg) = 0;
  virtual void Count(const char* name, uint64_t delta) = 0;
};

// The plugin's calls on the caller's thread.
class InProcessSinkInstance final : public SinkInstance {
 public:
  // `forward`, when set, gets the plugin's log lines and counters and must outlive the instance.
  static Result<std::unique_ptr<InProcessSinkInstance>> Create(const Plugin* plugin,
                                                               const ValidatedOptions& options,
                                                               std::string delivery,
                                                               PluginCounters* counters,
                                                               HostCalls* forward = nullptr);
  ~InProcessSinkInstance() override;

  int Deliver(const sluice_batch& batch, sluice_deliver_result* result) override;
  int Transform(const sluice_record* records, size_t count,
                sluice_transform_output* outputs) override;
  Status Healthcheck() override;

 private:
  struct HostContext {
    std::string delivery;
    std::string plugin;
    PluginCounters* counters;
    HostCalls* forward;
  };
  InProcessSinkInstance(const Plugin* plugin, std::unique_ptr<HostContext> ctx);

  std::unique_ptr<HostContext> ctx_;
  sluice_host_services services_{};
  void* instance_ = nullptr;
};

class PluginHost final {
 public:
  explicit PluginHost(std::vector<std::filesystem::path> plugin_dirs);
  ~PluginHost();

  // Finds `<dir>/<type>.so` in the plugin directories (first match wins), loads it and checks
  // that it declares the name `type`. Errors name the directories searched. A file is loaded
  // again when it changed on disk since (a new build copied over it): later calls get the new
  // version, while instances of the old one keep it (it stays loaded until the host goes).
  Result<const Plugin*> Load(std::string_view type);
  // Loads one shared object from a private copy (an anonymous memory file): overwriting the file
  // on disk cannot change, or crash with SIGBUS, code already loaded. kAlreadyExists when another
  // file already provides its name.
  Result<const Plugin*> LoadFile(const std::filesystem::path& path);
  // Loads the private copy another host made (a plugin child is passed its parent's copy, so it
  // runs the very bytes the parent checked, whatever happened to the file since); `path` names
  // the file in messages. Takes the descriptor.
  Result<const Plugin*> LoadCopy(const std::filesystem::path& path, int copy_fd);
  // The identity (device, inode, size, modification time) of the file Load(type) would load
  // now; "" when there is none. A reload restarts the deliveries whose plugin files changed.
  std::string FileStamp(std::string_view type) const;

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
  std::vector<int> copies_;  // the private copies plugins_ were loaded from

  // dlopens the copy and checks the table; the caller holds mu_ and has put `copy` in copies_.
  Result<const Plugin*> LoadCopyLocked(const std::filesystem::path& path, int copy,
                                       const std::string& stamp);
};

}  // namespace sluice::buffer
