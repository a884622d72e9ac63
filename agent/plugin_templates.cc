#include "agent/plugin_templates.h"

#include <string_view>

namespace sluice::agent {
namespace {

// ---- C -------------------------------------------------------------------------------------

constexpr std::string_view kCRecord =
    R"~(/* @NAME@: a record sink that appends each record, one per line, to the file named by `path`.
 * Records longer than `max_record_bytes` are rejected one by one (a PARTIAL answer), so they go
 * to the delivery's error output while the others are delivered. Written against the C ABI
 * (sluice_plugin.h) and its helpers (sluice_plugin_util.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice_plugin_util.h"

typedef struct {
  FILE* out;
  uint64_t max_record_bytes;
  const sluice_host_services* host;
} sink;

static const sluice_option_def kOptions[] = {
    {"path", SLUICE_OPT_STRING, NULL, "File the records are appended to, one per line.", 1, NULL},
    {"max_record_bytes", SLUICE_OPT_SIZE, "1MiB", "Longer records go to the error output.", 0,
     NULL},
    {NULL, SLUICE_OPT_STRING, NULL, NULL, 0, NULL},
};

static int create(const sluice_host_services* host, const sluice_option* options, size_t count,
                  void** instance, char* err, size_t err_cap) {
  const char* path = sluice_option_get(options, count, "path");
  sink* s = (sink*)calloc(1, sizeof(sink));
  if (s == NULL) return sluice_error(err, err_cap, "out of memory");
  s->out = fopen(path, "ab");
  if (s->out == NULL) {
    int e = errno;
    free(s);
    return sluice_error(err, err_cap, "path: cannot open %s: %s", path, strerror(e));
  }
  s->max_record_bytes = sluice_option_size(options, count, "max_record_bytes", 1u << 20);
  s->host = host;
  *instance = s;
  return 0;
}

static int deliver(void* instance, const sluice_batch* batch, sluice_deliver_result* result) {
  sink* s = (sink*)instance;
  size_t i, rejected = 0;
  for (i = 0; i < batch->record_count; ++i) {
    const sluice_record* r = &batch->records[i];
    if (r->len > s->max_record_bytes) {
      result->outcomes[i].code = SLUICE_DELIVER_REJECT;
      result->outcomes[i].reason = "longer than max_record_bytes";
      ++rejected;
      continue;
    }
    if (fwrite(r->data, 1, r->len, s->out) != r->len || fputc('\n', s->out) == EOF) {
      return sluice_answer(result, SLUICE_DELIVER_RETRY, "Io.Write", "write: %s", strerror(errno));
    }
    result->outcomes[i].code = SLUICE_DELIVER_OK;
  }
  if (fflush(s->out) != 0) {
    return sluice_answer(result, SLUICE_DELIVER_RETRY, "Io.Flush", "flush: %s", strerror(errno));
  }
  sluice_count(s->host, "records_written", batch->record_count - rejected);
  /* Every outcome is filled above: a PARTIAL answer must leave none unset. */
  return rejected > 0 ? SLUICE_DELIVER_PARTIAL : SLUICE_DELIVER_OK;
}

static int healthcheck(void* instance, char* err, size_t err_cap) {
  sink* s = (sink*)instance;
  return ferror(s->out) ? sluice_error(err, err_cap, "the output file has an error") : 0;
}

static void destroy(void* instance) {
  sink* s = (sink*)instance;
  fclose(s->out);
  free(s);
}

/* The destination's delivery policy (ABI 1.3; the call timeout since 1.4). */
static const sluice_delivery_policy kPolicy = {
    sizeof(sluice_delivery_policy),
    0,
    1024,     /* buffer size min (bytes) */
    1 << 20,  /* default */
    16 << 20, /* max */
    0,        /* buffer interval min (ms) */
    1000,     /* default */
    60000,    /* max */
    300000,   /* retry duration default (ms) */
    7200000,  /* max */
    "@ERRTYPE@",
    60000, /* call timeout (ms, ABI 1.4) */
};

static const sluice_sink_plugin kTable = {
    {sizeof(sluice_sink_plugin), SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR, SLUICE_KIND_RECORD_SINK, 0,
     "@NAME@", "0.1.0", "Appends records, one per line, to a file.", kOptions, create, deliver,
     healthcheck, destroy},
    &kPolicy,
};

SLUICE_PLUGIN_EXPORT const sluice_plugin* sluice_plugin_entry(uint32_t host_abi_major,
                                                              uint32_t host_abi_minor) {
  (void)host_abi_minor;
  return host_abi_major == SLUICE_ABI_MAJOR ? &kTable.base : NULL;
}
)~";

constexpr std::string_view kCObject =
    R"~(/* @NAME@: an object sink that writes each object the host rendered (framed, compressed) to
 * `<path>/<object key>`, with the key's '/' turned into '_', through a temporary file and a
 * rename: the same key written twice leaves one file (SLUICE_FLAG_IDEMPOTENT_KEYS). `path` is
 * a directory that must exist. Written against the C ABI (sluice_plugin.h) and its helpers
 * (sluice_plugin_util.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice_plugin_util.h"

typedef struct {
  char dir[2048];
  const sluice_host_services* host;
} sink;

static const sluice_option_def kOptions[] = {
    {"path", SLUICE_OPT_STRING, NULL, "Directory the objects are written to (must exist).", 1,
     NULL},
    {"prefix", SLUICE_OPT_STRING, "", "Object key prefix (rendered by the host).", 0, NULL},
    {"error_prefix", SLUICE_OPT_STRING, "", "Key prefix of error output objects.", 0, NULL},
    {NULL, SLUICE_OPT_STRING, NULL, NULL, 0, NULL},
};

static int create(const sluice_host_services* host, const sluice_option* options, size_t count,
                  void** instance, char* err, size_t err_cap) {
  const char* path = sluice_option_get(options, count, "path");
  sink* s;
  if (strlen(path) >= sizeof(s->dir)) return sluice_error(err, err_cap, "path: too long");
  s = (sink*)calloc(1, sizeof(sink));
  if (s == NULL) return sluice_error(err, err_cap, "out of memory");
  sluice_copy_text(s->dir, sizeof(s->dir), path);
  s->host = host;
  *instance = s;
  return 0;
}

static int deliver(void* instance, const sluice_batch* batch, sluice_deliver_result* result) {
  sink* s = (sink*)instance;
  char file[4096], tmp[4200];
  size_t n = strlen(s->dir), k;
  FILE* f;
  int bad;
  if (n + 1 + strlen(batch->object_key) + 1 > sizeof(file)) {
    return sluice_answer(result, SLUICE_DELIVER_REJECT, "Key.TooLong", "object key too long");
  }
  memcpy(file, s->dir, n);
  file[n++] = '/';
  for (k = 0; batch->object_key[k] != '\0'; ++k) {
    file[n++] = batch->object_key[k] == '/' ? '_' : batch->object_key[k];
  }
  file[n] = '\0';
  snprintf(tmp, sizeof(tmp), "%s.tmp", file);
  f = fopen(tmp, "wb");
  if (f == NULL) {
    return sluice_answer(result, SLUICE_DELIVER_RETRY, "Io.Open", "%s: %s", tmp, strerror(errno));
  }
  bad = fwrite(batch->object_data, 1, batch->object_len, f) != batch->object_len;
  if (fclose(f) != 0) bad = 1;
  if (bad || rename(tmp, file) != 0) {
    int e = errno;
    remove(tmp);
    return sluice_answer(result, SLUICE_DELIVER_RETRY, "Io.Write", "%s: %s", file, strerror(e));
  }
  sluice_count(s->host, "objects_written", 1);
  sluice_count(s->host, "bytes_written", batch->object_len);
  return SLUICE_DELIVER_OK;
}

static int healthcheck(void* instance, char* err, size_t err_cap) {
  sink* s = (sink*)instance;
  char probe[2100];
  FILE* f;
  snprintf(probe, sizeof(probe), "%s/.healthcheck", s->dir);
  f = fopen(probe, "wb");
  if (f == NULL) return sluice_error(err, err_cap, "%s: %s", s->dir, strerror(errno));
  fclose(f);
  remove(probe);
  return 0;
}

static void destroy(void* instance) { free(instance); }

/* The destination's delivery policy (ABI 1.3; the call timeout since 1.4). */
static const sluice_delivery_policy kPolicy = {
    sizeof(sluice_delivery_policy),
    0,
    1 << 20,   /* buffer size min (bytes) */
    5 << 20,   /* default */
    128 << 20, /* max */
    0,         /* buffer interval min (ms) */
    300000,    /* default */
    900000,    /* max */
    86400000,  /* retry duration default (ms) */
    86400000,  /* max */
    "@ERRTYPE@",
    60000, /* call timeout (ms, ABI 1.4) */
};

static const sluice_sink_plugin kTable = {
    {sizeof(sluice_sink_plugin), SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR, SLUICE_KIND_OBJECT_SINK,
     SLUICE_FLAG_IDEMPOTENT_KEYS, "@NAME@", "0.1.0", "Writes each object to a file.", kOptions,
     create, deliver, healthcheck, destroy},
    &kPolicy,
};

SLUICE_PLUGIN_EXPORT const sluice_plugin* sluice_plugin_entry(uint32_t host_abi_major,
                                                              uint32_t host_abi_minor) {
  (void)host_abi_minor;
  return host_abi_major == SLUICE_ABI_MAJOR ? &kTable.base : NULL;
}
)~";

constexpr std::string_view kCTransform =
    R"~(/* @NAME@: a transform that appends `suffix` to every record and drops empty ones. The answers
 * point into a per-instance buffer that stays valid until the next call, as the ABI asks.
 * Written against the C ABI (sluice_plugin.h) and its helpers (sluice_plugin_util.h). */
#include <stdlib.h>
#include <string.h>

#include "sluice_plugin_util.h"

typedef struct {
  char suffix[256];
  size_t suffix_len;
  unsigned char* buf;
  size_t cap;
} transform;

static const sluice_option_def kOptions[] = {
    {"suffix", SLUICE_OPT_STRING, "", "Text appended to every record.", 0, NULL},
    {NULL, SLUICE_OPT_STRING, NULL, NULL, 0, NULL},
};

static int create(const sluice_host_services* host, const sluice_option* options, size_t count,
                  void** instance, char* err, size_t err_cap) {
  const char* suffix = sluice_option_get(options, count, "suffix");
  transform* t;
  (void)host;
  if (suffix == NULL) suffix = "";
  if (strlen(suffix) >= sizeof(t->suffix)) return sluice_error(err, err_cap, "suffix: too long");
  t = (transform*)calloc(1, sizeof(transform));
  if (t == NULL) return sluice_error(err, err_cap, "out of memory");
  sluice_copy_text(t->suffix, sizeof(t->suffix), suffix);
  t->suffix_len = strlen(t->suffix);
  *instance = t;
  return 0;
}

static int on_transform(void* instance, const sluice_record* records, size_t count,
                        sluice_transform_output* outputs) {
  transform* t = (transform*)instance;
  size_t total = 0, at = 0, k;
  for (k = 0; k < count; ++k) total += records[k].len + t->suffix_len;
  if (total > t->cap) {
    unsigned char* b = (unsigned char*)realloc(t->buf, total);
    if (b == NULL) return 1; /* the invocation fails as a whole; the host retries it */
    t->buf = b;
    t->cap = total;
  }
  for (k = 0; k < count; ++k) {
    if (records[k].len == 0) {
      outputs[k].code = SLUICE_TRANSFORM_DROPPED;
      continue;
    }
    memcpy(t->buf + at, records[k].data, records[k].len);
    memcpy(t->buf + at + records[k].len, t->suffix, t->suffix_len);
    outputs[k].code = SLUICE_TRANSFORM_OK;
    outputs[k].data = t->buf + at;
    outputs[k].len = records[k].len + t->suffix_len;
    at += outputs[k].len;
  }
  return 0;
}

static void destroy(void* instance) {
  transform* t = (transform*)instance;
  free(t->buf);
  free(t);
}

static const sluice_transform_plugin kTable = {
    {sizeof(sluice_transform_plugin), SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR, SLUICE_KIND_TRANSFORM, 0,
     "@NAME@", "0.1.0", "Appends a suffix to every record; drops empty ones.", kOptions, create,
     NULL, NULL, destroy},
    on_transform,
};

SLUICE_PLUGIN_EXPORT const sluice_plugin* sluice_plugin_entry(uint32_t host_abi_major,
                                                              uint32_t host_abi_minor) {
  (void)host_abi_minor;
  return host_abi_major == SLUICE_ABI_MAJOR ? &kTable.base : NULL;
}
)~";

// ---- C++ -----------------------------------------------------------------------------------

constexpr std::string_view kCppRecord =
    R"~(// @NAME@: a record sink that appends each record, one per line, to the file named by `path`.
// Records longer than `max_record_bytes` are rejected one by one (a Partial answer), so they go
// to the delivery's error output while the others are delivered.
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "sluice_sink.hpp"

namespace {

const sluice_option_def kOptions[] = {
    {"path", SLUICE_OPT_STRING, nullptr, "File the records are appended to, one per line.", 1,
     nullptr},
    {"max_record_bytes", SLUICE_OPT_SIZE, "1MiB", "Longer records go to the error output.", 0,
     nullptr},
    {nullptr, SLUICE_OPT_STRING, nullptr, nullptr, 0, nullptr},
};

class Sink final : public sluice::Sink {
 public:
  static sluice::Created<sluice::Sink> Create(const sluice::Options& opts, sluice::Host host) {
    auto s = std::make_unique<Sink>();
    s->path_ = opts.Get("path");
    s->out_.open(s->path_, std::ios::binary | std::ios::app);
    if (!s->out_) return sluice::Created<sluice::Sink>::Error("path: cannot open " + s->path_);
    s->max_record_bytes_ = opts.GetSize("max_record_bytes", 1 << 20);
    s->host_ = host;
    return s;
  }

  sluice::Outcome Send(const sluice::Batch& batch) override {
    std::vector<sluice::RecordOutcome> outcomes(batch.size());  // OK unless set otherwise
    size_t rejected = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      sluice::Record r = batch.record(i);
      if (r.data.size() > max_record_bytes_) {
        outcomes[i] = sluice::RecordOutcome::Reject("longer than max_record_bytes");
        ++rejected;
        continue;
      }
      out_.write(r.data.data(), static_cast<std::streamsize>(r.data.size())).put('\n');
    }
    out_.flush();
    if (!out_) return sluice::Outcome::Retry("Io.Write", "cannot write " + path_);
    host_.Count("records_written", batch.size() - rejected);
    if (rejected == 0) return sluice::Outcome::Ok();
    return sluice::Outcome::Partial(std::move(outcomes));
  }

  bool Healthcheck(std::string* error) override {
    if (out_.good()) return true;
    *error = "the output file has an error";
    return false;
  }

 private:
  std::string path_;
  std::ofstream out_;
  uint64_t max_record_bytes_ = 0;
  sluice::Host host_;
};

}  // namespace

// The destination's delivery policy: buffer size, buffer interval, retry duration, the error
// output type and the call timeout (ABI 1.4).
static constexpr sluice_delivery_policy kPolicy =
    sluice::MakePolicy({1024, 1 << 20, 16 << 20}, {0, 1000, 60000}, {300000, 7200000},
                       "@ERRTYPE@", 60000);

SLUICE_EXPORT_SINK_WITH_POLICY(Sink, "@NAME@", SLUICE_KIND_RECORD_SINK, 0, kOptions, "0.1.0",
                               "Appends records, one per line, to a file.", &kPolicy)
)~";

constexpr std::string_view kCppObject =
    R"~(// @NAME@: an object sink that writes each object the host rendered (framed, compressed) to
// `<path>/<object key>` through a temporary file and a rename: the same key written twice leaves
// one file (SLUICE_FLAG_IDEMPOTENT_KEYS).
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <system_error>

#include "sluice_sink.hpp"

namespace {

namespace fs = std::filesystem;

const sluice_option_def kOptions[] = {
    {"path", SLUICE_OPT_STRING, nullptr, "Directory the objects are written under.", 1, nullptr},
    {"prefix", SLUICE_OPT_STRING, "", "Object key prefix (rendered by the host).", 0, nullptr},
    {"error_prefix", SLUICE_OPT_STRING, "", "Key prefix of error output objects.", 0, nullptr},
    {nullptr, SLUICE_OPT_STRING, nullptr, nullptr, 0, nullptr},
};

class Sink final : public sluice::Sink {
 public:
  static sluice::Created<sluice::Sink> Create(const sluice::Options& opts, sluice::Host host) {
    auto s = std::make_unique<Sink>();
    s->dir_ = opts.Get("path");
    std::error_code ec;
    fs::create_directories(s->dir_, ec);
    if (ec) return sluice::Created<sluice::Sink>::Error("path: " + ec.message());
    s->host_ = host;
    return s;
  }

  sluice::Outcome Send(const sluice::Batch& batch) override {
    fs::path file = dir_ / std::string(batch.object_key());
    fs::path tmp = file;
    tmp += ".tmp";
    std::error_code ec;
    fs::create_directories(file.parent_path(), ec);
    if (ec) return sluice::Outcome::Retry("Io.Mkdir", ec.message());
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      std::string_view bytes = batch.object();
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      out.close();
      if (!out) return sluice::Outcome::Retry("Io.Write", "cannot write " + tmp.string());
    }
    fs::rename(tmp, file, ec);
    if (ec) return sluice::Outcome::Retry("Io.Rename", ec.message());
    host_.Count("objects_written", 1);
    return sluice::Outcome::Ok();
  }

  bool Healthcheck(std::string* error) override {
    std::error_code ec;
    if (fs::is_directory(dir_, ec)) return true;
    *error = dir_.string() + " is not a directory";
    return false;
  }

 private:
  fs::path dir_;
  sluice::Host host_;
};

}  // namespace

// The destination's delivery policy: buffer size, buffer interval, retry duration, the error
// output type and the call timeout (ABI 1.4).
static constexpr sluice_delivery_policy kPolicy =
    sluice::MakePolicy({1 << 20, 5 << 20, 128 << 20}, {0, 300000, 900000},
                       {86400000, 86400000}, "@ERRTYPE@", 60000);

SLUICE_EXPORT_SINK_WITH_POLICY(Sink, "@NAME@", SLUICE_KIND_OBJECT_SINK,
                               SLUICE_FLAG_IDEMPOTENT_KEYS, kOptions, "0.1.0",
                               "Writes each object to a file.", &kPolicy)
)~";

constexpr std::string_view kCppTransform =
    R"~(// @NAME@: a transform that appends `suffix` to every record and drops empty ones.
#include <memory>
#include <string>

#include "sluice_sink.hpp"

namespace {

const sluice_option_def kOptions[] = {
    {"suffix", SLUICE_OPT_STRING, "", "Text appended to every record.", 0, nullptr},
    {nullptr, SLUICE_OPT_STRING, nullptr, nullptr, 0, nullptr},
};

class Transform final : public sluice::Transform {
 public:
  static sluice::Created<sluice::Transform> Create(const sluice::Options& opts, sluice::Host) {
    auto t = std::make_unique<Transform>();
    t->suffix_ = opts.Get("suffix");
    return t;
  }

  sluice::Transformed Apply(const sluice::Record& r) override {
    if (r.data.empty()) return sluice::Transformed::Dropped();
    return sluice::Transformed::Ok(std::string(r.data) + suffix_);
  }

 private:
  std::string suffix_;
};

}  // namespace

SLUICE_EXPORT_TRANSFORM(Transform, "@NAME@", kOptions, "0.1.0",
                        "Appends a suffix to every record; drops empty ones.")
)~";

// ---- build files ---------------------------------------------------------------------------

constexpr std::string_view kCMake =
    R"~(# @NAME@: a sluice @KIND@ plugin built against the installed SDK.
#
#   cmake -S . -B build -DCMAKE_PREFIX_PATH=/usr     # where the SDK is installed
#   cmake --build build                              # -> build/@NAME@.so
#   sudo cmake --install build                       # -> <prefix>/lib/sluice/plugins/@NAME@.so
cmake_minimum_required(VERSION 3.20)
project(@NAME@ VERSION 0.1.0 LANGUAGES @LANG@)

@STANDARD@

# The version asked is the plugin ABI: major @ABI_MAJOR@, minor at least @ABI_MINOR@.
find_package(SluiceSDK @ABI_MAJOR@.@ABI_MINOR@ REQUIRED)

@ADD@(@NAME@ SOURCES @SOURCE@)

install(TARGETS @NAME@ LIBRARY DESTINATION lib/sluice/plugins)
)~";

constexpr std::string_view kReadme = R"~(# @NAME@

A sluice @KIND@ plugin (@LANGNAME@), made by `sluice plugin new`.

@WHAT@

## Build

Against the SDK of the package (`/usr`) or of a source build (`cmake --install <build>
--component sdk --prefix <dir>`):

```sh
cmake -S . -B build -DCMAKE_PREFIX_PATH=/usr
cmake --build build
```

## Test

`sluice plugin test` drives the plugin through create, batches of generated records, a retry,
healthcheck and destroy in a child process, and names every answer that breaks the ABI (and a
crash or a hang):

```sh
sluice plugin test build/@NAME@.so@TESTOPT@
sluice plugin info build/@NAME@.so
```

## Use

```yaml
plugin_dirs: [/usr/lib/sluice/plugins, /path/to/@NAME@/build]
deliveries:
  - name: out
    stream: app-logs
@USE@
```

`sluice check -c sluice.yaml` validates the options against the plugin's table.
)~";

void Replace(std::string* s, std::string_view from, std::string_view to) {
  for (size_t at = s->find(from); at != std::string::npos; at = s->find(from, at + to.size())) {
    s->replace(at, from.size(), to);
  }
}

}  // namespace

std::vector<std::pair<std::string, std::string>> PluginTemplate(const std::string& name,
                                                                const std::string& lang,
                                                                const std::string& kind) {
  const bool c = lang == "c";
  if ((!c && lang != "cpp") || (kind != "object" && kind != "record" && kind != "transform")) {
    return {};
  }
  std::string source = kind == "object"   ? std::string(c ? kCObject : kCppObject)
                       : kind == "record" ? std::string(c ? kCRecord : kCppRecord)
                                          : std::string(c ? kCTransform : kCppTransform);
  std::string source_name = name + (c ? ".c" : ".cc");
  std::string errtype = name + "-failed";
  for (char& ch : errtype) ch = ch == '_' ? '-' : ch;
  const bool transform = kind == "transform";
  std::string kind_text = transform ? "transform" : kind + " sink";

  std::string cmake(kCMake);
  Replace(&cmake, "@LANG@", c ? "C" : "CXX");
  Replace(&cmake, "@STANDARD@",
          c ? "set(CMAKE_C_STANDARD 99)\nset(CMAKE_C_STANDARD_REQUIRED ON)"
            : "set(CMAKE_CXX_STANDARD 17)  # the C++ wrapper needs C++17\n"
              "set(CMAKE_CXX_STANDARD_REQUIRED ON)");
  Replace(&cmake, "@ADD@", transform ? "sluice_add_transform" : "sluice_add_sink");
  Replace(&cmake, "@SOURCE@", source_name);
  // Sinks declare a policy with a call timeout (ABI 1.4); transforms need 1.1.
  Replace(&cmake, "@ABI_MAJOR@", "1");
  Replace(&cmake, "@ABI_MINOR@", transform ? "1" : "4");

  std::string readme(kReadme);
  Replace(&readme, "@LANGNAME@",
          c ? "C99, with sluice_plugin_util.h" : "C++17, with sluice_sink.hpp");
  Replace(&readme, "@WHAT@",
          kind == "object"   ? "Writes each object the host renders to a file under the "
                               "directory `path`."
          : kind == "record" ? "Appends each record, one per line, to the file `path`; rejects "
                               "records longer than `max_record_bytes` one by one."
                             : "Appends `suffix` to every record and drops empty ones.");
  Replace(&readme, "@TESTOPT@",
          kind == "object"   ? " --option path=$(mktemp -d)"
          : kind == "record" ? " --option path=/tmp/" + name + ".out"
                             : " --option suffix=!");
  Replace(&readme, "@USE@",
          transform ? "    transform: {plugin: " + name +
                          ", options: {suffix: \"!\"}}\n    sink: {type: file, path: /var/lib/out}"
          : kind == "object" ? "    sink: {type: " + name + ", path: /var/lib/" + name + "}"
                             : "    sink: {type: " + name + ", path: /var/lib/" + name + ".out}");

  std::vector<std::pair<std::string, std::string>> files = {
      {"CMakeLists.txt", cmake}, {source_name, source}, {"README.md", readme}};
  for (auto& [file, text] : files) {
    Replace(&text, "@NAME@", name);
    Replace(&text, "@ERRTYPE@", errtype);
    Replace(&text, "@KIND@", kind_text);
  }
  return files;
}

}  // namespace sluice::agent
