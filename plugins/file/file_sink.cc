// The `file` sink: writes each object to <path>/<object key>, where the key is the host-rendered
// prefix plus the object name. Writes are atomic (temporary file, fsync, rename, fsync of the
// directory), so a reader never sees half an object and writing the same key twice leaves one
// object with the last content: replays after a crash are idempotent.
//
// THREADING: one FileSink per host instance; Send is never re-entered. Distinct instances write
// distinct keys (or, on a replay, the same bytes), and temporary names carry the instance address.
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

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

std::string ErrnoText(const char* what, const std::string& path, int err) {
  return std::string(what) + " " + path + ": " + std::strerror(err);
}

// mkdir -p for every directory above `file`, starting below `root` (which must exist or be made).
int MakeParents(const std::string& file, size_t root_len, std::string* error) {
  for (size_t i = root_len; i < file.size(); ++i) {
    if (file[i] != '/' || i == 0) continue;
    std::string dir = file.substr(0, i);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      *error = ErrnoText("mkdir", dir, errno);
      return -1;
    }
  }
  return 0;
}

class FileSink final : public sluice::Sink {
 public:
  static sluice::Created<sluice::Sink> Create(const sluice::Options& opts, sluice::Host host) {
    std::string root = opts.Get("path");
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    if (root.empty()) {
      return sluice::Created<sluice::Sink>::Error("path must not be empty");
    }
    std::string probe;
    if (MakeParents(root + "/", 0, &probe) != 0) {
      return sluice::Created<sluice::Sink>::Error(probe);
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
    std::string error;
    if (MakeParents(final_path, root_.size() + 1, &error) != 0) {
      return sluice::Outcome::Retry("File.Mkdir", error);
    }
    size_t slash = final_path.rfind('/');
    std::string dir = final_path.substr(0, slash);
    char tmp_name[64];
    std::snprintf(tmp_name, sizeof(tmp_name), "/.tmp-%d-%p", static_cast<int>(::getpid()),
                  static_cast<void*>(this));
    std::string tmp = dir + tmp_name;
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) return sluice::Outcome::Retry("File.Open", ErrnoText("open", tmp, errno));
    std::string_view data = batch.object();
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd, data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return sluice::Outcome::Retry("File.Write", ErrnoText("write", tmp, err));
      }
      done += static_cast<size_t>(n);
    }
    if (fsync_ && ::fsync(fd) != 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return sluice::Outcome::Retry("File.Fsync", ErrnoText("fsync", tmp, err));
    }
    ::close(fd);
    if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return sluice::Outcome::Retry("File.Rename", ErrnoText("rename", final_path, err));
    }
    if (fsync_) {
      int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
      }
    }
    host_.Count("objects_written", 1);
    host_.Count("bytes_written", data.size());
    return sluice::Outcome::Ok();
  }

  bool Healthcheck(std::string* error) override {
    if (::access(root_.c_str(), W_OK) != 0) {
      *error = ErrnoText("access", root_, errno);
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
