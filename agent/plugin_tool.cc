#include "agent/plugin_tool.h"

#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "agent/plugin_templates.h"
#include "buffer/codec.h"
#include "buffer/plugin_host.h"
#include "core/clock.h"
#include "core/units.h"

namespace sluice::agent {
namespace {

namespace fs = std::filesystem;
using buffer::Plugin;
using buffer::PluginHost;

const char* KindName(uint32_t kind) {
  switch (kind) {
    case SLUICE_KIND_OBJECT_SINK:
      return "object sink";
    case SLUICE_KIND_RECORD_SINK:
      return "record sink";
    case SLUICE_KIND_TRANSFORM:
      return "transform";
  }
  return "unknown kind";
}

// The policy a sink declares itself, or nullptr (the host's default applies).
const sluice_delivery_policy* DeclaredPolicy(const sluice_plugin& t) {
  if (t.kind != SLUICE_KIND_OBJECT_SINK && t.kind != SLUICE_KIND_RECORD_SINK) return nullptr;
  if (t.struct_size < offsetof(sluice_sink_plugin, policy) + sizeof(void*)) return nullptr;
  return reinterpret_cast<const sluice_sink_plugin*>(&t)->policy;
}

// Loads FILE (a path; a bare name is taken relative to the working directory).
Result<const Plugin*> LoadPluginFile(PluginHost* host, const std::string& file) {
  std::error_code ec;
  fs::path path = fs::absolute(file, ec);
  if (ec) path = file;
  return host->LoadFile(path);
}

}  // namespace

// ---- info ----------------------------------------------------------------------------------

int PluginInfo(const std::string& file) {
  PluginHost host({});
  auto loaded = LoadPluginFile(&host, file);
  if (!loaded.ok()) {
    std::fprintf(stderr, "sluice plugin info: %s\n", loaded.status().message().c_str());
    return 1;
  }
  const Plugin& p = **loaded;
  const sluice_plugin& t = p.table();
  std::printf("name:     %s\n", p.name().c_str());
  std::printf("file:     %s\n", p.path().c_str());
  std::printf("kind:     %s\n", KindName(t.kind));
  std::printf("version:  %s\n", t.version ? t.version : "");
  std::printf("abi:      %u.%u (this host: %d.%d)\n", t.abi_major, t.abi_minor, SLUICE_ABI_MAJOR,
              SLUICE_ABI_MINOR);
  std::string flags;
  if (t.flags & SLUICE_FLAG_IDEMPOTENT_KEYS) flags += "idempotent_keys ";
  if (t.flags & SLUICE_FLAG_NO_HOST_COMPRESSION) flags += "no_host_compression ";
  if (t.flags & ~(SLUICE_FLAG_IDEMPOTENT_KEYS | SLUICE_FLAG_NO_HOST_COMPRESSION)) {
    char unknown[32];
    std::snprintf(unknown, sizeof(unknown), "unknown(0x%x) ",
                  t.flags & ~(SLUICE_FLAG_IDEMPOTENT_KEYS | SLUICE_FLAG_NO_HOST_COMPRESSION));
    flags += unknown;
  }
  if (!flags.empty()) flags.pop_back();
  std::printf("flags:    %s\n", flags.empty() ? "none" : flags.c_str());
  if (!p.transform()) {
    std::printf("replay:   %s\n", p.replay_exactly_once() ? "exactly_once" : "at_least_once");
    const buffer::SinkPolicy& pol = p.policy();
    const bool declared = DeclaredPolicy(t) != nullptr;
    std::printf("policy:   %s\n", declared ? "declared by the plugin"
                                           : "none declared (the host's default, S3's numbers)");
    std::printf("  buffer.size      %s..%s (default %s)\n", FormatSize(pol.size_min).c_str(),
                FormatSize(pol.size_max).c_str(), FormatSize(pol.size_default).c_str());
    std::printf("  buffer.interval  %s..%s (default %s)\n",
                FormatDuration(pol.interval_min).c_str(), FormatDuration(pol.interval_max).c_str(),
                FormatDuration(pol.interval_default).c_str());
    std::printf("  retry_duration   up to %s (default %s)\n", FormatDuration(pol.retry_max).c_str(),
                FormatDuration(pol.retry_default).c_str());
    std::printf("  error output     %s\n", pol.error_output_type.c_str());
    const sluice_delivery_policy* dp = DeclaredPolicy(t);
    const bool own_timeout =
        dp != nullptr &&
        dp->struct_size >= offsetof(sluice_delivery_policy, call_timeout_ms) + sizeof(uint64_t) &&
        dp->call_timeout_ms > 0;
    std::printf("  call timeout     %s%s\n", FormatDuration(pol.call_timeout).c_str(),
                own_timeout ? "" : " (the host's default)");
  }
  if (t.doc && *t.doc) std::printf("doc:      %s\n", t.doc);
  // The option table as the generated reference shows it (without its heading).
  std::string ref = PluginHost::Reference(p);
  size_t table = ref.find("| option |");
  std::printf("\noptions:\n");
  if (t.options == nullptr || t.options[0].name == nullptr) {
    std::printf("(none)\n");
  } else {
    std::printf("%s", table == std::string::npos ? ref.c_str() : ref.c_str() + table);
  }
  return 0;
}

// ---- test ----------------------------------------------------------------------------------

namespace {

// The child's exit codes besides 0, out of the way of a plugin that calls exit() itself (which is
// reported as such).
constexpr int kMisbehaved = 100, kBadOptions = 101, kLoadFailed = 102, kCreateFailed = 103;

// What the child is doing, in memory shared with the parent (MAP_SHARED before the fork), so
// that the parent can name the call a crash or a hang happened in.
struct SharedState {
  std::atomic<uint64_t> seq{0};  // bumped at every phase change
  char phase[160] = {0};
};

class Tester {
 public:
  Tester(const PluginTestOptions& o, SharedState* shared) : o_(o), shared_(shared) {}

  // Runs every step; returns the child's exit code (0: every check passed).
  int Run();

 private:
  void Phase(const std::string& what) {
    std::snprintf(shared_->phase, sizeof(shared_->phase), "%s", what.c_str());
    shared_->seq.fetch_add(1, std::memory_order_release);
  }
  void Ok(const std::string& line) { Print("ok  ", line); }
  void Note(const std::string& line) { Print("note", line); }
  void Fail(const std::string& line) {
    ++problems_;
    Print("FAIL", line);
  }
  static void Print(const char* tag, const std::string& line) {
    std::printf("%s %s\n", tag, line.c_str());
    std::fflush(stdout);
  }

  // 0 when created; else the child's exit code (see PluginTest).
  int Create();
  void Deliver(int batch, uint32_t attempt, size_t first, size_t count);
  void TransformBatch(int batch, size_t first, size_t count);
  void Healthcheck();
  void Destroy();
  // A host-owned text (err buffers, error_code): must be NUL-terminated within its buffer.
  bool Terminated(const char* buf, size_t cap, const std::string& what);

  std::vector<std::string> MakeRecords();
  std::string ObjectOf(size_t first, size_t count) const;

  static void HostLog(void* ctx, sluice_log_level level, const char* msg, size_t len);
  static void HostCount(void* ctx, const char* name, uint64_t delta);

  const PluginTestOptions& o_;
  SharedState* shared_;
  PluginHost host_{{}};
  const Plugin* plugin_ = nullptr;
  sluice_host_services services_{};
  void* instance_ = nullptr;
  std::vector<std::string> records_;  // data of every record, batches are ranges of it
  std::vector<std::string> ids_;
  std::vector<std::pair<size_t, size_t>> batches_;  // first, count
  std::map<std::string, uint64_t> counters_;
  int problems_ = 0;
  int delivered_ok_ = 0;  // answers accepting everything
};

void Tester::HostLog(void*, sluice_log_level level, const char* msg, size_t len) {
  static const char* kLevels[] = {"debug", "info", "warn", "error"};
  const char* l = level >= 0 && level <= 3 ? kLevels[level] : "?";
  std::printf("     plugin log (%s): %.*s\n", l, static_cast<int>(msg ? len : 0), msg ? msg : "");
  std::fflush(stdout);
}

void Tester::HostCount(void* ctx, const char* name, uint64_t delta) {
  if (name != nullptr) static_cast<Tester*>(ctx)->counters_[name] += delta;
}

bool Tester::Terminated(const char* buf, size_t cap, const std::string& what) {
  if (memchr(buf, '\0', cap) != nullptr) return true;
  Fail(what + " is not NUL-terminated within its " + std::to_string(cap) + " bytes");
  return false;
}

std::vector<std::string> Tester::MakeRecords() {
  std::vector<std::string> out;
  int64_t now = Clock::Real()->NowMs();
  for (int i = 0; i < o_.records_count; ++i) {
    out.push_back("{\"seq\":" + std::to_string(i) + ",\"ts\":" + std::to_string(now) +
                  ",\"msg\":\"sluice plugin test record " + std::to_string(i) + "\"}");
  }
  return out;
}

std::string Tester::ObjectOf(size_t first, size_t count) const {
  std::string out;
  for (size_t i = first; i < first + count; ++i) out += records_[i] + "\n";
  return out;
}

int Tester::Create() {
  Phase("the load (dlopen and sluice_plugin_entry)");
  auto loaded = LoadPluginFile(&host_, o_.file);
  if (!loaded.ok()) {
    Fail("load: " + loaded.status().message());
    return kLoadFailed;
  }
  plugin_ = *loaded;
  const sluice_plugin& t = plugin_->table();
  std::printf("testing %s (%s %s, ABI %u.%u) from %s\n", plugin_->name().c_str(), KindName(t.kind),
              t.version ? t.version : "", t.abi_major, t.abi_minor, plugin_->path().c_str());
  std::fflush(stdout);
  Ok("load: the table is complete and its policy is consistent");

  // --option k=v, validated against the option table as a configuration section is.
  buffer::SinkSection section;
  section.type = plugin_->name();
  section.path = "option";
  for (const std::string& kv : o_.options) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      Fail("--option " + kv + ": expected key=value");
      return kBadOptions;
    }
    buffer::SinkOption opt;
    opt.key = kv.substr(0, eq);
    opt.value = kv.substr(eq + 1);
    opt.is_scalar = opt.value.empty() || (opt.value[0] != '[' && opt.value[0] != '{');
    opt.path = "--option " + opt.key;
    section.options.push_back(std::move(opt));
  }
  std::vector<buffer::ConfigIssue> issues;
  auto valid = PluginHost::Check(*plugin_, section, &issues);
  if (!valid) {
    for (const auto& i : issues) {
      std::string path = i.path.rfind("option.", 0) == 0 ? "--option " + i.path.substr(7) : i.path;
      std::string message = i.message;
      if (size_t at = message.find("for sink type ");
          at != std::string::npos && t.kind == SLUICE_KIND_TRANSFORM) {
        message.replace(at, 14, "for transform plugin ");
      }
      Fail(path + ": " + message);
    }
    return kBadOptions;
  }

  services_.struct_size = sizeof(services_);
  services_.abi_minor = SLUICE_ABI_MINOR;
  services_.host_ctx = this;
  services_.host_log = &Tester::HostLog;
  services_.host_counter_add = &Tester::HostCount;
  services_.host_compress_bound = [](void*, sluice_codec codec, size_t len) -> size_t {
    return codec == SLUICE_CODEC_GZIP ? buffer::ObjectEncoder::GzipBound(len) : 0;
  };
  services_.host_compress = [](void*, sluice_codec codec, const void* in, size_t len, void* out,
                               size_t cap) -> size_t {
    if (codec != SLUICE_CODEC_GZIP || in == nullptr || out == nullptr) return 0;
    buffer::ObjectEncoder encoder(buffer::Compression::kGzip);
    auto n = encoder.GzipInto(std::string_view(static_cast<const char*>(in), len),
                              static_cast<char*>(out), cap);
    return n.ok() ? *n : 0;
  };
  std::vector<sluice_option> raw;
  for (const auto& v : *valid) raw.push_back({v.name.c_str(), v.value.c_str()});
  char err[512];
  std::memset(err, 0x7f, sizeof(err));
  Phase("on_create");
  int rc = t.on_create(&services_, raw.data(), raw.size(), &instance_, err, sizeof(err));
  Phase("the reading of on_create's answer");
  if (rc != 0) {
    std::string why = memchr(err, '\0', sizeof(err)) ? std::string(err) : "(no message)";
    Terminated(err, sizeof(err), "on_create's error message");
    Fail("on_create failed: " + (why.empty() ? std::string("(no message)") : why));
    return kCreateFailed;
  }
  if (instance_ == nullptr) {
    Fail("on_create returned 0 but left *instance NULL");
    return kCreateFailed;
  }
  Ok("on_create with " + std::to_string(raw.size()) + " option(s)");
  return 0;
}

void Tester::Deliver(int batch, uint32_t attempt, size_t first, size_t count) {
  const sluice_plugin& t = plugin_->table();
  const bool object = t.kind == SLUICE_KIND_OBJECT_SINK;
  std::string label = "on_deliver (batch " + std::to_string(batch) +
                      (attempt > 1 ? ", attempt " + std::to_string(attempt) : std::string()) + ")";
  std::string batch_id = "plugin-test-batch-" + std::to_string(batch);
  std::string key, object_bytes;
  std::vector<sluice_record> recs;
  std::vector<std::string> keys;  // partition keys (ABI 1.5): a few distinct ones, as a stream has
  std::vector<const char*> key_ptrs;
  sluice_batch b{};
  b.struct_size = sizeof(b);
  b.attempt = attempt;
  b.batch_id = batch_id.c_str();
  b.key_id = "";
  if (object) {
    char stamp[32];
    time_t now = time(nullptr);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y/%m/%d/%H/", &tm);
    key = std::string(stamp) + "plugin-test-1-" + std::to_string(batch) + ".jsonl";
    object_bytes = ObjectOf(first, count);
    b.object_key = key.c_str();
    b.object_data = reinterpret_cast<const uint8_t*>(object_bytes.data());
    b.object_len = object_bytes.size();
    b.content_encoding = "";
  } else {
    for (size_t i = first; i < first + count; ++i) {
      recs.push_back({reinterpret_cast<const uint8_t*>(records_[i].data()), records_[i].size(),
                      1700000000000 + static_cast<int64_t>(i), ids_[i].c_str()});
    }
    for (size_t i = first; i < first + count; ++i) keys.push_back("key-" + std::to_string(i % 7));
    for (const std::string& k : keys) key_ptrs.push_back(k.c_str());
    b.records = recs.data();
    b.record_count = recs.size();
    b.partition_keys = key_ptrs.data();
    b.content_encoding = "";
  }
  std::vector<sluice_record_outcome> outcomes(object ? 0 : count);
  for (auto& oc : outcomes) oc = {-1, 0, nullptr};  // unset, as the host pre-fills them
  sluice_deliver_result r{};
  r.struct_size = sizeof(r);
  r.outcomes = object ? nullptr : outcomes.data();

  Phase(label);
  int rc = t.on_deliver(instance_, &b, &r);
  Phase("the reading of the answer of " + label + " (an invalid pointer in it?)");
  bool texts = Terminated(r.error_code, sizeof(r.error_code), label + ": error_code") &
               Terminated(r.error_message, sizeof(r.error_message), label + ": error_message");
  std::string detail;
  if (texts && (r.error_code[0] || r.error_message[0])) {
    detail =
        std::string(" (") + r.error_code + (r.error_code[0] ? ": " : "") + r.error_message + ")";
  }
  std::string what =
      label + ", " + std::to_string(count) + (object ? " records in an object" : " records");
  switch (rc) {
    case SLUICE_DELIVER_OK:
      ++delivered_ok_;
      Ok(what + ": OK");
      return;
    case SLUICE_DELIVER_RETRY:
      Note(what + ": RETRY" + detail +
           (r.retry_after_ms ? ", after " + std::to_string(r.retry_after_ms) + "ms" : ""));
      return;
    case SLUICE_DELIVER_REJECT:
      Note(what + ": REJECT" + detail);
      if (texts && !r.error_code[0]) Fail(label + " answered REJECT without an error_code");
      return;
    case SLUICE_DELIVER_PARTIAL:
      break;
    default:
      Fail(label + " returned " + std::to_string(rc) +
           ", not a sluice_deliver_code (OK, RETRY, REJECT, PARTIAL)");
      return;
  }
  if (object) {
    Fail(label + " answered PARTIAL for an object sink: only record sinks may answer per record");
    return;
  }
  size_t ok = 0, retry = 0, reject = 0;
  std::vector<size_t> unset, invalid;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const sluice_record_outcome& oc = outcomes[i];
    switch (oc.code) {
      case SLUICE_DELIVER_OK:
        ++ok;
        break;
      case SLUICE_DELIVER_RETRY:
        ++retry;
        break;
      case SLUICE_DELIVER_REJECT:
        ++reject;
        break;
      case -1:
        unset.push_back(i);
        break;
      default:
        invalid.push_back(i);
    }
    if (oc.reason != nullptr) (void)strnlen(oc.reason, 4096);  // readable until the next call
  }
  auto list = [](const std::vector<size_t>& v) {
    std::string s;
    for (size_t k = 0; k < v.size() && k < 5; ++k) s += (k ? ", " : "") + std::to_string(v[k]);
    if (v.size() > 5) s += ", ...";
    return s;
  };
  if (!unset.empty()) {
    Fail(label + " answered PARTIAL but left " + std::to_string(unset.size()) + " of " +
         std::to_string(count) + " outcomes unset (records " + list(unset) +
         "): every outcome must be OK, RETRY or REJECT");
  }
  if (!invalid.empty()) {
    Fail(label + " answered PARTIAL with " + std::to_string(invalid.size()) +
         " outcome(s) whose code is not OK, RETRY or REJECT (records " + list(invalid) + ", code " +
         std::to_string(outcomes[invalid[0]].code) + ")");
  }
  if (unset.empty() && invalid.empty()) {
    if (retry == 0 && reject == 0) ++delivered_ok_;
    Ok(what + ": PARTIAL: " + std::to_string(ok) + " OK, " + std::to_string(retry) + " RETRY, " +
       std::to_string(reject) + " REJECT");
  }
}

void Tester::TransformBatch(int batch, size_t first, size_t count) {
  const auto& t = reinterpret_cast<const sluice_transform_plugin&>(plugin_->table());
  std::string label = "on_transform (batch " + std::to_string(batch) + ")";
  std::vector<sluice_record> recs;
  for (size_t i = first; i < first + count; ++i) {
    recs.push_back({reinterpret_cast<const uint8_t*>(records_[i].data()), records_[i].size(),
                    1700000000000 + static_cast<int64_t>(i), ids_[i].c_str()});
  }
  std::vector<sluice_transform_output> outputs(count);
  for (auto& out : outputs) out = {-1, nullptr, 0, nullptr};
  Phase(label);
  int rc = t.on_transform(instance_, recs.data(), recs.size(), outputs.data());
  Phase("the reading of the answer of " + label + " (an invalid pointer in it?)");
  if (rc != 0) {
    Note(label + ", " + std::to_string(count) + " records: returned " + std::to_string(rc) +
         " (the invocation failed as a whole; the host would retry it)");
    return;
  }
  size_t ok = 0, dropped = 0, failed = 0, bytes = 0;
  std::vector<size_t> unset, invalid, no_data;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const sluice_transform_output& out = outputs[i];
    switch (out.code) {
      case SLUICE_TRANSFORM_OK:
        if (out.data == nullptr && out.len > 0) {
          no_data.push_back(i);
        } else {
          ++ok;
          if (out.len > 0) {
            std::string copy(reinterpret_cast<const char*>(out.data), out.len);  // readable
            bytes += copy.size();
          }
        }
        break;
      case SLUICE_TRANSFORM_DROPPED:
        ++dropped;
        break;
      case SLUICE_TRANSFORM_FAILED:
        ++failed;
        if (out.reason != nullptr) (void)strnlen(out.reason, 4096);
        break;
      case -1:
        unset.push_back(i);
        break;
      default:
        invalid.push_back(i);
    }
  }
  auto first_of = [](const std::vector<size_t>& v) { return std::to_string(v[0]); };
  if (!unset.empty()) {
    Fail(label + " left " + std::to_string(unset.size()) + " of " + std::to_string(count) +
         " outputs unset (first: record " + first_of(unset) +
         "): every output must be OK, DROPPED or FAILED");
  }
  if (!invalid.empty()) {
    Fail(label + " answered " + std::to_string(invalid.size()) +
         " output(s) with a code that is not OK, DROPPED or FAILED (first: record " +
         first_of(invalid) + ", code " + std::to_string(outputs[invalid[0]].code) + ")");
  }
  if (!no_data.empty()) {
    Fail(label + " answered OK with NULL data and a non-zero length (first: record " +
         first_of(no_data) + ")");
  }
  if (unset.empty() && invalid.empty() && no_data.empty()) {
    ++delivered_ok_;
    Ok(label + ", " + std::to_string(count) + " records: " + std::to_string(ok) + " OK (" +
       std::to_string(bytes) + " bytes), " + std::to_string(dropped) + " DROPPED, " +
       std::to_string(failed) + " FAILED");
  }
}

void Tester::Healthcheck() {
  const sluice_plugin& t = plugin_->table();
  if (t.on_healthcheck == nullptr) {
    Ok("on_healthcheck: none (optional)");
    return;
  }
  char err[512];
  std::memset(err, 0x7f, sizeof(err));
  Phase("on_healthcheck");
  int rc = t.on_healthcheck(instance_, err, sizeof(err));
  Phase("the reading of on_healthcheck's answer");
  if (rc == 0) {
    Ok("on_healthcheck: healthy");
    return;
  }
  if (Terminated(err, sizeof(err), "on_healthcheck's error message")) {
    Note(std::string("on_healthcheck: unhealthy: ") + (err[0] ? err : "(no message)"));
  }
}

void Tester::Destroy() {
  Phase("on_destroy");
  plugin_->table().on_destroy(instance_);
  instance_ = nullptr;
  Phase("the end of the test, after on_destroy");
  Ok("on_destroy");
}

int Tester::Run() {
  if (int rc = Create(); rc != 0) return rc;
  records_ = MakeRecords();
  // Three batches; the extra records (--record) go into the second.
  size_t n = records_.size();
  size_t a = (n + 2) / 3, b2 = (n - a + 1) / 2;
  std::vector<std::string> all(records_.begin(), records_.begin() + a);
  all.insert(all.end(), records_.begin() + a, records_.begin() + a + b2);
  all.insert(all.end(), o_.records.begin(), o_.records.end());
  all.insert(all.end(), records_.begin() + a + b2, records_.end());
  records_ = std::move(all);
  batches_ = {{0, a}, {a, b2 + o_.records.size()}, {a + b2 + o_.records.size(), n - a - b2}};
  for (size_t i = 0; i < records_.size(); ++i) ids_.push_back("plugin-test-" + std::to_string(i));

  const bool transform = plugin_->transform();
  for (size_t k = 0; k < batches_.size(); ++k) {
    if (batches_[k].second == 0) continue;
    if (transform) {
      TransformBatch(static_cast<int>(k + 1), batches_[k].first, batches_[k].second);
    } else {
      Deliver(static_cast<int>(k + 1), 1, batches_[k].first, batches_[k].second);
    }
  }
  if (transform) {
    // Outputs must stay valid until the next call: a second invocation of the first batch.
    TransformBatch(4, batches_[0].first, batches_[0].second);
  } else {
    // A retry of the first batch: same batch id, same record ids (or object key), attempt 2.
    Deliver(1, 2, batches_[0].first, batches_[0].second);
    Healthcheck();
  }
  Destroy();
  if (!counters_.empty()) {
    std::string c;
    for (const auto& [k, v] : counters_) c += (c.empty() ? "" : ", ") + k + "=" + std::to_string(v);
    Note("counters: " + c);
  }
  if (delivered_ok_ == 0 && problems_ == 0) {
    Note("no " + std::string(transform ? "invocation" : "batch") +
         " was accepted: is the destination reachable?");
  }
  return problems_ == 0 ? 0 : kMisbehaved;
}

std::string SignalName(int sig) {
  switch (sig) {
    case SIGSEGV:
      return "SIGSEGV";
    case SIGBUS:
      return "SIGBUS";
    case SIGABRT:
      return "SIGABRT";
    case SIGFPE:
      return "SIGFPE";
    case SIGILL:
      return "SIGILL";
    case SIGKILL:
      return "SIGKILL";
    case SIGTERM:
      return "SIGTERM";
  }
  const char* d = strsignal(sig);
  return "signal " + std::to_string(sig) + (d ? std::string(" (") + d + ")" : "");
}

}  // namespace

int PluginTest(const PluginTestOptions& options) {
  if (options.records_count < 1 || options.timeout_s < 1) {
    std::fprintf(stderr, "sluice plugin test: --records and --timeout must be at least 1\n");
    return 2;
  }
  void* mem =
      mmap(nullptr, sizeof(SharedState), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    std::perror("sluice plugin test: mmap");
    return 1;
  }
  auto* shared = new (mem) SharedState();
  std::fflush(stdout);
  std::fflush(stderr);
  // The CLI is single-threaded here: the child may run the plugin without exec.
  pid_t pid = fork();
  if (pid < 0) {
    std::perror("sluice plugin test: fork");
    return 1;
  }
  if (pid == 0) {
    int rc = Tester(options, shared).Run();
    std::fflush(stdout);
    std::fflush(stderr);
    _exit(rc);
  }
  using Clock = std::chrono::steady_clock;
  uint64_t seen = shared->seq.load(std::memory_order_acquire);
  Clock::time_point since = Clock::now();
  const auto limit = std::chrono::seconds(options.timeout_s);
  int status = 0;
  for (;;) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) {
      std::perror("sluice plugin test: waitpid");
      return 1;
    }
    uint64_t seq = shared->seq.load(std::memory_order_acquire);
    if (seq != seen) {
      seen = seq;
      since = Clock::now();
    } else if (Clock::now() - since > limit) {
      std::string phase(shared->phase, strnlen(shared->phase, sizeof(shared->phase)));
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      std::printf("FAIL plugin hung: %s did not return within %ds (--timeout)\n", phase.c_str(),
                  options.timeout_s);
      std::printf("FAIL: the plugin hung\n");
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::string phase(shared->phase, strnlen(shared->phase, sizeof(shared->phase)));
  munmap(mem, sizeof(SharedState));
  if (WIFSIGNALED(status)) {
    std::printf("FAIL plugin crashed with %s during %s\n", SignalName(WTERMSIG(status)).c_str(),
                phase.empty() ? "start" : phase.c_str());
    std::printf("FAIL: the plugin crashed\n");
    return 1;
  }
  int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  switch (rc) {
    case 0:
      std::printf("PASS\n");
      return 0;
    case kMisbehaved:
      std::printf("FAIL: the plugin misbehaved (see the FAIL lines above)\n");
      return 1;
    case kBadOptions:
      std::printf("FAIL: the --option values do not fit the plugin's option table\n");
      return 2;
    case kLoadFailed:
      std::printf("FAIL: the plugin did not load\n");
      return 1;
    case kCreateFailed:
      std::printf("FAIL: the plugin could not create an instance\n");
      return 1;
  }
  std::printf("FAIL plugin exited with status %d during %s\n", rc, phase.c_str());
  return 1;
}

// ---- new -----------------------------------------------------------------------------------

int PluginNew(const PluginNewOptions& o) {
  bool name_ok = !o.name.empty() && o.name.size() <= 64;
  for (char c : o.name) {
    name_ok = name_ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
  }
  if (!name_ok || (o.name[0] >= '0' && o.name[0] <= '9')) {
    std::fprintf(stderr,
                 "sluice plugin new: the name \"%s\" must be a-z, 0-9 and _ (the sink type in "
                 "YAML), starting with a letter\n",
                 o.name.c_str());
    return 2;
  }
  auto files = PluginTemplate(o.name, o.lang, o.kind);
  if (files.empty()) {
    std::fprintf(stderr,
                 "sluice plugin new: --lang must be c or cpp and --kind object, record or "
                 "transform\n");
    return 2;
  }
  fs::path dir = o.dir.empty() ? fs::path(o.name) : fs::path(o.dir);
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    std::fprintf(stderr, "sluice plugin new: %s exists and is not empty\n", dir.c_str());
    return 1;
  }
  fs::create_directories(dir, ec);
  if (ec) {
    std::fprintf(stderr, "sluice plugin new: %s: %s\n", dir.c_str(), ec.message().c_str());
    return 1;
  }
  for (const auto& [name, text] : files) {
    std::ofstream out(dir / name, std::ios::binary);
    out << text;
    if (!out.good()) {
      std::fprintf(stderr, "sluice plugin new: cannot write %s\n", (dir / name).c_str());
      return 1;
    }
    std::printf("wrote %s\n", (dir / name).c_str());
  }
  std::string option = o.kind == "object"   ? " --option path=$(mktemp -d)"
                       : o.kind == "record" ? " --option path=/tmp/" + o.name + ".out"
                                            : "";
  std::printf(
      "\nbuild it against the SDK (the sdk install component, or the package's /usr) and test it:\n"
      "  cmake -S %s -B %s/build -DCMAKE_PREFIX_PATH=/usr\n"
      "  cmake --build %s/build\n"
      "  sluice plugin test %s/build/%s.so%s\n",
      dir.c_str(), dir.c_str(), dir.c_str(), dir.c_str(), o.name.c_str(), option.c_str());
  return 0;
}

}  // namespace sluice::agent
