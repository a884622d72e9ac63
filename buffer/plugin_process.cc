#include "buffer/plugin_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "core/clock.h"
#include "core/log.h"

extern char** environ;

namespace sluice::buffer {
namespace {

// The fd the child finds its socket on.
constexpr int kChildFd = 3;
// Control messages: a header and a small inline payload (log lines, counter names, errors).
constexpr size_t kMaxInline = 60000;
constexpr int kSliceMs = 50;
constexpr int64_t kBackoffFirstMs = 100;
constexpr int64_t kBackoffCapMs = 5000;
// Descriptors one message carries at most.
constexpr size_t kMaxFds = 2;
// Shared regions a child keeps mapped before the parent tells it which are gone.
constexpr size_t kMaxChildRegions = 16;

enum MsgType : uint32_t {
  kCreate = 1,  // shm: plugin path, delivery, options; carries the memfd and the plugin's copy
  kDeliver = 2,
  kTransform = 3,
  kHealthcheck = 4,
  kDestroy = 5,
  kRegion = 6,  // a: a shared region's id; carries its memory file (SCM_RIGHTS); no answer
  kForget = 7,  // a: a region's id, gone in the parent; no answer
  // rc; a, b: the answer's offset and length in shm; inline: error text, then (after a NUL) the
  // counters the plugin added during the call: {u64 delta, u32 length, name}...
  kReply = 100,
  kLog = 101,      // rc: level; inline: the line
  kCounter = 102,  // a: delta; inline: the name
};

struct Header {
  uint32_t type;
  int32_t rc;
  uint64_t a;         // requests: payload length (at offset 0); replies: answer offset
  uint64_t b;         // replies: answer length; counters: delta
  uint64_t shm_size;  // the sender's mapped size: the receiver maps at least this much
};

// Sends one message; the descriptors >= 0 of `pass` ride along (SCM_RIGHTS).
bool SendMsg(int sock, const Header& h, std::string_view inline_text = {},
             std::initializer_list<int> pass = {}) {
  if (inline_text.size() > kMaxInline) inline_text = inline_text.substr(0, kMaxInline);
  iovec iov[2] = {{const_cast<Header*>(&h), sizeof(h)},
                  {const_cast<char*>(inline_text.data()), inline_text.size()}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = inline_text.empty() ? 1 : 2;
  int fds[kMaxFds];
  size_t nfds = 0;
  for (int fd : pass) {
    if (fd >= 0 && nfds < kMaxFds) fds[nfds++] = fd;
  }
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(fds))];
  if (nfds > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
  }
  while (true) {
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n >= 0) return true;
    if (errno != EINTR) return false;
  }
}

// Receives one message: 1 got one, 0 end of file, -1 error. Passed descriptors land in fds (in
// order; the rest stay -1), or are closed when fds is null.
int RecvMsg(int sock, Header* h, std::string* inline_text, int (*fds)[kMaxFds]) {
  static thread_local std::vector<char> buf(sizeof(Header) + kMaxInline);
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(kMaxFds * sizeof(int))];
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  if (fds != nullptr) std::fill(std::begin(*fds), std::end(*fds), -1);
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return 0;
  if (n < static_cast<ssize_t>(sizeof(Header))) return -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int got;
        std::memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (fds != nullptr && i < kMaxFds) {
          (*fds)[i] = got;
        } else {
          close(got);
        }
      }
    }
  }
  std::memcpy(h, buf.data(), sizeof(Header));
  inline_text->assign(buf.data() + sizeof(Header), static_cast<size_t>(n) - sizeof(Header));
  return 1;
}

// A shared memory mapping of the memfd both sides hold.
struct Mapping {
  int fd = -1;
  char* base = nullptr;
  size_t size = 0;
};

// Maps at least `n` bytes of the file, growing it when it is shorter (never shrinking it: the
// other side may map more). The old mapping goes to *retired when given (the caller still reads
// it), else it is unmapped.
bool MapAtLeast(Mapping* m, size_t n, std::vector<std::pair<char*, size_t>>* retired = nullptr) {
  if (n <= m->size && m->base != nullptr) return true;
  struct stat st;
  if (fstat(m->fd, &st) != 0) return false;
  size_t file = static_cast<size_t>(st.st_size);
  size_t want = file;
  if (file < n) {
    constexpr size_t kMiB = 1u << 20;
    want = (std::max(n, file + file / 2) + kMiB - 1) / kMiB * kMiB;
    if (ftruncate(m->fd, static_cast<off_t>(want)) != 0) return false;
  }
  void* p = mmap(nullptr, want, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
  if (p == MAP_FAILED) return false;
  if (m->base != nullptr) {
    if (retired != nullptr) {
      retired->emplace_back(m->base, m->size);
    } else {
      munmap(m->base, m->size);
    }
  }
  m->base = static_cast<char*>(p);
  m->size = want;
  return true;
}

// The child's read-only mappings of the parent's shared regions (kRegion), by id.
class RegionMaps {
 public:
  RegionMaps() = default;
  RegionMaps(const RegionMaps&) = delete;
  RegionMaps& operator=(const RegionMaps&) = delete;
  ~RegionMaps() {
    for (auto& [id, m] : maps_) Drop(m);
  }
  void Add(uint64_t id, int fd) {
    Forget(id);
    maps_.emplace_back(id, Mapping{fd, nullptr, 0});
  }
  void Forget(uint64_t id) {
    for (auto it = maps_.begin(); it != maps_.end(); ++it) {
      if (it->first == id) {
        Drop(it->second);
        maps_.erase(it);
        return;
      }
    }
  }
  // [offset, offset + len) of region `id`, mapped (again, larger) when the region grew past what
  // is mapped; nullptr when the region is unknown or shorter.
  const char* Resolve(uint64_t id, uint64_t offset, uint64_t len) {
    for (auto& [known, m] : maps_) {
      if (known != id) continue;
      if (len > m.size || offset > m.size - len) {
        struct stat st;
        if (fstat(m.fd, &st) != 0) return nullptr;
        auto file = static_cast<size_t>(st.st_size);
        if (len > file || offset > file - len) return nullptr;
        if (m.base != nullptr) munmap(m.base, m.size);
        void* p = mmap(nullptr, file, PROT_READ, MAP_SHARED | MAP_POPULATE, m.fd, 0);
        m.base = p == MAP_FAILED ? nullptr : static_cast<char*>(p);
        m.size = p == MAP_FAILED ? 0 : file;
        if (m.base == nullptr) return nullptr;
      }
      return m.base + offset;
    }
    return nullptr;
  }

 private:
  static void Drop(Mapping& m) {
    if (m.base != nullptr) munmap(m.base, m.size);
    if (m.fd >= 0) close(m.fd);
  }
  std::vector<std::pair<uint64_t, Mapping>> maps_;
};

// Writes (or, with a null base, measures) a message body.
struct Out {
  char* p = nullptr;
  size_t n = 0;
  void Raw(const void* d, size_t len) {
    if (p != nullptr && len > 0) std::memcpy(p + n, d, len);
    n += len;
  }
  void U8(uint8_t v) { Raw(&v, 1); }
  void U32(uint32_t v) { Raw(&v, 4); }
  void I32(int32_t v) { Raw(&v, 4); }
  void U64(uint64_t v) { Raw(&v, 8); }
  void I64(int64_t v) { Raw(&v, 8); }
  // Present flag, length, bytes and a NUL (so the reader may hand out C strings in place).
  void Blob(const void* d, size_t len) {
    U8(d != nullptr);
    if (d == nullptr) return;
    U64(len);
    Raw(d, len);
    U8(0);
  }
  void Str(const char* s) { Blob(s, s ? std::strlen(s) : 0); }
  void Str(std::string_view s) { Blob(s.data() ? s.data() : "", s.size()); }
  // Bytes that are in a shared region the child maps: their place, not a copy (no NUL after).
  void Ref(uint64_t region, uint64_t offset, uint64_t len) {
    U8(2);
    U64(region);
    U64(offset);
    U64(len);
  }
  // Blob, or Ref when `region` holds the bytes.
  void Bytes(const void* d, size_t len, const SharedRegion* region) {
    if (region != nullptr && d != nullptr && region->Contains(d, len)) {
      Ref(region->id, static_cast<uint64_t>(static_cast<const char*>(d) - region->base), len);
    } else {
      Blob(d, len);
    }
  }
};

// Reads a body written by Out; any overrun clears ok.
struct In {
  const char* p;
  size_t n;
  RegionMaps* regions = nullptr;  // resolves Refs (the child's); none: a Ref is malformed
  size_t pos = 0;
  bool ok = true;
  bool Raw(void* d, size_t len) {
    if (!ok || n - pos < len) return ok = false;
    std::memcpy(d, p + pos, len);
    pos += len;
    return true;
  }
  template <typename T>
  T Num() {
    T v{};
    Raw(&v, sizeof(v));
    return v;
  }
  uint8_t U8() { return Num<uint8_t>(); }
  uint32_t U32() { return Num<uint32_t>(); }
  int32_t I32() { return Num<int32_t>(); }
  uint64_t U64() { return Num<uint64_t>(); }
  int64_t I64() { return Num<int64_t>(); }
  // The bytes in place (NUL-terminated), or nullptr when absent or malformed.
  const char* Blob(size_t* len) {
    *len = 0;
    uint8_t tag = U8();
    if (tag == 0) return nullptr;
    if (tag == 2) {
      uint64_t region = U64(), offset = U64(), l = U64();
      const char* d = ok && regions != nullptr ? regions->Resolve(region, offset, l) : nullptr;
      if (d == nullptr) {
        ok = false;
        return nullptr;
      }
      *len = l;
      return d;
    }
    uint64_t l = U64();
    if (!ok || l >= n - pos) {
      ok = false;
      return nullptr;
    }
    const char* d = p + pos;
    pos += l + 1;
    *len = l;
    return d;
  }
  const char* Str() {
    size_t len;
    return Blob(&len);
  }
};

bool HasKeyId(const sluice_batch& b) {
  return b.struct_size >= offsetof(sluice_batch, key_id) + sizeof(b.key_id);
}

bool HasPartitionKeys(const sluice_batch& b) {
  return b.struct_size >= offsetof(sluice_batch, partition_keys) + sizeof(b.partition_keys);
}

// The shared regions the child maps that hold a request's bytes: sent as offsets, not copied.
struct InRegions {
  const SharedRegion* object = nullptr;
  const SharedRegion* records = nullptr;
};

void EncodeRecords(Out& w, const sluice_record* records, size_t count, const SharedRegion* region) {
  w.U64(count);
  for (size_t i = 0; i < count; ++i) {
    w.I64(records[i].arrival_ms);
    w.Str(records[i].record_id);
    w.Bytes(records[i].data, records[i].len, region);
  }
}

void EncodeBatch(Out& w, const sluice_batch& b, const InRegions& regions) {
  w.U32(b.attempt);
  w.Str(b.batch_id);
  w.Str(b.object_key);
  w.Str(b.content_encoding);
  w.Str(HasKeyId(b) ? b.key_id : nullptr);
  w.Bytes(b.object_data, b.object_len, regions.object);
  size_t count = b.records != nullptr ? b.record_count : 0;
  EncodeRecords(w, b.records, count, regions.records);
  const bool keys = HasPartitionKeys(b) && b.partition_keys != nullptr && count > 0;
  w.U8(keys);
  for (size_t i = 0; keys && i < count; ++i) w.Str(b.partition_keys[i]);
}

// Records decoded in place (pointers into shared memory).
bool DecodeRecords(In& in, std::vector<sluice_record>* out) {
  uint64_t count = in.U64();
  if (!in.ok || count > in.n) return false;
  out->resize(count);
  for (uint64_t i = 0; i < count; ++i) {
    sluice_record& r = (*out)[i];
    r.arrival_ms = in.I64();
    r.record_id = in.Str();
    size_t len;
    r.data = reinterpret_cast<const uint8_t*>(in.Blob(&len));
    r.len = len;
  }
  return in.ok;
}

// Runs jobs on one thread that lives as long as the process: a child's PR_SET_PDEATHSIG fires
// when the thread that spawned it exits, so children are never spawned by a delivery worker.
void OnSpawnerThread(const std::function<void()>& job) {
  struct Job {
    const std::function<void()>* fn;
    bool done = false;
  };
  // Never destroyed: the thread still waits on them while the process exits.
  struct Queue {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Job*> jobs;
  };
  static Queue* const q = [] {
    auto* queue = new Queue();
    std::thread([queue] {
      std::unique_lock<std::mutex> lock(queue->mu);
      while (true) {
        queue->cv.wait(lock, [queue] { return !queue->jobs.empty(); });
        Job* j = queue->jobs.front();
        queue->jobs.pop_front();
        lock.unlock();
        (*j->fn)();
        lock.lock();
        j->done = true;
        queue->cv.notify_all();
      }
    }).detach();
    return queue;
  }();
  Job j{&job};
  std::unique_lock<std::mutex> lock(q->mu);
  q->jobs.push_back(&j);
  q->cv.notify_all();
  q->cv.wait(lock, [&] { return j.done; });
}

// Starts `<exe> plugin-host --fd 3` with its end of a new socket pair; *sock is ours.
Status Spawn(const std::filesystem::path& exe, pid_t* pid, int* sock) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return IoError(std::string("socketpair: ") + std::strerror(errno));
  }
  int child_end = sv[1];
  if (child_end == kChildFd) {  // dup2 onto itself would keep close-on-exec
    child_end = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
    close(sv[1]);
  }
  int err = 0;
  OnSpawnerThread([&] {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, child_end, kChildFd);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    // Its own process group: a terminal's Ctrl-C goes to the daemon, which stops its children.
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    std::string exe_s = exe.string(), fd_s = std::to_string(kChildFd);
    char* argv[] = {exe_s.data(), const_cast<char*>("plugin-host"), const_cast<char*>("--fd"),
                    fd_s.data(), nullptr};
    err = posix_spawn(pid, exe_s.c_str(), &fa, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
  });
  close(child_end);
  if (err != 0) {
    close(sv[0]);
    return IoError("cannot start the plugin child " + exe.string() + ": " + std::strerror(err));
  }
  *sock = sv[0];
  return Status::Ok();
}

// "killed by SIGSEGV", "exited with code 3".
std::string DescribeExit(int status) {
  if (WIFSIGNALED(status)) {
    const char* abbrev = sigabbrev_np(WTERMSIG(status));
    return std::string("killed by ") +
           (abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(WTERMSIG(status)));
  }
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  return "ended (status " + std::to_string(status) + ")";
}

// Waits for `pid` up to `grace_ms`, then kills and reaps it. Returns its wait status.
int Reap(pid_t pid, int grace_ms) {
  int status = 0;
  for (int waited_us = 0;; waited_us += 500) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) return status;
    if (waited_us >= grace_ms * 1000) break;
    usleep(500);
  }
  kill(pid, SIGKILL);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// ---------------------------------------------------------------------------------------------
// The child
// ---------------------------------------------------------------------------------------------

class ChildHost final : public HostCalls {
 public:
  explicit ChildHost(int sock) : sock_(sock) {}

  void Log(sluice_log_level level, std::string_view msg) override {
    Header h{kLog, static_cast<int32_t>(level), 0, 0, 0};
    std::lock_guard<std::mutex> lock(send_mu_);
    SendMsg(sock_, h, msg);
  }
  // During a call the counts ride with its answer (one message, not one per count).
  void Count(const char* name, uint64_t delta) override {
    std::lock_guard<std::mutex> lock(send_mu_);
    size_t len = std::strlen(name);
    if (in_call_ && counts_.size() + len + 12 < kMaxInline / 2) {
      auto n = static_cast<uint32_t>(len);
      counts_.append(reinterpret_cast<const char*>(&delta), sizeof(delta));
      counts_.append(reinterpret_cast<const char*>(&n), sizeof(n));
      counts_.append(name, len);
      return;
    }
    SendMsg(sock_, Header{kCounter, 0, 0, delta, 0}, name);
  }

  int Serve() {
    while (true) {
      Header h;
      std::string text;
      int fds[kMaxFds];
      int got = RecvMsg(sock_, &h, &text, &fds);
      if (got == 0) return 0;  // the parent is gone
      if (got < 0) return 1;
      if (h.type == kRegion) {
        if (fds[0] < 0) return 1;
        regions_.Add(h.a, fds[0]);
        continue;
      }
      if (h.type == kForget) {
        regions_.Forget(h.a);
        continue;
      }
      int fd = fds[0];
      if (h.type == kCreate) plugin_copy_ = fds[1];
      if (fd >= 0) {
        if (shm_.base != nullptr) munmap(shm_.base, shm_.size);
        if (shm_.fd >= 0) close(shm_.fd);
        shm_ = Mapping{fd, nullptr, 0};
      }
      if (shm_.fd < 0 || !MapAtLeast(&shm_, std::max<size_t>(h.shm_size, h.a))) {
        return Reply(1, "the plugin child cannot map the shared memory"), 1;
      }
      In in{shm_.base, h.a, &regions_};
      {
        std::lock_guard<std::mutex> lock(send_mu_);
        in_call_ = true;
      }
      switch (h.type) {
        case kCreate:
          if (!Create(in)) return 1;
          break;
        case kDeliver:
          Deliver(in, h.a);
          break;
        case kTransform:
          Transform(in, h.a);
          break;
        case kHealthcheck: {
          if (!inst_) return 1;
          Status st = inst_->Healthcheck();
          Reply(st.ok() ? 0 : 1, st.ok() ? "" : st.message());
          break;
        }
        case kDestroy:
          inst_.reset();
          Reply(0, "");
          return 0;
        default:
          return 1;
      }
    }
  }

 private:
  void Reply(int32_t rc, std::string_view text, uint64_t offset = 0, uint64_t len = 0) {
    Header h{kReply, rc, offset, len, shm_.size};
    std::lock_guard<std::mutex> lock(send_mu_);
    in_call_ = false;
    if (counts_.empty()) {
      SendMsg(sock_, h, text.substr(0, kMaxInline / 2));
      return;
    }
    reply_.assign(text.substr(0, std::min(text.find('\0'), kMaxInline / 2 - 1)));
    reply_.push_back('\0');
    reply_ += counts_;
    counts_.clear();
    SendMsg(sock_, h, reply_);
  }

  bool Create(In& in) {
    const char* path = in.Str();
    const char* delivery = in.Str();
    uint64_t n = in.U64();
    ValidatedOptions options;
    for (uint64_t i = 0; in.ok && i < n; ++i) {
      size_t nl, vl;
      const char* name = in.Blob(&nl);
      const char* value = in.Blob(&vl);
      if (!in.ok || name == nullptr || value == nullptr) break;
      options.push_back({std::string(name, nl), std::string(value, vl)});
    }
    if (!in.ok || path == nullptr || delivery == nullptr) {
      Reply(1, "malformed create request");
      return false;
    }
    host_ = std::make_unique<PluginHost>(std::vector<std::filesystem::path>{});
    // The parent's private copy: the bytes it checked, whatever became of the file since.
    Result<const Plugin*> plugin =
        plugin_copy_ >= 0 ? host_->LoadCopy(path, plugin_copy_) : host_->LoadFile(path);
    plugin_copy_ = -1;  // the host has it
    if (!plugin.ok()) {
      Reply(1, plugin.status().message());
      return false;
    }
    auto inst = InProcessSinkInstance::Create(*plugin, options, delivery, nullptr, this);
    if (!inst.ok()) {
      Reply(1, inst.status().message());
      return false;
    }
    inst_ = std::move(*inst);
    object_sink_ = (*plugin)->object_sink();
    Reply(0, "");
    return true;
  }

  // Where the answer goes: after the request, which the plugin's pointers may still point into.
  static uint64_t AnswerOffset(uint64_t request_len) { return (request_len + 63) / 64 * 64; }

  // Writes the answer `encode` makes (measured first) after the request and replies.
  template <typename Encode>
  void Answer(int32_t rc, uint64_t request_len, Encode encode) {
    Out measure;
    encode(measure);
    uint64_t offset = AnswerOffset(request_len);
    std::vector<std::pair<char*, size_t>> retired;  // the request's mapping, still read below
    if (!MapAtLeast(&shm_, offset + measure.n, &retired)) {
      Reply(-1, "the plugin child cannot grow the shared memory");
      return;
    }
    Out w{shm_.base + offset};
    encode(w);
    for (auto& [p, n] : retired) munmap(p, n);
    Reply(rc, "", offset, w.n);
  }

  void Deliver(In& in, uint64_t request_len) {
    sluice_batch b{};
    b.struct_size = sizeof(b);
    b.attempt = in.U32();
    b.batch_id = in.Str();
    b.object_key = in.Str();
    b.content_encoding = in.Str();
    b.key_id = in.Str();
    size_t len;
    b.object_data = reinterpret_cast<const uint8_t*>(in.Blob(&len));
    b.object_len = len;
    bool ok = DecodeRecords(in, &records_);
    keys_.clear();
    if (ok && in.U8() != 0) {
      for (size_t i = 0; in.ok && i < records_.size(); ++i) keys_.push_back(in.Str());
    }
    if (!ok || !in.ok || !inst_) {
      Reply(-1, "malformed deliver request");
      return;
    }
    b.records = records_.empty() ? nullptr : records_.data();
    b.record_count = records_.size();
    b.partition_keys = keys_.empty() ? nullptr : keys_.data();
    // As the host does in process: every outcome unset until the plugin says otherwise.
    outcomes_.assign(records_.size(), sluice_record_outcome{-1, 0, nullptr});
    sluice_deliver_result result;
    result.outcomes = object_sink_ ? nullptr : outcomes_.data();
    int rc = inst_->Deliver(b, &result);
    size_t n = object_sink_ ? 0 : outcomes_.size();
    Answer(rc, request_len, [&](Out& w) {
      w.U32(result.retry_after_ms);
      w.Str(result.error_code);
      w.Str(result.error_message);
      w.U32(result.maybe_delivered);
      w.U64(n);
      for (size_t i = 0; i < n; ++i) {
        w.I32(outcomes_[i].code);
        w.U32(outcomes_[i].retry_after_ms);
        w.Str(outcomes_[i].reason);
      }
    });
  }

  void Transform(In& in, uint64_t request_len) {
    if (!DecodeRecords(in, &records_) || !inst_) {
      Reply(-1, "malformed transform request");
      return;
    }
    outputs_.resize(records_.size());
    int rc = inst_->Transform(records_.data(), records_.size(), outputs_.data());
    Answer(rc, request_len, [&](Out& w) {
      w.U64(outputs_.size());
      for (const sluice_transform_output& o : outputs_) {
        w.I32(o.code);
        w.Blob(o.data, o.data != nullptr ? o.len : 0);
        w.Str(o.reason);
      }
    });
  }

  int sock_;
  std::mutex send_mu_;  // plugin threads may log while the main thread replies
  Mapping shm_;
  RegionMaps regions_;
  int plugin_copy_ = -1;  // passed with kCreate
  bool in_call_ = false;  // under send_mu_: a request is being served
  std::string counts_;    // under send_mu_: counts added during the call (kReply's encoding)
  std::string reply_;
  std::unique_ptr<PluginHost> host_;
  std::unique_ptr<InProcessSinkInstance> inst_;
  bool object_sink_ = false;
  std::vector<sluice_record> records_;
  std::vector<const char*> keys_;
  std::vector<sluice_record_outcome> outcomes_;
  std::vector<sluice_transform_output> outputs_;
};

}  // namespace

namespace {
std::atomic<int> exiting{0};  // children reaped aside (see ~ProcessSinkInstance)
}  // namespace

int PluginChildrenExiting() { return exiting.load(); }

int PluginChildMain(int fd) {
  // Die with the daemon, even inside a plugin call that never returns; and if the daemon died
  // before this took effect, now (the socket's peer is the process that made it).
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || getppid() != cred.pid) {
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  // Nothing of the daemon's but the standard streams and the socket (a descriptor it left
  // inheritable, a listening socket say, must not outlive it here).
  if (fd > 3) close_range(3, static_cast<unsigned>(fd) - 1, 0);
  close_range(static_cast<unsigned>(fd) + 1, ~0u, 0);
  fcntl(fd, F_SETFD, FD_CLOEXEC);  // not for whatever the plugin runs
  ChildHost host(fd);
  int rc = host.Serve();
  // The instance is destroyed (or the parent gone): nothing left to tear down here that matters,
  // and the parent is waiting. What the plugin printed is flushed; the rest ends with the process.
  std::fflush(nullptr);
  _exit(rc);
}

// ---------------------------------------------------------------------------------------------
// The parent
// ---------------------------------------------------------------------------------------------

ProcessSinkInstance::ProcessSinkInstance(const Plugin* plugin, const ValidatedOptions& options,
                                         std::string delivery, PluginCounters* counters,
                                         const IsolationOptions& isolation)
    : SinkInstance(plugin),
      options_(options),
      delivery_(std::move(delivery)),
      counters_(counters),
      isolation_(isolation) {}

Result<std::unique_ptr<ProcessSinkInstance>> ProcessSinkInstance::Create(
    const Plugin* plugin, const ValidatedOptions& options, std::string delivery,
    PluginCounters* counters, const IsolationOptions& isolation) {
  std::unique_ptr<ProcessSinkInstance> inst(
      new ProcessSinkInstance(plugin, options, std::move(delivery), counters, isolation));
  inst->shm_.fd = memfd_create("sluice-plugin", MFD_CLOEXEC);
  if (inst->shm_.fd < 0) return IoError(std::string("memfd_create: ") + std::strerror(errno));
  if (!inst->EnsureShm(1u << 20)) {
    return IoError(std::string("cannot map the plugin's shared memory: ") + std::strerror(errno));
  }
  RETURN_IF_ERROR(inst->Start());
  return inst;
}

ProcessSinkInstance::~ProcessSinkInstance() {
  destroying_ = true;
  if (pid_ > 0) {
    Reply r = Call(kDestroy, 0, "on_destroy", {}, std::chrono::milliseconds(2000), false);
    if (r.ended == Ended::kReply && pid_ > 0) {
      // on_destroy has returned: the child exits now, which takes a few milliseconds (its
      // address space is torn down) that nobody needs to wait for. Reaped aside, killed if it
      // has not ended within a second.
      exiting.fetch_add(1);
      std::thread([pid = pid_] {
        Reap(pid, 1000);
        exiting.fetch_sub(1);
      }).detach();
      pid_ = -1;
    }
    KillChild();
  }
  if (sock_ >= 0) close(sock_);
  if (shm_.base != nullptr) munmap(shm_.base, shm_.size);
  if (shm_.fd >= 0) close(shm_.fd);
}

bool ProcessSinkInstance::EnsureShm(size_t n) {
  Mapping m{shm_.fd, shm_.base, shm_.size};
  bool ok = MapAtLeast(&m, n);
  shm_.base = m.base;
  shm_.size = m.size;
  return ok;
}

void ProcessSinkInstance::KillChild() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    Reap(pid_, 0);
    pid_ = -1;
  }
  if (sock_ >= 0) {
    close(sock_);
    sock_ = -1;
  }
}

Status ProcessSinkInstance::Start() {
  child_regions_.clear();
  RETURN_IF_ERROR(Spawn(isolation_.executable, &pid_, &sock_));
  Out measure;
  auto encode = [&](Out& w) {
    w.Str(plugin_->path().string());
    w.Str(std::string_view(delivery_));
    w.U64(options_.size());
    for (const ValidatedOption& o : options_) {
      w.Str(std::string_view(o.name));
      w.Str(std::string_view(o.value));
    }
  };
  encode(measure);
  if (!EnsureShm(measure.n)) {
    KillChild();
    return IoError("cannot grow the plugin's shared memory");
  }
  Out w{shm_.base};
  encode(w);
  Reply r = Call(kCreate, w.n, "on_create", {}, isolation_.call_timeout, true);
  if (r.ended != Ended::kReply) return Unavailable(r.error);
  if (r.rc != 0) {
    KillChild();
    return InvalidArgument(r.text);
  }
  return Status::Ok();
}

ProcessSinkInstance::Reply ProcessSinkInstance::Call(uint32_t type, uint64_t len, const char* call,
                                                     const CallLabel& label,
                                                     std::chrono::milliseconds timeout,
                                                     bool check_aborted) {
  Reply reply;
  Header req{type, 0, len, 0, shm_.size};
  int64_t start = Clock::Real()->MonotonicMs();
  if (!SendMsg(sock_, req, {},
               {type == kCreate ? shm_.fd : -1, type == kCreate ? plugin_->copy_fd() : -1})) {
    reply.ended = Ended::kCrashed;
    Lost(&reply, call, label);
    return reply;
  }
  while (true) {
    pollfd p{sock_, POLLIN, 0};
    int ready = poll(&p, 1, kSliceMs);
    if (ready > 0) {
      Header h;
      std::string text;
      int got = RecvMsg(sock_, &h, &text, nullptr);
      if (got <= 0) {
        reply.ended = Ended::kCrashed;
        break;
      }
      if (h.type == kLog) {
        LogPluginLine(static_cast<sluice_log_level>(h.rc), text, delivery_, plugin_->name());
      } else if (h.type == kCounter) {
        if (counters_ != nullptr && !destroying_) counters_->Add(text, h.b);
      } else if (h.type == kReply) {
        if (h.shm_size > shm_.size && !EnsureShm(h.shm_size)) {
          reply.ended = Ended::kCrashed;
          reply.error = "cannot map the plugin child's grown shared memory";
          break;
        }
        if (h.a > shm_.size || h.b > shm_.size - h.a) {
          reply.ended = Ended::kCrashed;
          reply.error = "the plugin child answered outside the shared memory";
          break;
        }
        reply.rc = h.rc;
        reply.offset = h.a;
        reply.len = h.b;
        if (size_t nul = text.find('\0'); nul != std::string::npos) {
          AddCounts(std::string_view(text).substr(nul + 1));
          text.resize(nul);
        }
        reply.text = std::move(text);
        return reply;
      }
      // A log line or a counter: the call's age and stop are checked still (a chatty plugin
      // must not outlive its timeout).
    } else if (ready < 0 && errno != EINTR) {
      reply.ended = Ended::kCrashed;
      break;
    }
    if (Clock::Real()->MonotonicMs() - start >= timeout.count()) {
      reply.ended = Ended::kTimeout;
      break;
    }
    if (check_aborted && isolation_.aborted && isolation_.aborted()) {
      reply.ended = Ended::kAborted;
      break;
    }
  }
  int64_t took = Clock::Real()->MonotonicMs() - start;
  if (reply.ended == Ended::kTimeout) {
    reply.error = "killed after " + std::to_string(took) + " ms in " + call + " (call timeout " +
                  std::to_string(timeout.count()) + " ms)";
  } else if (reply.ended == Ended::kAborted) {
    reply.error = std::string("killed during ") + call +
                  ": the delivery is stopping and its grace has passed";
  }
  Lost(&reply, call, label);
  return reply;
}

void ProcessSinkInstance::AddCounts(std::string_view encoded) {
  while (encoded.size() >= 12) {
    uint64_t delta;
    uint32_t len;
    std::memcpy(&delta, encoded.data(), 8);
    std::memcpy(&len, encoded.data() + 8, 4);
    encoded.remove_prefix(12);
    if (len > encoded.size()) return;
    if (counters_ != nullptr && !destroying_) counters_->Add(encoded.substr(0, len), delta);
    encoded.remove_prefix(len);
  }
}

void ProcessSinkInstance::Lost(Reply* reply, const char* call, const CallLabel& label) {
  pid_t pid = pid_;
  int status = 0;
  if (pid > 0) {
    if (reply->ended != Ended::kCrashed) kill(pid, SIGKILL);
    status = Reap(pid, reply->ended == Ended::kCrashed ? 2000 : 0);
  }
  pid_ = -1;
  if (sock_ >= 0) close(sock_);
  sock_ = -1;
  std::string code;
  if (reply->ended == Ended::kCrashed) {
    code = "Plugin.Crashed";
    if (!destroying_) crashes_++;
    std::string why = reply->error.empty() ? "" : " (" + reply->error + ")";
    reply->error = "plugin child " + std::to_string(pid) + " " + DescribeExit(status) + " during " +
                   call + why;
  } else if (reply->ended == Ended::kTimeout) {
    code = "Plugin.Timeout";
    if (!destroying_) timeouts_++;
    reply->error = "plugin child " + std::to_string(pid) + " " + reply->error;
  } else {
    code = "Plugin.Aborted";
    reply->error = "plugin child " + std::to_string(pid) + " " + reply->error;
  }
  backoff_ms_ = backoff_ms_ == 0 ? kBackoffFirstMs : std::min(backoff_ms_ * 2, kBackoffCapMs);
  restart_at_ms_ = Clock::Real()->MonotonicMs() + backoff_ms_;
  SLUICE_LOG(Error, "plugin child lost during a call")
      .With("delivery", delivery_)
      .With("plugin", plugin_->name())
      .With("batch_id", label.batch_id)
      .With("key", label.key)
      .With("pid", static_cast<int64_t>(pid))
      .With("code", code)
      .With("error", reply->error);
  reply->text = code;
}

bool ProcessSinkInstance::Offer(const void* p, size_t len, SharedRegion* region) {
  if (p == nullptr || sock_ < 0 || !FindRegion(p, len, region)) return false;
  if (std::find(child_regions_.begin(), child_regions_.end(), region->id) != child_regions_.end()) {
    return true;
  }
  if (child_regions_.size() >= kMaxChildRegions) {  // the child forgets the regions now gone
    for (auto it = child_regions_.begin(); it != child_regions_.end();) {
      if (RegionExists(*it)) {
        ++it;
        continue;
      }
      SendMsg(sock_, Header{kForget, 0, *it, 0, 0});
      it = child_regions_.erase(it);
    }
    if (child_regions_.size() >= kMaxChildRegions) return false;
  }
  if (!SendMsg(sock_, Header{kRegion, 0, region->id, 0, 0}, {}, {region->fd})) return false;
  child_regions_.push_back(region->id);
  return true;
}

Status ProcessSinkInstance::EnsureChild() {
  if (pid_ > 0) return Status::Ok();
  for (int64_t left; (left = restart_at_ms_ - Clock::Real()->MonotonicMs()) > 0;) {
    if (isolation_.aborted && isolation_.aborted()) {
      return Cancelled("plugin " + plugin_->name() + ": not restarted, the delivery is stopping");
    }
    usleep(static_cast<useconds_t>(std::min<int64_t>(kSliceMs, left)) * 1000);
  }
  restarts_++;
  Status st = Start();
  if (st.ok()) return st;
  KillChild();
  backoff_ms_ = backoff_ms_ == 0 ? kBackoffFirstMs : std::min(backoff_ms_ * 2, kBackoffCapMs);
  restart_at_ms_ = Clock::Real()->MonotonicMs() + backoff_ms_;
  SLUICE_LOG(Error, "plugin child could not be started again")
      .With("delivery", delivery_)
      .With("plugin", plugin_->name())
      .With("error", st.message());
  return st;
}

namespace {

// The RETRY code of an EnsureChild error.
const char* ChildRetryCode(const Status& st) {
  return st.code() == Code::kCancelled ? "Plugin.Aborted" : "Plugin.CreateFailed";
}

int Retry(sluice_deliver_result* result, const std::string& code, const std::string& message) {
  std::snprintf(result->error_code, sizeof(result->error_code), "%s", code.c_str());
  std::snprintf(result->error_message, sizeof(result->error_message), "%s", message.c_str());
  return SLUICE_DELIVER_RETRY;
}

}  // namespace

int ProcessSinkInstance::Deliver(const sluice_batch& batch, sluice_deliver_result* result) {
  sluice_record_outcome* outcomes = result->outcomes;
  std::memset(result, 0, sizeof(*result));
  result->struct_size = sizeof(*result);
  result->outcomes = outcomes;
  if (Status st = EnsureChild(); !st.ok()) return Retry(result, ChildRetryCode(st), st.message());
  // The bytes the delivery built in shared memory the child reads in place.
  SharedRegion object_region, records_region;
  InRegions in_regions;
  if (batch.object_data != nullptr && Offer(batch.object_data, batch.object_len, &object_region)) {
    in_regions.object = &object_region;
  }
  if (batch.records != nullptr && batch.record_count > 0 &&
      Offer(batch.records[0].data, batch.records[0].len, &records_region)) {
    in_regions.records = &records_region;
  }
  Out measure;
  EncodeBatch(measure, batch, in_regions);
  if (!EnsureShm(measure.n)) {
    return Retry(result, "Plugin.SharedMemory",
                 std::string("cannot grow the plugin's shared memory: ") + std::strerror(errno));
  }
  Out w{shm_.base};
  EncodeBatch(w, batch, in_regions);
  last_request_bytes_ = w.n;
  Reply r = Call(kDeliver, w.n, "on_deliver",
                 {batch.batch_id ? batch.batch_id : "", batch.object_key ? batch.object_key : ""},
                 isolation_.call_timeout, true);
  if (r.ended != Ended::kReply) return Retry(result, r.text, r.error);
  In in{shm_.base + r.offset, r.len};
  result->retry_after_ms = in.U32();
  const char* ec = in.Str();
  const char* em = in.Str();
  result->maybe_delivered = in.U32() != 0 ? 1 : 0;
  uint64_t n = in.U64();
  size_t expected = batch.records != nullptr ? batch.record_count : 0;
  if (!in.ok || (n != 0 && (n != expected || outcomes == nullptr))) {
    KillChild();
    return Retry(result, "Plugin.BadReply", "the plugin child's answer is malformed");
  }
  std::snprintf(result->error_code, sizeof(result->error_code), "%s", ec ? ec : "");
  std::snprintf(result->error_message, sizeof(result->error_message), "%s", em ? em : "");
  for (uint64_t i = 0; i < n; ++i) {
    outcomes[i].code = in.I32();
    outcomes[i].retry_after_ms = in.U32();
    outcomes[i].reason = in.Str();  // in shared memory: valid until the next call
  }
  if (!in.ok) {
    KillChild();
    return Retry(result, "Plugin.BadReply", "the plugin child's answer is malformed");
  }
  backoff_ms_ = 0;
  return r.rc;
}

int ProcessSinkInstance::Transform(const sluice_record* records, size_t count,
                                   sluice_transform_output* outputs) {
  std::memset(outputs, 0, sizeof(*outputs) * count);
  if (Status st = EnsureChild(); !st.ok()) {
    SLUICE_LOG(Warn, "transform plugin child not running")
        .With("delivery", delivery_)
        .With("plugin", plugin_->name())
        .With("code", ChildRetryCode(st))
        .With("error", st.message());
    return -1;
  }
  SharedRegion region;
  const SharedRegion* in_region =
      count > 0 && Offer(records[0].data, records[0].len, &region) ? &region : nullptr;
  Out measure;
  EncodeRecords(measure, records, count, in_region);
  if (!EnsureShm(measure.n)) return -1;
  Out w{shm_.base};
  EncodeRecords(w, records, count, in_region);
  last_request_bytes_ = w.n;
  Reply r = Call(kTransform, w.n, "on_transform", {}, isolation_.call_timeout, true);
  if (r.ended != Ended::kReply) return -1;
  In in{shm_.base + r.offset, r.len};
  uint64_t n = in.U64();
  if (!in.ok || n != count) {
    KillChild();
    return -1;
  }
  for (size_t i = 0; i < count; ++i) {
    outputs[i].code = in.I32();
    size_t len;
    outputs[i].data = reinterpret_cast<const uint8_t*>(in.Blob(&len));
    outputs[i].len = len;
    outputs[i].reason = in.Str();
  }
  if (!in.ok) {
    KillChild();
    std::memset(outputs, 0, sizeof(*outputs) * count);
    return -1;
  }
  backoff_ms_ = 0;
  return r.rc;
}

Status ProcessSinkInstance::Healthcheck() {
  if (Status st = EnsureChild(); !st.ok()) return Unavailable(st.message());
  Reply r = Call(kHealthcheck, 0, "on_healthcheck", {}, isolation_.call_timeout, true);
  if (r.ended != Ended::kReply) return Unavailable(r.error);
  backoff_ms_ = 0;
  if (r.rc == 0) return Status::Ok();
  return Unavailable(r.text);
}

}  // namespace sluice::buffer
