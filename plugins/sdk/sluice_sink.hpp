// sluice_sink.hpp: a header-only C++ wrapper over sluice_plugin.h (the "hourglass": C ABI in
// the middle, C++ on both sides). A sink is one class:
//
//   class MySink final : public sluice::Sink {
//    public:
//     static sluice::Created<sluice::Sink> Create(const sluice::Options& opts, sluice::Host host);
//     sluice::Outcome Send(const sluice::Batch& batch) override;
//   };
//
// (`Create(opts, host, std::string* error)` returning a unique_ptr, the 1.0 form, still works.)
// It is exported with its option table:
//
//   static const sluice_option_def kOptions[] = {{"path", SLUICE_OPT_STRING, nullptr, "...", 1,
//                                                 nullptr}, {nullptr}};
//   SLUICE_EXPORT_SINK(MySink, "mysink", SLUICE_KIND_OBJECT_SINK, 0, kOptions, "1.0", "doc");
//
// A transform plugin is one class too, exported with SLUICE_EXPORT_TRANSFORM; its options come
// from `transform: {plugin: upper, options: {...}}`:
//
//   class Upper final : public sluice::Transform {
//    public:
//     static sluice::Created<sluice::Transform> Create(const sluice::Options&, sluice::Host);
//     sluice::Transformed Apply(const sluice::Record& r) override;  // or ApplyAll, per call
//   };
//   SLUICE_EXPORT_TRANSFORM(Upper, "upper", kOptions, "1.0", "doc");
//
// The macro exports the entry symbol with noexcept trampolines: an exception escaping Create or
// Send is caught and turned into a failed create or a RETRY, never thrown across the ABI.
//
// THREADING: as sluice_plugin.h: one Sink object per host instance; Send is never re-entered on
// one object. OWNERSHIP: views in Batch and Options point into host memory valid only during
// the call that received them.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice_plugin.h"

namespace sluice {

struct Record {
  std::string_view data;
  int64_t arrival_ms = 0;
  std::string_view record_id;
  // The record's partition key in the stream (ABI 1.5 hosts, record sinks); "" otherwise.
  std::string_view partition_key;
};

// A view of a sluice_batch.
class Batch {
 public:
  explicit Batch(const sluice_batch* b) : b_(b) {}
  uint32_t attempt() const { return b_->attempt; }
  std::string_view batch_id() const { return Str(b_->batch_id); }
  std::string_view object_key() const { return Str(b_->object_key); }
  std::string_view object() const {
    return {reinterpret_cast<const char*>(b_->object_data), b_->object_len};
  }
  std::string_view content_encoding() const { return Str(b_->content_encoding); }
  // The master key id of an encrypted object (ABI 1.3 hosts); "" otherwise.
  std::string_view key_id() const {
    return b_->struct_size >= offsetof(sluice_batch, key_id) + sizeof(b_->key_id)
               ? Str(b_->key_id)
               : std::string_view();
  }
  size_t size() const { return b_->record_count; }
  Record record(size_t i) const {
    const sluice_record& r = b_->records[i];
    const bool keys =
        b_->struct_size >= offsetof(sluice_batch, partition_keys) + sizeof(b_->partition_keys) &&
        b_->partition_keys != nullptr;
    return {{reinterpret_cast<const char*>(r.data), r.len},
            r.arrival_ms,
            Str(r.record_id),
            keys ? Str(b_->partition_keys[i]) : std::string_view()};
  }

 private:
  static std::string_view Str(const char* s) {
    return s ? std::string_view(s) : std::string_view();
  }
  const sluice_batch* b_;
};

struct RecordOutcome {
  int32_t code = SLUICE_DELIVER_OK;
  uint32_t retry_after_ms = 0;
  std::string reason;
  static RecordOutcome Ok() { return {}; }
  static RecordOutcome Retry(std::string reason, uint32_t after_ms = 0) {
    return {SLUICE_DELIVER_RETRY, after_ms, std::move(reason)};
  }
  static RecordOutcome Reject(std::string reason) {
    return {SLUICE_DELIVER_REJECT, 0, std::move(reason)};
  }
};

// The answer of Send: never a bool.
struct Outcome {
  int32_t code = SLUICE_DELIVER_OK;
  uint32_t retry_after_ms = 0;
  std::string error_code;
  std::string error_message;
  std::vector<RecordOutcome> records;  // kPartial: one per record of the batch
  // Retry of an object sink whose request reached the service, its answer lost: the object may
  // be stored (sluice_deliver_result.maybe_delivered).
  bool maybe_delivered = false;

  static Outcome Ok() { return {}; }
  static Outcome Retry(std::string code, std::string message, uint32_t after_ms = 0) {
    return {SLUICE_DELIVER_RETRY, after_ms, std::move(code), std::move(message), {}};
  }
  // The request was sent and its answer lost: the service may have done it.
  static Outcome RetryMaybeDelivered(std::string code, std::string message) {
    Outcome o = Retry(std::move(code), std::move(message));
    o.maybe_delivered = true;
    return o;
  }
  static Outcome Reject(std::string code, std::string message) {
    return {SLUICE_DELIVER_REJECT, 0, std::move(code), std::move(message), {}};
  }
  static Outcome Partial(std::vector<RecordOutcome> per_record) {
    return {SLUICE_DELIVER_PARTIAL, 0, {}, {}, std::move(per_record)};
  }
};

// Validated options, in the plugin's table order, values normalised by the host.
class Options {
 public:
  Options(const sluice_option* opts, size_t n) {
    for (size_t i = 0; i < n; ++i) items_.emplace_back(opts[i].name, opts[i].value);
  }
  bool Has(std::string_view name) const { return Find(name) != nullptr; }
  std::string Get(std::string_view name, std::string fallback = {}) const {
    const std::string* v = Find(name);
    return v ? *v : fallback;
  }
  int64_t GetInt(std::string_view name, int64_t fallback = 0) const {
    const std::string* v = Find(name);
    return v ? std::strtoll(v->c_str(), nullptr, 10) : fallback;
  }
  bool GetBool(std::string_view name, bool fallback = false) const {
    const std::string* v = Find(name);
    return v ? *v == "true" : fallback;
  }
  // SLUICE_OPT_DURATION values (the host normalised them to milliseconds).
  std::chrono::milliseconds GetDuration(std::string_view name,
                                        std::chrono::milliseconds fallback = {}) const {
    const std::string* v = Find(name);
    return v ? std::chrono::milliseconds(std::strtoll(v->c_str(), nullptr, 10)) : fallback;
  }
  // SLUICE_OPT_SIZE values (the host normalised them to bytes).
  uint64_t GetSize(std::string_view name, uint64_t fallback = 0) const {
    const std::string* v = Find(name);
    return v ? std::strtoull(v->c_str(), nullptr, 10) : fallback;
  }

 private:
  const std::string* Find(std::string_view name) const {
    for (const auto& [k, v] : items_)
      if (k == name) return &v;
    return nullptr;
  }
  std::vector<std::pair<std::string, std::string>> items_;
};

// The host's services; cheap to copy.
class Host {
 public:
  Host() = default;
  explicit Host(const sluice_host_services* s) : s_(s) {}
  void Log(sluice_log_level level, std::string_view msg) const {
    if (s_ && s_->host_log) s_->host_log(s_->host_ctx, level, msg.data(), msg.size());
  }
  void Count(const char* name, uint64_t delta) const {
    if (s_ && s_->host_counter_add) s_->host_counter_add(s_->host_ctx, name, delta);
  }
  // True when the host lends host_compress (ABI 1.2 and later).
  bool CanCompress() const {
    return s_ &&
           s_->struct_size >=
               offsetof(sluice_host_services, host_compress) + sizeof(s_->host_compress) &&
           s_->host_compress_bound && s_->host_compress;
  }
  // Replaces *out with `in` compressed by the host. False when the host cannot (see
  // CanCompress) or the compression failed.
  bool Compress(sluice_codec codec, std::string_view in, std::string* out) const {
    if (!CanCompress()) return false;
    size_t bound = s_->host_compress_bound(s_->host_ctx, codec, in.size());
    if (bound == 0) return false;
    out->resize(bound);
    size_t n = s_->host_compress(s_->host_ctx, codec, in.data(), in.size(), out->data(), bound);
    out->resize(n);
    return n != 0;
  }

 private:
  const sluice_host_services* s_ = nullptr;
};

class Sink {
 public:
  virtual ~Sink() = default;
  virtual Outcome Send(const Batch& batch) = 0;
  // Returns true when healthy; otherwise false with *error set.
  virtual bool Healthcheck(std::string* /*error*/) { return true; }
};

// A delivery policy (ABI 1.3) from its three ranges: {min, default, max} bytes of buffer,
// {min, default, max} ms of buffer interval, {default, max} ms of retry duration.
struct Range3 {
  uint64_t min, def, max;
};
struct Range2 {
  uint64_t def, max;
};
constexpr sluice_delivery_policy MakePolicy(Range3 size, Range3 interval_ms, Range2 retry_ms,
                                            const char* error_output_type,
                                            uint64_t call_timeout_ms = 0) {
  return sluice_delivery_policy{sizeof(sluice_delivery_policy),
                                0,
                                size.min,
                                size.def,
                                size.max,
                                interval_ms.min,
                                interval_ms.def,
                                interval_ms.max,
                                retry_ms.def,
                                retry_ms.max,
                                error_output_type,
                                call_timeout_ms};
}

// The answer of Create: the object, or why it could not be made (never both).
template <typename Base>
struct Created {
  std::unique_ptr<Base> value;
  std::string error;
  template <typename T>
  Created(std::unique_ptr<T> v) : value(std::move(v)) {}  // NOLINT: implicit on purpose
  static Created Error(std::string why) {
    Created c(std::unique_ptr<Base>{});
    c.error = why.empty() ? "create failed" : std::move(why);
    return c;
  }
  bool ok() const { return value != nullptr; }
};

// The answer of a transform for one record.
struct Transformed {
  int32_t code = SLUICE_TRANSFORM_OK;
  std::string data;    // kOk: the new record
  std::string reason;  // Failed: why
  static Transformed Ok(std::string data) { return {SLUICE_TRANSFORM_OK, std::move(data), {}}; }
  static Transformed Dropped() { return {SLUICE_TRANSFORM_DROPPED, {}, {}}; }
  static Transformed Failed(std::string reason) {
    return {SLUICE_TRANSFORM_FAILED, {}, std::move(reason)};
  }
};

// A transform plugin (SLUICE_KIND_TRANSFORM): one answer per record, in order.
class Transform {
 public:
  virtual ~Transform() = default;
  virtual Transformed Apply(const Record& record) = 0;
  // One invocation (at most `transform.buffer.size` bytes of records): fills out[i] for each
  // records[i]. The default calls Apply per record; override it to handle the invocation as a
  // whole (one lookup or request for all its records). An exception fails the invocation.
  virtual void ApplyAll(const std::vector<Record>& records, std::vector<Transformed>* out) {
    for (size_t i = 0; i < records.size(); ++i) (*out)[i] = Apply(records[i]);
  }
};

namespace detail {

inline void CopyText(std::string_view s, char* dst, size_t cap) {
  if (cap == 0) return;
  size_t n = s.size() < cap - 1 ? s.size() : cap - 1;
  std::memcpy(dst, s.data(), n);
  dst[n] = '\0';
}

struct Instance {
  std::unique_ptr<Sink> sink;
  Outcome last;  // keeps per-record reasons alive until the next call
};

// Whether T has the Created-returning Create(opts, host).
template <typename T, typename = void>
struct HasCreated : std::false_type {};
template <typename T>
struct HasCreated<
    T, std::void_t<decltype(T::Create(std::declval<const Options&>(), std::declval<Host>()))>>
    : std::true_type {};

// Calls T::Create in either form; the object, or nullptr with *error set.
template <typename Base, typename T>
std::unique_ptr<Base> CreateOf(const Options& opts, Host host, std::string* error) {
  if constexpr (HasCreated<T>::value) {
    Created<Base> c = T::Create(opts, host);
    if (!c.ok()) *error = c.error.empty() ? "create failed" : c.error;
    return std::move(c.value);
  } else {
    std::unique_ptr<Base> v = T::Create(opts, host, error);
    if (!v && error->empty()) *error = "create failed";
    return v;
  }
}

// on_create for class T deriving from Base, kept in an Inst {std::unique_ptr<Base>, ...}.
template <typename Base, typename T, typename Inst>
int CreateInstance(const sluice_host_services* host, const sluice_option* options, size_t n,
                   void** instance, char* err, size_t err_cap) noexcept {
  try {
    std::string error;
    std::unique_ptr<Base> made = CreateOf<Base, T>(Options(options, n), Host(host), &error);
    if (!made) {
      CopyText(error, err, err_cap);
      return 1;
    }
    *instance = new Inst{std::move(made), {}};
    return 0;
  } catch (const std::exception& e) {
    CopyText(e.what(), err, err_cap);
  } catch (...) {
    CopyText("unknown exception in create", err, err_cap);
  }
  return 1;
}

template <typename Inst>
void DestroyInstance(void* instance) noexcept {
  try {
    delete static_cast<Inst*>(instance);
  } catch (...) {
  }
}

template <typename T>
struct Trampolines {
  static constexpr auto Create = &CreateInstance<Sink, T, Instance>;
  static constexpr auto Destroy = &DestroyInstance<Instance>;

  static int Deliver(void* instance, const sluice_batch* batch,
                     sluice_deliver_result* result) noexcept {
    auto* inst = static_cast<Instance*>(instance);
    try {
      inst->last = inst->sink->Send(Batch(batch));
    } catch (const std::exception& e) {
      inst->last = Outcome::Retry("Plugin.Exception", e.what());
    } catch (...) {
      inst->last = Outcome::Retry("Plugin.Exception", "unknown exception");
    }
    const Outcome& o = inst->last;
    result->retry_after_ms = o.retry_after_ms;
    CopyText(o.error_code, result->error_code, sizeof(result->error_code));
    CopyText(o.error_message, result->error_message, sizeof(result->error_message));
    if (o.code == SLUICE_DELIVER_RETRY && o.maybe_delivered &&
        result->struct_size >=
            offsetof(sluice_deliver_result, maybe_delivered) + sizeof(result->maybe_delivered)) {
      result->maybe_delivered = 1;
    }
    if (o.code == SLUICE_DELIVER_PARTIAL) {
      if (!result->outcomes || o.records.size() != batch->record_count) {
        CopyText("Plugin.BadPartial", result->error_code, sizeof(result->error_code));
        CopyText("partial answer does not cover every record", result->error_message,
                 sizeof(result->error_message));
        return SLUICE_DELIVER_RETRY;
      }
      for (size_t i = 0; i < o.records.size(); ++i) {
        result->outcomes[i].code = o.records[i].code;
        result->outcomes[i].retry_after_ms = o.records[i].retry_after_ms;
        result->outcomes[i].reason =
            o.records[i].reason.empty() ? nullptr : o.records[i].reason.c_str();
      }
    }
    return o.code;
  }

  static int Healthcheck(void* instance, char* err, size_t err_cap) noexcept {
    try {
      std::string error;
      if (static_cast<Instance*>(instance)->sink->Healthcheck(&error)) return 0;
      CopyText(error, err, err_cap);
    } catch (...) {
      CopyText("exception in healthcheck", err, err_cap);
    }
    return 1;
  }
};

struct TransformInstance {
  std::unique_ptr<Transform> transform;
  std::vector<Transformed> last;  // keeps answers alive until the next call, as the ABI asks
};

template <typename T>
struct TransformTrampolines {
  static constexpr auto Create = &CreateInstance<Transform, T, TransformInstance>;
  static constexpr auto Destroy = &DestroyInstance<TransformInstance>;

  // An exception fails the whole invocation (the host retries it, then fails every record).
  static int Apply(void* instance, const sluice_record* records, size_t count,
                   sluice_transform_output* outputs) noexcept {
    auto* inst = static_cast<TransformInstance*>(instance);
    try {
      std::vector<Record> in(count);
      for (size_t i = 0; i < count; ++i) {
        const sluice_record& r = records[i];
        in[i] = {{reinterpret_cast<const char*>(r.data), r.len},
                 r.arrival_ms,
                 r.record_id ? std::string_view(r.record_id) : std::string_view(),
                 std::string_view()};
      }
      inst->last.assign(count, Transformed::Failed("no answer"));
      inst->transform->ApplyAll(in, &inst->last);
      if (inst->last.size() != count) return 1;  // resized by ApplyAll: not one answer each
      for (size_t i = 0; i < count; ++i) {
        const Transformed& t = inst->last[i];
        outputs[i].code = t.code;
        outputs[i].data = reinterpret_cast<const uint8_t*>(t.data.data());
        outputs[i].len = t.data.size();
        outputs[i].reason = t.reason.empty() ? nullptr : t.reason.c_str();
      }
      return 0;
    } catch (...) {
      return 1;
    }
  }
};

}  // namespace detail
}  // namespace sluice

// Exports the plugin entry for sink class `Class`. Use once per shared object, at namespace
// scope. `options` is a sluice_option_def array ending with a NULL name. The sink gets the
// default delivery policy (see sluice_delivery_policy); SLUICE_EXPORT_SINK_WITH_POLICY declares
// its own.
#define SLUICE_EXPORT_SINK(Class, name_, kind_, flags_, options_, version_, doc_) \
  SLUICE_EXPORT_SINK_WITH_POLICY(Class, name_, kind_, flags_, options_, version_, doc_, nullptr)

// As SLUICE_EXPORT_SINK, with `policy_` a pointer to a static sluice_delivery_policy.
#define SLUICE_EXPORT_SINK_WITH_POLICY(Class, name_, kind_, flags_, options_, version_, doc_, \
                                       policy_)                                               \
  extern "C" SLUICE_PLUGIN_EXPORT const sluice_plugin* sluice_plugin_entry(                   \
      uint32_t host_abi_major, uint32_t /*host_abi_minor*/) {                                 \
    static const sluice_sink_plugin table = {                                                 \
        {                                                                                     \
            sizeof(sluice_sink_plugin),                                                       \
            SLUICE_ABI_MAJOR,                                                                 \
            SLUICE_ABI_MINOR,                                                                 \
            static_cast<uint32_t>(kind_),                                                     \
            static_cast<uint32_t>(flags_),                                                    \
            name_,                                                                            \
            version_,                                                                         \
            doc_,                                                                             \
            options_,                                                                         \
            ::sluice::detail::Trampolines<Class>::Create,                                     \
            &::sluice::detail::Trampolines<Class>::Deliver,                                   \
            &::sluice::detail::Trampolines<Class>::Healthcheck,                               \
            ::sluice::detail::Trampolines<Class>::Destroy,                                    \
        },                                                                                    \
        policy_,                                                                              \
    };                                                                                        \
    return host_abi_major == SLUICE_ABI_MAJOR ? &table.base : nullptr;                        \
  }

// Exports the plugin entry for transform class `Class` (a sluice::Transform): named in YAML by
// `transform: {plugin: <name_>}`. Use once per shared object, at namespace scope.
#define SLUICE_EXPORT_TRANSFORM(Class, name_, options_, version_, doc_)     \
  extern "C" SLUICE_PLUGIN_EXPORT const sluice_plugin* sluice_plugin_entry( \
      uint32_t host_abi_major, uint32_t /*host_abi_minor*/) {               \
    static const sluice_transform_plugin table = {                          \
        {                                                                   \
            sizeof(sluice_transform_plugin),                                \
            SLUICE_ABI_MAJOR,                                               \
            SLUICE_ABI_MINOR,                                               \
            static_cast<uint32_t>(SLUICE_KIND_TRANSFORM),                   \
            0u,                                                             \
            name_,                                                          \
            version_,                                                       \
            doc_,                                                           \
            options_,                                                       \
            ::sluice::detail::TransformTrampolines<Class>::Create,          \
            nullptr,                                                        \
            nullptr,                                                        \
            ::sluice::detail::TransformTrampolines<Class>::Destroy,         \
        },                                                                  \
        &::sluice::detail::TransformTrampolines<Class>::Apply,              \
    };                                                                      \
    return host_abi_major == SLUICE_ABI_MAJOR ? &table.base : nullptr;      \
  }
