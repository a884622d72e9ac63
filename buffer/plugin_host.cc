#include "buffer/plugin_host.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "buffer/codec.h"
#include "buffer/plugin_process.h"
#include "core/fd.h"
#include "core/log.h"
#include "core/secret_key.h"
#include "core/units.h"

namespace sluice::buffer {
namespace {

std::string Where(const SourceMark& mark) {
  std::string out = mark.file.empty() ? "<config>" : mark.file;
  out += ":" + std::to_string(mark.line) + ":" + std::to_string(mark.column);
  return out;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

bool IsInteger(std::string_view s) {
  if (!s.empty() && s[0] == '-') s.remove_prefix(1);
  if (s.empty() || s.size() > 18) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

const char* TypeName(sluice_option_type t) {
  switch (t) {
    case SLUICE_OPT_STRING:
      return "string";
    case SLUICE_OPT_INT:
      return "integer";
    case SLUICE_OPT_BOOL:
      return "bool";
    case SLUICE_OPT_DURATION:
      return "duration";
    case SLUICE_OPT_SIZE:
      return "size";
    case SLUICE_OPT_ENUM:
      return "enum";
    case SLUICE_OPT_LIST:
      return "list";
    case SLUICE_OPT_SECRET:  // a flag, never a base type
      break;
  }
  return "?";
}

// The option's type without its flags (SLUICE_OPT_SECRET).
sluice_option_type BaseType(const sluice_option_def& def) {
  return static_cast<sluice_option_type>(def.type & 0xff);
}

// Whether the value is a secret: declared so (SLUICE_SECRET, ABI 1.3). The table decides, not the
// option's name.
bool IsSecretOption(const sluice_option_def& def) { return (def.type & SLUICE_OPT_SECRET) != 0; }

Result<std::string> NormaliseValue(const sluice_option_def& def, std::string_view text,
                                   bool is_scalar);

// `text` normalised for `def` (durations in ms, sizes in bytes, lists as JSON text), or why not.
Result<std::string> Normalise(const sluice_option_def& def, std::string_view text, bool is_scalar) {
  Result<std::string> v = NormaliseValue(def, text, is_scalar);
  if (!v.ok() && IsSecretOption(def)) {
    // Never echo a secret: say what was expected, not what was given.
    return InvalidArgument(std::string("expected ") +
                           (BaseType(def) == SLUICE_OPT_ENUM && def.enum_values
                                ? "one of " + std::string(def.enum_values)
                                : "a " + std::string(TypeName(BaseType(def)))) +
                           " (the value is a secret and is not shown)");
  }
  return v;
}

Result<std::string> NormaliseValue(const sluice_option_def& def, std::string_view text,
                                   bool is_scalar) {
  if (BaseType(def) != SLUICE_OPT_LIST && !is_scalar) {
    return InvalidArgument(std::string("expected a ") + TypeName(BaseType(def)) +
                           ", got a list or map");
  }
  switch (BaseType(def)) {
    case SLUICE_OPT_STRING:
      return std::string(text);
    case SLUICE_OPT_INT:
      if (!IsInteger(text))
        return InvalidArgument("expected an integer, got \"" + std::string(text) + "\"");
      return std::string(text);
    case SLUICE_OPT_BOOL:
      if (text != "true" && text != "false") {
        return InvalidArgument("expected true or false, got \"" + std::string(text) + "\"");
      }
      return std::string(text);
    case SLUICE_OPT_DURATION: {
      auto d = ParseDuration(text);
      if (!d.ok())
        return InvalidArgument("expected a duration such as 30s: " + d.status().message());
      return std::to_string(d->count());
    }
    case SLUICE_OPT_SIZE: {
      auto s = ParseSize(text);
      if (!s.ok()) return InvalidArgument("expected a size such as 5MiB: " + s.status().message());
      return std::to_string(*s);
    }
    case SLUICE_OPT_ENUM: {
      std::string_view values = def.enum_values ? def.enum_values : "";
      size_t start = 0;
      while (start <= values.size()) {
        size_t bar = values.find('|', start);
        if (bar == std::string_view::npos) bar = values.size();
        if (values.substr(start, bar - start) == text) {
          return std::string(text);
        }
        start = bar + 1;
      }
      return InvalidArgument("expected one of " + std::string(values) + ", got \"" +
                             std::string(text) + "\"");
    }
    case SLUICE_OPT_LIST:
      if (is_scalar) {  // one item: ["text"]
        rapidjson::StringBuffer sb;
        rapidjson::Writer<rapidjson::StringBuffer> w(sb);
        w.StartArray();
        w.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
        w.EndArray();
        return std::string(sb.GetString(), sb.GetSize());
      }
      return std::string(text);  // already JSON text (the config loader's)
    case SLUICE_OPT_SECRET:      // a flag, never a base type
      break;
  }
  return InvalidArgument("unknown option type in the plugin's table");
}

}  // namespace

std::string_view OptionValue(const ValidatedOptions& opts, std::string_view name,
                             std::string_view fallback) {
  for (const auto& o : opts)
    if (o.name == name) return o.value;
  return fallback;
}

namespace {

// The policy a sink table declares (ABI 1.3), or nullopt when it declares none.
std::optional<SinkPolicy> DeclaredPolicy(const sluice_plugin* table) {
  if (table->kind != SLUICE_KIND_OBJECT_SINK && table->kind != SLUICE_KIND_RECORD_SINK) {
    return std::nullopt;
  }
  if (table->struct_size < offsetof(sluice_sink_plugin, policy) + sizeof(void*)) {
    return std::nullopt;
  }
  const sluice_delivery_policy* p = reinterpret_cast<const sluice_sink_plugin*>(table)->policy;
  if (p == nullptr) return std::nullopt;
  SinkPolicy out = DefaultPolicy(table->name);
  if (p->struct_size < offsetof(sluice_delivery_policy, error_output_type) + sizeof(void*)) {
    out.size_min = 0;  // refused by PolicyProblem: a policy too short to read
    return out;
  }
  out.size_min = p->buffer_size_min;
  out.size_default = p->buffer_size_default;
  out.size_max = p->buffer_size_max;
  out.interval_min = Millis(static_cast<int64_t>(p->buffer_interval_min_ms));
  out.interval_default = Millis(static_cast<int64_t>(p->buffer_interval_default_ms));
  out.interval_max = Millis(static_cast<int64_t>(p->buffer_interval_max_ms));
  out.retry_default = Millis(static_cast<int64_t>(p->retry_duration_default_ms));
  out.retry_max = Millis(static_cast<int64_t>(p->retry_duration_max_ms));
  out.error_output_type = p->error_output_type ? p->error_output_type : "";
  if (p->struct_size >= offsetof(sluice_delivery_policy, call_timeout_ms) + sizeof(uint64_t) &&
      p->call_timeout_ms > 0) {
    out.call_timeout = Millis(static_cast<int64_t>(p->call_timeout_ms));
  }
  return out;
}

}  // namespace

Plugin::Plugin(void* handle, const sluice_plugin* table, std::filesystem::path path,
               std::string stamp, int copy_fd)
    : handle_(handle),
      table_(table),
      path_(std::move(path)),
      stamp_(std::move(stamp)),
      copy_fd_(copy_fd),
      name_(table->name),
      policy_(DeclaredPolicy(table).value_or(DefaultPolicy(table->name))) {}

Plugin::~Plugin() {
  if (handle_) dlclose(handle_);
}

void PluginCounters::Add(std::string_view name, uint64_t delta) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counters_.find(name);
  if (it == counters_.end()) it = counters_.emplace(std::string(name), 0).first;
  it->second += delta;
}

std::map<std::string, uint64_t> PluginCounters::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {counters_.begin(), counters_.end()};
}

void LogPluginLine(sluice_log_level level, std::string_view msg, const std::string& delivery,
                   const std::string& plugin) {
  log::Level l = level == SLUICE_LOG_ERROR  ? log::Level::kError
                 : level == SLUICE_LOG_WARN ? log::Level::kWarn
                 : level == SLUICE_LOG_INFO ? log::Level::kInfo
                                            : log::Level::kDebug;
  log::Line(l, msg).With("delivery", delivery).With("plugin", plugin);
}

InProcessSinkInstance::InProcessSinkInstance(const Plugin* plugin, std::unique_ptr<HostContext> ctx)
    : SinkInstance(plugin), ctx_(std::move(ctx)) {
  services_.struct_size = sizeof(services_);
  services_.abi_minor = SLUICE_ABI_MINOR;
  services_.host_ctx = ctx_.get();
  services_.host_log = [](void* c, sluice_log_level level, const char* msg, size_t len) {
    auto* hc = static_cast<HostContext*>(c);
    if (hc->forward) return hc->forward->Log(level, std::string_view(msg, len));
    LogPluginLine(level, std::string_view(msg, len), hc->delivery, hc->plugin);
  };
  services_.host_counter_add = [](void* c, const char* name, uint64_t delta) {
    auto* hc = static_cast<HostContext*>(c);
    if (name == nullptr) return;
    if (hc->forward) return hc->forward->Count(name, delta);
    if (hc->counters) hc->counters->Add(name, delta);
  };
  services_.host_compress_bound = [](void*, sluice_codec codec, size_t in_len) -> size_t {
    return codec == SLUICE_CODEC_GZIP ? ObjectEncoder::GzipBound(in_len) : 0;
  };
  services_.host_compress = [](void*, sluice_codec codec, const void* in, size_t in_len, void* out,
                               size_t out_cap) -> size_t {
    if (codec != SLUICE_CODEC_GZIP || in == nullptr || out == nullptr) return 0;
    // One encoder per thread keeps igzip's level buffer warm across calls; nothing is shared,
    // so any thread may call.
    thread_local ObjectEncoder encoder(Compression::kGzip);
    Result<size_t> n = encoder.GzipInto(std::string_view(static_cast<const char*>(in), in_len),
                                        static_cast<char*>(out), out_cap);
    return n.ok() ? *n : 0;
  };
}

Result<std::unique_ptr<SinkInstance>> SinkInstance::Create(const Plugin* plugin,
                                                           const ValidatedOptions& options,
                                                           std::string delivery,
                                                           PluginCounters* counters,
                                                           const IsolationOptions& isolation) {
  std::unique_ptr<SinkInstance> out;
  if (isolation.isolation == Isolation::kProcess) {
    ASSIGN_OR_RETURN(out, ProcessSinkInstance::Create(plugin, options, std::move(delivery),
                                                      counters, isolation));
  } else {
    ASSIGN_OR_RETURN(out,
                     InProcessSinkInstance::Create(plugin, options, std::move(delivery), counters));
  }
  out->in_process_ = isolation.isolation == Isolation::kInProcess;
  out->call_timeout_ = isolation.call_timeout;
  return out;
}

Result<std::unique_ptr<InProcessSinkInstance>> InProcessSinkInstance::Create(
    const Plugin* plugin, const ValidatedOptions& options, std::string delivery,
    PluginCounters* counters, HostCalls* forward) {
  auto ctx = std::make_unique<HostContext>(
      HostContext{std::move(delivery), plugin->name(), counters, forward});
  std::unique_ptr<InProcessSinkInstance> inst(new InProcessSinkInstance(plugin, std::move(ctx)));
  std::vector<sluice_option> raw;
  raw.reserve(options.size());
  for (const auto& o : options) raw.push_back({o.name.c_str(), o.value.c_str()});
  char err[512] = {0};
  void* instance = nullptr;
  int rc = plugin->table().on_create(&inst->services_, raw.data(), raw.size(), &instance, err,
                                     sizeof(err));
  if (rc != 0 || instance == nullptr) {
    err[sizeof(err) - 1] = '\0';
    return InvalidArgument("plugin " + plugin->name() + " (" + plugin->path().string() +
                           "): create failed: " + (err[0] ? err : "no message"));
  }
  inst->instance_ = instance;
  return inst;
}

InProcessSinkInstance::~InProcessSinkInstance() {
  if (instance_) plugin_->table().on_destroy(instance_);
}

int InProcessSinkInstance::Deliver(const sluice_batch& batch, sluice_deliver_result* result) {
  sluice_record_outcome* outcomes = result->outcomes;
  std::memset(result, 0, sizeof(*result));
  result->struct_size = sizeof(*result);
  result->outcomes = outcomes;
  int rc = plugin_->table().on_deliver(instance_, &batch, result);
  result->error_code[sizeof(result->error_code) - 1] = '\0';
  result->error_message[sizeof(result->error_message) - 1] = '\0';
  return rc;
}

int InProcessSinkInstance::Transform(const sluice_record* records, size_t count,
                                     sluice_transform_output* outputs) {
  std::memset(outputs, 0, sizeof(*outputs) * count);
  const auto& t = reinterpret_cast<const sluice_transform_plugin&>(plugin_->table());
  return t.on_transform(instance_, records, count, outputs);
}

Status InProcessSinkInstance::Healthcheck() {
  if (!plugin_->table().on_healthcheck) return Status::Ok();
  char err[512] = {0};
  if (plugin_->table().on_healthcheck(instance_, err, sizeof(err)) == 0) return Status::Ok();
  err[sizeof(err) - 1] = '\0';
  return Unavailable("plugin " + plugin_->name() + " unhealthy: " + err);
}

PluginHost::PluginHost(std::vector<std::filesystem::path> plugin_dirs)
    : dirs_(std::move(plugin_dirs)) {}

PluginHost::~PluginHost() {
  plugins_.clear();  // dlclose first, then the copies they were loaded from
  for (int fd : copies_) ::close(fd);
}

namespace {

// "<dev>:<inode>:<size>:<mtime ns>" of `path`; "" when it cannot be read.
std::string StampOf(const struct stat& st) {
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
         std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

// Copies the file open as `fd` into an anonymous memory file, sealed against any change; its
// descriptor, or -1.
int PrivateCopy(int fd, off_t size, const std::string& name) {
  int copy = ::memfd_create(("sluice-plugin:" + name).c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (copy < 0) return -1;
  off_t offset = 0;
  while (offset < size) {
    ssize_t n = ::sendfile(copy, fd, &offset, static_cast<size_t>(size - offset));
    if (n <= 0) {
      ::close(copy);
      return -1;
    }
  }
  if (::fcntl(copy, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
    ::close(copy);
    return -1;
  }
  return copy;
}

}  // namespace

std::string PluginHost::FileStamp(std::string_view type) const {
  for (const auto& dir : dirs_) {
    struct stat st {};
    std::filesystem::path candidate = dir / (std::string(type) + ".so");
    if (::stat(candidate.c_str(), &st) == 0) return StampOf(st);
  }
  return "";
}

Result<const Plugin*> PluginHost::Load(std::string_view type) {
  std::string searched;
  for (const auto& dir : dirs_) {
    std::filesystem::path candidate = dir / (std::string(type) + ".so");
    std::error_code ec;
    if (std::filesystem::exists(candidate, ec)) {
      ASSIGN_OR_RETURN(const Plugin* plugin, LoadFile(candidate));
      if (plugin->name() != type) {
        return InvalidArgument("plugin " + candidate.string() + " declares the name \"" +
                               plugin->name() + "\", expected \"" + std::string(type) + "\"");
      }
      return plugin;
    }
    searched += (searched.empty() ? "" : ", ") + dir.string();
  }
  return NotFound("no plugin for sink type \"" + std::string(type) + "\": " + std::string(type) +
                  ".so not found in plugin_dirs [" + searched + "]");
}

Result<const Plugin*> PluginHost::LoadFile(const std::filesystem::path& path) {
  std::lock_guard<std::mutex> lock(mu_);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid() && errno == ENOENT) {
    return NotFound("plugin " + path.string() + ": file not found");
  }
  if (!fd.valid()) return ErrnoError("plugin " + path.string() + ": open", errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("plugin " + path.string() + ": stat", errno);
  const std::string stamp = StampOf(st);
  for (const auto& p : plugins_) {
    if (p->path() == path && p->stamp() == stamp) return p.get();
  }
  int copy = PrivateCopy(fd.get(), st.st_size, path.filename().string());
  if (copy < 0) return ErrnoError("plugin " + path.string() + ": private copy", errno);
  // The copy stays open while the host lives: dlopen knows a loaded object by its path, and a
  // reused descriptor number would make a later load return this one.
  copies_.push_back(copy);
  return LoadCopyLocked(path, copy, stamp);
}

Result<const Plugin*> PluginHost::LoadCopy(const std::filesystem::path& path, int copy_fd) {
  std::lock_guard<std::mutex> lock(mu_);
  copies_.push_back(copy_fd);
  struct stat st {};
  if (::fstat(copy_fd, &st) != 0) return ErrnoError("plugin " + path.string() + ": stat", errno);
  return LoadCopyLocked(path, copy_fd, StampOf(st));
}

Result<const Plugin*> PluginHost::LoadCopyLocked(const std::filesystem::path& path, int copy,
                                                 const std::string& stamp) {
  dlerror();
  void* handle = dlopen(("/proc/self/fd/" + std::to_string(copy)).c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* e = dlerror();
    std::string why = e ? e : "?";
    // dlopen names the copy: say the file instead.
    if (size_t at = why.find("/proc/self/fd/"); at != std::string::npos) {
      size_t colon = why.find(':', at);
      why = colon == std::string::npos ? why : why.substr(colon + 1);
      while (!why.empty() && why.front() == ' ') why.erase(0, 1);
    }
    return InvalidArgument("plugin " + path.string() + ": dlopen failed: " + why);
  }
  auto fail = [&](std::string msg) -> Status {
    dlclose(handle);
    return InvalidArgument("plugin " + path.string() + ": " + msg);
  };
  dlerror();
  void* sym = dlsym(handle, SLUICE_PLUGIN_ENTRY_NAME);
  if (!sym) {
    return fail("missing the entry symbol " SLUICE_PLUGIN_ENTRY_NAME
                " (is it exported with SLUICE_PLUGIN_EXPORT / SLUICE_EXPORT_SINK?)");
  }
  auto entry = reinterpret_cast<sluice_plugin_entry_fn>(sym);
  const sluice_plugin* table = entry(SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR);
  if (!table) {
    return fail(SLUICE_PLUGIN_ENTRY_NAME " returned NULL: the plugin cannot serve this host (ABI " +
                std::to_string(SLUICE_ABI_MAJOR) + "." + std::to_string(SLUICE_ABI_MINOR) + ")");
  }
  if (table->struct_size < offsetof(sluice_plugin, on_destroy) + sizeof(table->on_destroy)) {
    return fail("plugin table too small (struct_size " + std::to_string(table->struct_size) + ")");
  }
  if (table->abi_major != SLUICE_ABI_MAJOR) {
    return fail("built for ABI major " + std::to_string(table->abi_major) +
                ", this host speaks ABI major " + std::to_string(SLUICE_ABI_MAJOR) +
                ": rebuild the plugin against this SDK");
  }
  if (!table->name || !*table->name) return fail("the plugin table has no name");
  if (table->kind == SLUICE_KIND_TRANSFORM) {
    const auto* t = reinterpret_cast<const sluice_transform_plugin*>(table);
    if (table->struct_size < sizeof(sluice_transform_plugin) || !table->on_create ||
        !t->on_transform || !table->on_destroy) {
      return fail("the transform plugin table lacks on_create, on_transform or on_destroy");
    }
  } else if (table->kind != SLUICE_KIND_OBJECT_SINK && table->kind != SLUICE_KIND_RECORD_SINK) {
    return fail("unknown plugin kind " + std::to_string(table->kind));
  } else if (!table->on_create || !table->on_deliver || !table->on_destroy) {
    return fail("the plugin table lacks on_create, on_deliver or on_destroy");
  }
  if (auto policy = DeclaredPolicy(table)) {
    if (Status st = CheckPolicy(*policy); !st.ok()) {
      return fail("its delivery policy is inconsistent: " + st.message());
    }
  }
  for (const auto& p : plugins_) {
    if (p->name() == table->name && p->path() != path) {  // an older build of this file is fine
      return fail(std::string("duplicate plugin name \"") + table->name +
                  "\": already provided by " + p->path().string());
    }
  }
  plugins_.push_back(std::make_unique<Plugin>(handle, table, path, stamp, copy));
  return plugins_.back().get();
}

std::optional<ValidatedOptions> PluginHost::Check(const Plugin& plugin, const SinkSection& section,
                                                  std::vector<ConfigIssue>* issues) {
  size_t before = issues->size();
  const sluice_option_def* defs = plugin.table().options;
  auto find_def = [&](std::string_view key) -> const sluice_option_def* {
    for (const sluice_option_def* d = defs; d && d->name; ++d)
      if (key == d->name) return d;
    return nullptr;
  };
  auto option_path = [&](const SinkOption& o) {
    return o.path.empty() ? section.path + "." + o.key : o.path;
  };
  // `<secret>_file` / `<secret>_env` of an option the plugin declares secret (ABI 1.3) but whose
  // name does not say so (the configuration loader, which runs before any plugin is loaded,
  // resolved those named like secrets, core/secret_key): read here, as the loader does.
  std::vector<SinkOption> resolved;
  auto secret_base = [&](const SinkOption& o) -> const sluice_option_def* {
    for (std::string_view suffix : {"_file", "_env"}) {
      if (o.key.size() <= suffix.size() || !o.key.ends_with(suffix)) continue;
      const sluice_option_def* d = find_def(o.key.substr(0, o.key.size() - suffix.size()));
      if (d != nullptr && IsSecretOption(*d) && o.is_scalar) return d;
    }
    return nullptr;
  };
  for (const auto& o : section.options) {
    if (o.key == "type") continue;
    if (const sluice_option_def* d = find_def(o.key)) {
      if (IsSecretOption(*d) && o.literal && !IsSecretKey(o.key)) {
        // Written inline: refused when others may read the file (the loader refused those named
        // like secrets already).
        auto mode = FileMode(o.mark.file);
        if (mode.ok() && (*mode & 0004) != 0) {
          char octal[16];
          std::snprintf(octal, sizeof(octal), "%04o", *mode);
          issues->push_back({o.mark, option_path(o),
                             std::string("a secret is written inline in a file others can read "
                                         "(mode ") +
                                 octal + "); run chmod o-r on the file, or use ${VAR} or " + o.key +
                                 "_env / " + o.key + "_file"});
        }
      }
      continue;
    }
    if (const sluice_option_def* d = secret_base(o)) {
      Result<std::string> secret =
          o.key.ends_with("_file") ? SecretFromFile(o.value) : SecretFromEnv(o.value);
      if (!secret.ok()) {
        issues->push_back({o.mark, option_path(o), secret.status().message()});
        continue;
      }
      for (const SinkOption& other : section.options) {
        if (other.key == d->name) {
          issues->push_back({o.mark, option_path(o),
                             "give one of " + std::string(d->name) + ", " + d->name + "_file, " +
                                 d->name + "_env"});
        }
      }
      SinkOption r = o;
      r.key = d->name;
      r.value = std::move(*secret);
      r.secret = true;
      r.literal = false;
      resolved.push_back(std::move(r));
      continue;
    }
    std::string msg = "unknown key '" + o.key + "' for sink type " + plugin.name();
    const char* best = nullptr;
    size_t best_d = 0;
    for (const sluice_option_def* d = defs; d && d->name; ++d) {
      size_t dist = EditDistance(o.key, d->name);
      if (!best || dist < best_d) best = d->name, best_d = dist;
    }
    if (best && best_d <= std::max<size_t>(2, o.key.size() / 3)) {
      msg += " (did you mean '" + std::string(best) + "'?)";
    }
    issues->push_back({o.mark, option_path(o), std::move(msg)});
  }
  ValidatedOptions out;
  for (const sluice_option_def* d = defs; d && d->name; ++d) {
    const SinkOption* given = nullptr;
    for (const auto& o : section.options)
      if (o.key == d->name) given = &o;
    for (const auto& o : resolved)
      if (o.key == d->name) given = &o;
    std::string value;
    if (given) {
      Result<std::string> v = Normalise(*d, given->value, given->is_scalar);
      if (!v.ok()) {
        issues->push_back({given->mark, option_path(*given), v.status().message()});
        continue;
      }
      value = std::move(*v);
    } else if (d->default_value) {
      Result<std::string> v = Normalise(*d, d->default_value, true);
      if (!v.ok()) {
        issues->push_back({section.mark, section.path + "." + d->name,
                           "bad default in plugin " + plugin.name() + ": " + v.status().message()});
        continue;
      }
      value = std::move(*v);
    } else {
      if (d->required) {
        issues->push_back({section.mark, section.path + "." + d->name,
                           "required key is missing for sink type " + plugin.name()});
      }
      continue;
    }
    out.push_back({d->name, std::move(value)});
  }
  if (issues->size() != before) return std::nullopt;
  return out;
}

Result<ValidatedOptions> PluginHost::Validate(const Plugin& plugin, const SinkSection& section) {
  std::vector<ConfigIssue> issues;
  auto out = Check(plugin, section, &issues);
  if (!out) return InvalidArgument(FormatIssues(std::move(issues)));
  return std::move(*out);
}

std::string FormatIssues(std::vector<ConfigIssue> issues) {
  std::stable_sort(issues.begin(), issues.end(), [](const ConfigIssue& a, const ConfigIssue& b) {
    return a.mark.line != b.mark.line ? a.mark.line < b.mark.line : a.mark.column < b.mark.column;
  });
  std::string out;
  for (const ConfigIssue& i : issues) {
    if (!out.empty()) out += '\n';
    out += Where(i.mark) + ": ";
    if (!i.path.empty()) out += i.path + ": ";
    out += i.message;
  }
  return out;
}

std::string PluginHost::Reference(const Plugin& plugin) {
  const sluice_plugin& t = plugin.table();
  std::string out = "### `" + plugin.name() + "` (" +
                    (plugin.object_sink() ? "object sink" : "record sink") + ")\n\n";
  if (t.doc) out += std::string(t.doc) + "\n\n";
  out += "| option | type | default | required | description |\n|---|---|---|---|---|\n";
  for (const sluice_option_def* d = t.options; d && d->name; ++d) {
    std::string type = TypeName(BaseType(*d));
    if (BaseType(*d) == SLUICE_OPT_ENUM && d->enum_values)
      type += " (" + std::string(d->enum_values) + ")";
    if (IsSecretOption(*d)) type += ", secret";
    out += "| `" + std::string(d->name) + "` | " + type + " | " +
           (d->default_value ? "`" + std::string(d->default_value) + "`" : std::string("")) +
           " | " + (d->required ? "yes" : "no") + " | " + (d->doc ? d->doc : "") + " |\n";
  }
  return out;
}

}  // namespace sluice::buffer
