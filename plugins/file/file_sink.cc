// The `file` sink: writes each object to <path>/<object key>, where the key is the host-rendered
// prefix plus the object name. Writes are atomic (core/fd's WriteFileAtomically: temporary file,
// fsync, rename, fsync of the directory; mode 0640), so a reader never sees half an object and
// writing the same key twice leaves one object with the last content: replays after a crash are
// idempotent.
//
// THREADING: one FileSink per host instance; Send is never re-entered. Distinct instances write
// distinct keys (or, on a replay, the same bytes), and temporary names carry the instance address.
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "core/fd.h"
#include "core/status.h"
#include "sluice_sink.hpp"

namespace {

const sluice_option_def kOptions[] = {
    {"path", SLUICE_OPT_STRING, nullptr, "Directory the objects are written under.", 1, nullptr},
    {"prefix", SLUICE_OPT_STRING, "",
     "Object key prefix; expressions !{timestamp:...} and !{firehose:random-string}; default "
     "YYYY/MM/dd/HH/.",
     0, nullptr},
    {"error_prefix", SLUICE_OPT_STRING, "",
     "Key prefix of error output objects; must contain !{firehose:error-output-type}.", 0, nullptr},
    {"fsync", SLUICE_OPT_BOOL, "true", "fsync each object and its directory before answering.", 0,
     nullptr},
    {nullptr, SLUICE_OPT_STRING, nullptr, nullptr, 0, nullptr},
};

// mkdir -p for every directory above `file`, starting below `root` (which must exist or be made).
sluice::Status MakeParents(const std::string& file, size_t root_len) {
  for (size_t i = root_len; i < file.size(); ++i) {
    if (file[i] != '/' || i == 0) continue;
    std::string dir = file.substr(0, i);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return sluice::ErrnoError("mkdir " + dir, errno);
    }
  }
  return sluice::Status::Ok();
}

class FileSink final : public sluice::Sink {
 public:
  static sluice::Created<sluice::Sink> Create(const sluice::Options& opts, sluice::Host host) {
    std::string root = opts.Get("path");
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    if (root.empty()) {
      return sluice::Created<sluice::Sink>::Error("path must not be empty");
    }
    if (sluice::Status st = MakeParents(root + "/", 0); !st.ok()) {
      return sluice::Created<sluice::Sink>::Error(st.message());
    }
    auto sink = std::make_unique<FileSink>();
    sink->root_ = root;
    sink->fsync_ = opts.GetBool("fsync", true);
    sink->host_ = host;
    return sink;
  }

  sluice::Outcome Send(const sluice::Batch& batch) override {
    std::string_view key = batch.object_key();
    if (key.empty() || key.front() == '/' || key.find("..") != std::string_view::npos) {
      return sluice::Outcome::Reject("File.BadKey", "object key is empty, absolute or has '..'");
    }
    std::string final_path = root_ + "/" + std::string(key);
    if (sluice::Status st = MakeParents(final_path, root_.size() + 1); !st.ok()) {
      return sluice::Outcome::Retry("File.Mkdir", st.message());
    }
    // A temporary name of this instance's own: another instance (a replay) may write the same
    // key at the same time.
    char tmp_name[64];
    std::snprintf(tmp_name, sizeof(tmp_name), ".tmp-%d-%p", static_cast<int>(::getpid()),
                  static_cast<void*>(this));
    std::string_view data = batch.object();
    sluice::Status st = sluice::WriteFileAtomically(
        final_path, data, fsync_ ? sluice::Durability::kSynced : sluice::Durability::kUnsynced,
        tmp_name);
    if (!st.ok()) return sluice::Outcome::Retry("File.Write", st.message());
    host_.Count("objects_written", 1);
    host_.Count("bytes_written", data.size());
    return sluice::Outcome::Ok();
  }

  bool Healthcheck(std::string* error) override {
    if (::access(root_.c_str(), W_OK) != 0) {
      *error = sluice::ErrnoError("access " + root_, errno).message();
      return false;
    }
    return true;
  }

 private:
  std::string root_;
  bool fsync_ = true;
  sluice::Host host_;
};

}  // namespace

// The delivery policy: Firehose S3 destination ranges (a local file system stands in for S3).
static constexpr sluice_delivery_policy kFilePolicy = sluice::MakePolicy(
    {1 << 20, 5 << 20, 128 << 20}, {0, 300000, 900000}, {86400000, 86400000}, "file-failed");

SLUICE_EXPORT_SINK_WITH_POLICY(
    FileSink, "file", SLUICE_KIND_OBJECT_SINK, SLUICE_FLAG_IDEMPOTENT_KEYS, kOptions, "1.0",
    "Writes each object atomically to a local directory, named as S3 keys.", &kFilePolicy)
