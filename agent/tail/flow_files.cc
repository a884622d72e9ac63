// Flow: discovery, identity and the life of each followed file.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

#include "agent/tail/flow.h"
#include "agent/tail/flow_file.h"
#include "core/hash_key.h"
#include "core/log.h"

namespace sluice::agent {
namespace {

// Checkpoints of files gone (and truncated files' old contents) kept for copies to continue.
constexpr size_t kMaxOrphans = 1024;

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// A path in `dir` whose directory entry has inode `id.ino` on device `id.dev`, or "".
std::string FindByInode(const std::string& dir, const FileId& id) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return "";
  std::string found;
  while (struct dirent* e = readdir(d)) {
    if (e->d_ino != id.ino) continue;
    std::string p = JoinPath(dir, e->d_name);
    struct stat st;
    if (lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_dev == id.dev) {
      found = std::move(p);
      break;
    }
  }
  closedir(d);
  return found;
}

}  // namespace

void Flow::Rescan(bool initial) {
  last_rescan_ms_ = clock_->MonotonicMs();
  rescan_wanted_ = false;
  GlobExpansion exp = globs_.Expand();
  for (const std::string& e : exp.errors) {
    if (open_failed_.insert(e).second) {
      SLUICE_LOG(Error, "cannot read directory").With("flow", opts_.name).With("error", e);
      ++stats_.open_errors;
    }
  }
  std::unordered_set<std::string> seen(exp.files.begin(), exp.files.end());
  std::vector<std::string> gone;
  for (const auto& [path, serial] : by_path_) {
    if (!seen.count(path)) gone.push_back(path);
  }
  for (const std::string& p : gone) DetachPath(p);
  for (size_t k = 0; k < exp.files.size(); ++k) {
    const std::string& p = exp.files[k];
    if (!initial) {
      // Known path, same file: only a size change needs a look (no second stat).
      auto known = by_path_.find(p);
      if (known != by_path_.end()) {
        File* f = files_[known->second].get();
        const GlobFileInfo& gi = exp.info[k];
        if (f->id == FileId{gi.dev, gi.ino}) {
          if (gi.size != f->size && !f->dirty) {
            f->dirty = true;
            dirty_.push_back(f->serial);
          }
          continue;
        }
      }
    }
    if (initial) {
      int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
      struct stat st;
      if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        CheckPath(p);  // logs the error once
        continue;
      }
      FileId id{st.st_dev, st.st_ino};
      auto known = by_id_.find(id);
      if (known != by_id_.end()) {  // a symlink and its target: one file
        close(fd);
        File* f = files_[known->second].get();
        f->paths.push_back(p);
        by_path_[p] = f->serial;
        continue;
      }
      Track(p, fd, st, true);
    } else {
      CheckPath(p);
    }
  }
  if (initial) {
    // Files rotated while the flow was stopped: a checkpointed file that no glob matches any more
    // is looked for by inode beside its old path, and drained from its checkpoint.
    std::vector<FileCheckpoint> left;
    for (auto& [id, c] : restored_) left.push_back(c);
    for (const FileCheckpoint& c : left) {
      std::string p;
      if (!c.path.empty()) {
        p = FindByInode(DirName(c.path), c.id);
      } else {
        // Named only by a position tag (put after the last checkpoint written): tags hold no
        // path, so it is looked for in the globs' directories.
        for (const std::string& dir : exp.directories) {
          p = FindByInode(dir, c.id);
          if (!p.empty()) break;
        }
      }
      if (p.empty()) continue;
      int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
      struct stat st;
      if (fd < 0) continue;
      if (fstat(fd, &st) != 0) {
        close(fd);
        continue;
      }
      File* f = Track(p, fd, st, true);
      if (f == nullptr) continue;
      by_path_.erase(p);
      f->paths.clear();
      f->rotated = true;
      f->rotated_at_ms = clock_->MonotonicMs();
      ++stats_.rotations;
    }
    // Checkpoints left unmatched are of files gone while the flow was stopped; files of the scan
    // without a checkpoint may hold their content (a copytruncate's copy), or another file's.
    for (const auto& [id, c] : restored_) AddOrphan(c);
    for (uint64_t serial : restored_own_) {
      auto it = files_.find(serial);
      if (it != files_.end()) GoFurther(it->second.get());
    }
    restored_own_.clear();
    for (uint64_t serial : fresh_) {
      auto it = files_.find(serial);
      if (it == files_.end()) continue;
      File* f = it->second.get();
      f->last_growth_ms = clock_->MonotonicMs();
      if (f->fingerprint.len < kFingerprintBytes) {
        SettleShort(f);
      } else {
        (void)Settle(f);
      }
    }
    fresh_.clear();
  }

  std::vector<std::string> dirs = std::move(exp.directories);
  for (const auto& [serial, f] : files_) {
    if (!f->target_dir.empty()) dirs.push_back(f->target_dir);
  }
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  UpdateWatches(dirs);
}

namespace {

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string Stem(const std::string& name) {
  size_t dot = name.find('.');
  return dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
}

constexpr int64_t kRenameWindowMs = 5000;

// The hash key of the partition key `partition_key: file` gives this path (its last 256 bytes).
uint128 FileKeyHash(std::string_view path) {
  return HashKeyOf(path.size() > kMaxPartitionKey ? path.substr(path.size() - kMaxPartitionKey)
                                                  : path);
}

}  // namespace

bool Flow::RotatedFromMatch(const std::string& path) {
  const int64_t now = clock_->MonotonicMs();
  while (!recent_renames_.empty() && now - recent_renames_.front().ms > kRenameWindowMs) {
    recent_renames_.pop_front();
  }
  const std::string dir = DirName(path);
  const std::string base = BaseName(path);
  for (const RecentRename& r : recent_renames_) {
    if (r.dir == dir && base.rfind(r.stem, 0) == 0) return true;
  }
  return false;
}

void Flow::CheckPath(const std::string& path, bool renamed) {
  if (renamed && globs_.Matches(path)) {
    recent_renames_.push_back({DirName(path), Stem(BaseName(path)), clock_->MonotonicMs()});
    if (recent_renames_.size() > 256) recent_renames_.pop_front();
  }
  struct stat st;
  auto it = by_path_.find(path);
  if (stat(path.c_str(), &st) != 0) {
    if (it != by_path_.end()) DetachPath(path);
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    rescan_wanted_ = true;  // a new directory may hold matches and needs a watch
    return;
  }
  if (!S_ISREG(st.st_mode)) return;
  FileId id{st.st_dev, st.st_ino};
  if (it != by_path_.end()) {
    File* f = files_[it->second].get();
    if (f->id == id) {
      if (!f->dirty) {
        f->dirty = true;
        dirty_.push_back(f->serial);
      }
      return;
    }
    DetachPath(path);  // the path now names another file: the old one was rotated
  }
  auto known = by_id_.find(id);
  if (known != by_id_.end() && files_[known->second]->finished) {
    // The inode of a file already drained and closed now holds a new file.
    by_id_.erase(known);
    known = by_id_.end();
  }
  if (!globs_.Matches(path)) {
    // A symlink's target, seen through the target's directory: only a wake-up.
    if (known != by_id_.end()) {
      File* f = files_[known->second].get();
      if (!f->dirty) {
        f->dirty = true;
        dirty_.push_back(f->serial);
      }
      return;
    }
    if (renamed && RotatedFromMatch(path)) {
      // Written under a matching name and rotated away before this flow saw it: drain it.
      int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return;
      if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return;
      }
      auto g = gone_.find(FileId{st.st_dev, st.st_ino});
      if (g != gone_.end() &&
          FingerprintMatches(fd, static_cast<uint64_t>(st.st_size), g->second)) {
        close(fd);  // one this flow already drained, renamed once more
        return;
      }
      File* f = Track(path, fd, st, false);
      if (f == nullptr) return;
      by_path_.erase(path);
      f->paths.clear();
      f->rotated = true;
      f->rotated_at_ms = clock_->MonotonicMs();
      ++stats_.rotations;
    }
    return;
  }
  if (known != by_id_.end()) {
    File* f = files_[known->second].get();
    f->paths.push_back(path);
    by_path_[path] = f->serial;
    f->display_path = path;
    f->rotated = false;
    if (!f->dirty) {
      f->dirty = true;
      dirty_.push_back(f->serial);
    }
    return;
  }
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (open_failed_.insert(path).second) {
      SLUICE_LOG(Error, "cannot open file; retrying at each rescan")
          .With("flow", opts_.name)
          .With("path", path)
          .With("error", strerror(err));
      ++stats_.open_errors;
    }
    return;
  }
  open_failed_.erase(path);
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return;
  }
  Track(path, fd, st, false);
}

Status Flow::TakeFingerprint(File* f, uint64_t size) {
  const size_t len = static_cast<size_t>(std::min<uint64_t>(size, kFingerprintBytes));
  std::string head(len, '\0');
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(f->fd, head.data() + got, len - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("pread", errno);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  head.resize(got);
  f->fingerprint = {static_cast<uint32_t>(got), Fnv1a64(head)};
  f->head = std::move(head);
  return Status::Ok();
}

bool Flow::BeginsAnother(const File* f) const {
  auto begins = [&](const std::string& head) {
    return head.size() == kFingerprintBytes && head.compare(0, f->head.size(), f->head) == 0;
  };
  for (const auto& [serial, o] : files_) {
    if (o.get() != f && o->copy_of == 0 && begins(o->head)) return true;
  }
  for (const Orphan& o : orphans_) {
    if (begins(o.head)) return true;
  }
  return false;
}

Flow::File* Flow::Track(const std::string& path, int fd, const struct stat& st, bool initial) {
  auto f = std::make_unique<File>();
  f->fd = fd;
  if (!TakeFingerprint(f.get(), static_cast<uint64_t>(st.st_size)).ok()) {
    close(fd);
    return nullptr;
  }
  f->serial = next_serial_++;
  f->id = {st.st_dev, st.st_ino};
  f->paths.push_back(path);
  f->display_path = path;
  f->key_path = path;
  f->path_hash = FileKeyHash(path);
  ++open_count_;
  f->size = static_cast<uint64_t>(st.st_size);
  f->mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  f->last_growth_ms = clock_->MonotonicMs();
  struct stat lst;
  if (lstat(path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
    char real[PATH_MAX];
    if (realpath(path.c_str(), real) != nullptr) {
      std::string r = real;
      f->target_dir = r.substr(0, std::max<size_t>(1, r.rfind('/')));
    }
  }
  const bool own = RestoreOffset(f.get(), f->size, initial);
  File* raw = f.get();
  by_id_[raw->id] = raw->serial;
  by_path_[path] = raw->serial;
  raw->dirty = true;
  dirty_.push_back(raw->serial);
  files_[raw->serial] = std::move(f);
  if (!own && raw->framer->next_offset() == 0 && raw->fingerprint.len < kFingerprintBytes) {
    if (initial) {
      // Whether it is a copy being written is known once every file of the scan is (a copy's
      // name may sort before its original's: ct.1.log, created empty by `cp`, before ct.log).
      fresh_.push_back(raw->serial);
    } else {
      SettleShort(raw);
    }
  } else if (own && initial) {
    restored_own_.push_back(raw->serial);
  } else if (!own && raw->framer->next_offset() == 0) {
    if (initial) {
      fresh_.push_back(raw->serial);  // matched once every file of the scan is known
    } else {
      (void)Settle(raw);
    }
  }
  checkpoint_dirty_ = true;
  open_failed_.erase(path);
  if (open_count_ > opts_.max_open_files) CloseFd(raw);  // reopened when a slot is free
  return raw;
}

bool Flow::RestoreOffset(File* f, uint64_t size, bool initial) {
  uint64_t offset = 0;
  bool own = false;
  auto it = restored_.find(f->id);
  if (it != restored_.end()) {
    const FileCheckpoint& c = it->second;
    if (FingerprintMatches(f->fd, size, c.fingerprint)) {
      bool prefix_ok = c.offset <= size;
      if (prefix_ok && c.prefix_len > 0) {
        auto h = HashRange(f->fd, c.offset - c.prefix_len, c.offset);
        prefix_ok = h.ok() && *h == c.prefix_hash;
      }
      if (prefix_ok) {
        offset = c.offset;
        // A checkpoint at 0 says nothing was stored yet: the file is matched as one without a
        // checkpoint (Settle), since it may be a copy found before it could be told one (while
        // the stream refused records, say) of content already read.
        own = c.offset > 0;
        f->prefix_len = c.prefix_len;
        f->prefix_hash = c.prefix_hash;
      } else {
        AddOrphan(c);  // its old content may live on in a copy
        ++stats_.truncations;
        SLUICE_LOG(Warn, "file changed below its checkpoint; reading it from the start")
            .With("flow", opts_.name)
            .With("path", f->display_path)
            .With("checkpoint", c.offset)
            .With("size", size);
      }
    } else {
      // The inode was reused by another file, which is new: read from its start. The file the
      // checkpoint was for may live on in a copy.
      AddOrphan(c);
    }
    restored_.erase(it);
  } else if (initial && !had_checkpoints_ &&
             opts_.initial_position == InitialPosition::kEndOfFile) {
    offset = size;
  }
  f->durable_offset = f->put_offset = offset;
  f->framer = std::make_unique<Framer>(framer_options_, offset);
  f->record_end = f->record_tail_at = offset;
  f->record_tail_len = own ? f->prefix_len : 0;
  f->record_tail_hash = own ? f->prefix_hash : 0;
  return own;
}

bool Flow::SameBytesAt(File* a, File* b, uint64_t end) {
  if (a->fd < 0 || b->fd < 0 || a->size < end) return false;
  const uint64_t len = std::min<uint64_t>(kPrefixCheckBytes, end);
  auto ha = HashRange(a->fd, end - len, end);
  auto hb = HashRange(b->fd, end - len, end);
  // `a` truncated between its stat and this read: seen now, it leaves the orphan a copy of it
  // continues (AdoptOrphan).
  if (!ha.ok() && !a->finished) (void)CheckFile(a);
  return ha.ok() && hb.ok() && *ha == *hb;
}

Flow::File* Flow::FindOriginal(File* f) {
  for (const auto& [serial, o] : files_) {
    File* a = o.get();
    if (a == f || a->copy_of != 0 || a->fd < 0) continue;
    // A fingerprint still being completed may be stale (the file grew since it was last looked
    // at): those are looked at again.
    if (a->fingerprint != f->fingerprint && a->fingerprint.len == kFingerprintBytes) continue;
    // Its current state first: a copytruncate's original may be truncated already, and then the
    // copy continues what was read of it (an orphan CheckFile leaves), not the file itself.
    if (!a->finished && !CheckFile(a)) continue;
    if (a->fingerprint != f->fingerprint) continue;
    // The same first bytes could be a banner two logs share: the bytes before the copy's end
    // must be the original's too.
    if (SameBytesAt(a, f, f->size)) return a;
  }
  return nullptr;
}

void Flow::SettleShort(File* f) {
  f->young = BeginsAnother(f);
  // Not a copy being written: it may still hold a content known by a short fingerprint only
  // (one truncated or changed while under 1 KiB), which it then continues.
  if (!f->young && f->fingerprint.len >= kMinOrphanFingerprint &&
      AdoptOrphan(f) == Adoption::kWait) {
    f->young = true;
  }
}

bool Flow::Settle(File* f) {
  if (File* original = FindOriginal(f)) {
    HoldCopy(f, original);
    return true;
  }
  switch (AdoptOrphan(f)) {
    case Adoption::kAdopted:
    case Adoption::kNone:
      return false;
    case Adoption::kWait:
      f->young = true;
      return true;
  }
  return false;
}

void Flow::GoFurther(File* f) {
  // A copy's own checkpoint names what was durable as its original's when it took over; the
  // stream may name that content further on (the original's last put, tagged): the copy goes on
  // from there, once the bytes before that position are its own too.
  for (size_t i = orphans_.size(); i-- > 0;) {
    const Orphan& o = orphans_[i];
    if (o.fingerprint != f->fingerprint || o.offset <= f->put_offset || o.check_at > f->size ||
        o.prefix_len == 0 || f->fd < 0) {
      continue;
    }
    auto h = HashRange(f->fd, o.check_at - o.prefix_len, o.check_at);
    if (!h.ok() || *h != o.prefix_hash) continue;
    const uint64_t offset = std::min(o.offset, f->size);
    SLUICE_LOG(Info, "file holds content the stream has further on; continuing from there")
        .With("flow", opts_.name)
        .With("path", f->display_path)
        .With("was", o.path)
        .With("checkpoint", f->put_offset)
        .With("offset", offset);
    const uint32_t len = o.prefix_len;
    const uint64_t hash = o.prefix_hash;
    const bool exact = o.check_at == offset;
    orphans_.erase(orphans_.begin() + static_cast<std::ptrdiff_t>(i));
    StartAt(f, offset, exact ? len : 0, exact ? hash : 0);
    return;
  }
}

void Flow::AddOrphan(const FileCheckpoint& c) {
  if (c.fingerprint.len < kMinOrphanFingerprint) return;  // too short to tell a copy by
  KeepOrphan({c.path, c.id, c.fingerprint, c.offset, c.offset, c.prefix_len, c.prefix_hash, "",
              c.offset, c.prefix_len, c.prefix_hash});
}

void Flow::KeepReadOrphan(const File* f, uint64_t covered) {
  if (f->fingerprint.len < kMinOrphanFingerprint) return;
  // Checked at the end of the last block read (covered, when no partial record was left), or
  // at the end of the last record (covered, when a record being framed was cut).
  uint32_t tail_len = 0;
  uint64_t tail_hash = 0;
  const bool tail = f->ReadTailAt(covered, &tail_len, &tail_hash);
  const bool durable = f->durable_offset <= covered;
  KeepOrphan({f->display_path, f->id, f->fingerprint, covered, tail ? covered : 0, tail_len,
              tail_hash, f->head, durable ? f->durable_offset : 0, durable ? f->prefix_len : 0u,
              durable ? f->prefix_hash : 0u, f->serial, f->epoch});
}

void Flow::KnownDurable(File* f, uint64_t offset, uint32_t prefix_len, uint64_t prefix_hash) {
  if (offset == 0 || offset <= f->durable_offset || offset > f->put_offset || offset > f->size) {
    return;
  }
  f->durable_offset = offset;
  f->prefix_len = prefix_len;
  f->prefix_hash = prefix_hash;
  checkpoint_dirty_ = true;
}

void Flow::Continued(const Pending& p) {
  for (const auto& [serial, o] : files_) {
    File* c = o.get();
    if (c->continues != p.file || c->continues_epoch != p.epoch) continue;
    uint32_t len = p.prefix_len;
    uint64_t hash = p.prefix_hash;
    // The put's prefix was not taken (its file truncated before): the copy has the bytes.
    if (len == 0 && p.offset > 0 && p.offset <= c->size) PrefixAt(c, p.offset, &len, &hash);
    KnownDurable(c, p.offset, len, hash);
  }
  for (Orphan& o : orphans_) {
    if (o.serial != p.file || o.epoch != p.epoch || p.offset > o.offset || p.offset <= o.durable) {
      continue;
    }
    o.durable = p.offset;
    o.durable_prefix_len = p.prefix_len;
    o.durable_prefix_hash = p.prefix_hash;
  }
}

void Flow::KeepOrphan(Orphan o) {
  orphans_.push_back(std::move(o));
  if (orphans_.size() > kMaxOrphans) orphans_.erase(orphans_.begin());
}

void Flow::HoldCopy(File* copy, File* original) {
  copy->copy_of = original->serial;
  copy->copy_size = copy->size;
  ++stats_.copies;
  SLUICE_LOG(Info, "file holds the content of one being read; following that one")
      .With("flow", opts_.name)
      .With("path", copy->display_path)
      .With("copy_of", original->display_path);
}

void Flow::StartAt(File* f, uint64_t offset, uint32_t prefix_len, uint64_t prefix_hash) {
  f->framer = std::make_unique<Framer>(framer_options_, offset);
  f->put_offset = offset;
  if (prefix_len == 0 && offset > 0) PrefixAt(f, offset, &prefix_len, &prefix_hash);
  f->record_end = f->record_tail_at = offset;
  f->record_tail_len = prefix_len;
  f->record_tail_hash = prefix_hash;
  // The checkpoint moves there once what was put before (the original's records, some maybe
  // still in the batch) is durable: a crash before that must not skip what was not yet stored.
  Pending p{stream_->WriteGeneration(),
            f->serial,
            offset,
            prefix_len,
            prefix_hash,
            batch_.size(),
            f->epoch};
  if (batch_.empty()) {
    pending_.push_back(p);
  } else {
    after_batch_.push_back(p);
  }
  f->at_eof = false;
  if (!f->dirty) {
    f->dirty = true;
    dirty_.push_back(f->serial);
  }
}

Flow::Adoption Flow::AdoptOrphan(File* f) {
  // Of the orphans whose content the file holds, the one read furthest: one content can leave
  // several (its checkpoint, and the file it was in seen truncated before anything of it was
  // read: a truncation between the fingerprint's read and the checkpoint's check at a restart,
  // trial 16 of the crash campaign), and what one of them says was read was read.
  bool wait = false;
  uint64_t wait_offset = 0;
  size_t best = orphans_.size();
  // Whether f begins with the content a fingerprint was taken of: the same fingerprint, or one
  // taken while that content was shorter than a whole one (a file truncated or changed while
  // under 1 KiB) that f's first bytes hash to.
  auto holds = [f](const Fingerprint& fp) {
    if (fp == f->fingerprint) return true;
    return fp.len < f->fingerprint.len && fp.len <= f->head.size() &&
           Fnv1a64(std::string_view(f->head).substr(0, fp.len)) == fp.hash;
  };
  for (size_t i = orphans_.size(); i-- > 0;) {
    const Orphan& o = orphans_[i];
    if (!holds(o.fingerprint)) continue;
    if (o.prefix_len > 0) {
      // The bytes before where the file stopped (or was last durable) must be there too; a
      // copy still being written may not have them yet.
      if (o.check_at > f->size) {
        wait = true;
        wait_offset = std::max(wait_offset, o.offset);
        continue;
      }
      auto h = HashRange(f->fd, o.check_at - o.prefix_len, o.check_at);
      if (!h.ok() || *h != o.prefix_hash) continue;  // same start, other content
    }
    if (best == orphans_.size() || o.offset > orphans_[best].offset) best = i;
  }
  // A copy still being written may yet show it holds more than the best match says was read.
  if (best == orphans_.size() || (wait && wait_offset > orphans_[best].offset)) {
    return wait ? Adoption::kWait : Adoption::kNone;
  }
  const Orphan& o = orphans_[best];
  const uint64_t offset = std::min(o.offset, f->size);
  ++stats_.copies;
  SLUICE_LOG(Info, "file holds the content of one already read; continuing where it stopped")
      .With("flow", opts_.name)
      .With("path", f->display_path)
      .With("was", o.path)
      .With("offset", offset);
  // The checkpoint it came from is used up: the file it named, met later, is read afresh.
  auto r = restored_.find(o.id);
  if (r != restored_.end() && r->second.fingerprint == o.fingerprint) restored_.erase(r);
  const uint64_t durable = o.durable;
  const uint32_t durable_len = o.durable_prefix_len;
  const uint64_t durable_hash = o.durable_prefix_hash;
  if (o.serial != 0) {
    f->continues = o.serial;
    f->continues_epoch = o.epoch;
  }
  orphans_.erase(orphans_.begin() + static_cast<std::ptrdiff_t>(best));
  StartAt(f, offset, 0, 0);
  KnownDurable(f, durable, durable_len, durable_hash);
  return Adoption::kAdopted;
}

void Flow::ReleaseCopies(File* original, uint64_t covered) {
  for (const auto& [serial, o] : files_) {
    File* c = o.get();
    if (c->copy_of != original->serial) continue;
    c->copy_of = 0;
    c->continues = original->serial;
    c->continues_epoch = original->epoch;
    // Its size now, not as last looked at: logrotate's copy is whole before the truncation, but
    // the copy may have been seen only with its first blocks, and its growth not yet.
    if (c->fd >= 0 && !c->finished) (void)CheckFile(c);
    SLUICE_LOG(Info, "the file a copy follows was truncated or let go; reading the copy on")
        .With("flow", opts_.name)
        .With("path", c->display_path)
        .With("offset", std::min(covered, c->size));
    StartAt(c, std::min(covered, c->size), 0, 0);
    KnownDurable(c, original->durable_offset, original->prefix_len, original->prefix_hash);
  }
}

void Flow::DetachPath(const std::string& path) {
  auto it = by_path_.find(path);
  if (it == by_path_.end()) return;
  uint64_t serial = it->second;
  by_path_.erase(it);
  auto fit = files_.find(serial);
  if (fit == files_.end()) return;
  File* f = fit->second.get();
  f->paths.erase(std::remove(f->paths.begin(), f->paths.end(), path), f->paths.end());
  if (!f->paths.empty()) {
    f->display_path = f->paths.front();
    return;
  }
  if (!f->rotated) {
    f->rotated = true;
    f->rotated_at_ms = clock_->MonotonicMs();
    ++stats_.rotations;
    SLUICE_LOG(Info, "file rotated; draining it")
        .With("flow", opts_.name)
        .With("path", path)
        .With("inode", f->id.ino);
  }
  if (f->fd < 0 && !f->finished) Reopen(f);  // closed while idle: find it to drain it
  if (!f->dirty) {
    f->dirty = true;
    dirty_.push_back(serial);
  }
}

bool Flow::Reopen(File* f) {
  if (f->fd >= 0) return true;
  if (f->finished) return false;
  if (open_count_ >= opts_.max_open_files) {
    // Make room by closing the file idle the longest.
    File* idle = nullptr;
    for (auto& [s, o] : files_) {
      File* c = o.get();
      if (c->fd < 0 || !c->at_eof || c->framer->has_pending() || c->rotated) continue;
      if (idle == nullptr || c->last_growth_ms < idle->last_growth_ms) idle = c;
    }
    if (idle == nullptr) return false;
    CloseFd(idle);
  }
  std::vector<std::string> candidates = f->paths;
  candidates.push_back(FindByInode(DirName(f->display_path), f->id));
  for (const std::string& p : candidates) {
    if (p.empty()) continue;
    int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st;
    if (fstat(fd, &st) == 0 && FileId{st.st_dev, st.st_ino} == f->id &&
        FingerprintMatches(fd, static_cast<uint64_t>(st.st_size), f->fingerprint)) {
      f->fd = fd;
      ++open_count_;
      return true;
    }
    close(fd);
  }
  // Gone, or the inode now holds another file: what was not read cannot be read any more.
  if (!f->rotated) {
    f->rotated = true;
    f->rotated_at_ms = clock_->MonotonicMs();
    ++stats_.rotations;
  }
  f->finished = true;
  return false;
}

void Flow::CloseFd(File* f) {
  if (f->fd < 0) return;
  close(f->fd);
  f->fd = -1;
  --open_count_;
}

void Flow::Forget(File* f) {
  ReleaseCopies(f, f->framer->next_offset());
  // Read to its end: a copy of it met later (a rotated log copied back) goes on from there.
  KeepReadOrphan(f, f->framer->next_offset());
  CloseFd(f);
  stats_.records_truncated += f->framer->truncated_records();
  for (const std::string& p : f->paths) {
    auto it = by_path_.find(p);
    if (it != by_path_.end() && it->second == f->serial) by_path_.erase(it);
  }
  auto id = by_id_.find(f->id);
  if (id != by_id_.end() && id->second == f->serial) by_id_.erase(id);
  if (gone_.emplace(f->id, f->fingerprint).second) gone_order_.push_back(f->id);
  while (gone_order_.size() > 65536) {
    gone_.erase(gone_order_.front());
    gone_order_.pop_front();
  }
  checkpoint_dirty_ = true;
  files_.erase(f->serial);
}

void Flow::UpdateWatches(const std::vector<std::string>& dirs) {
  std::unordered_set<std::string> want(dirs.begin(), dirs.end());
  for (auto it = watches_.begin(); it != watches_.end();) {
    if (want.count(it->first)) {
      ++it;
      continue;
    }
    uv_fs_event_stop(&it->second->handle);
    CloseHandle(reinterpret_cast<uv_handle_t*>(&it->second->handle));
    it = watches_.erase(it);
  }
  for (const std::string& d : dirs) {
    if (watches_.count(d)) continue;
    auto* w = new Watch{{}, this, d};
    uv_fs_event_init(loop_, &w->handle);
    w->handle.data = w;
    ++open_handles_;
    int rc = uv_fs_event_start(&w->handle, OnFsEvent, d.c_str(), 0);
    if (rc != 0) {
      // Out of inotify watches (ENOSPC) or a directory we may not watch: poll instead.
      CloseHandle(reinterpret_cast<uv_handle_t*>(&w->handle));
      ++stats_.watch_failures;
      if (!polling_) {
        SLUICE_LOG(Warn, "cannot watch directory; polling files instead")
            .With("flow", opts_.name)
            .With("dir", d)
            .With("error", uv_strerror(rc));
      }
      polling_ = true;
      continue;
    }
    watches_[d] = w;
  }
}

void Flow::OnFsEvent(uv_fs_event_t* h, const char* name, int events, int status) {
  Watch* w = static_cast<Watch*>(h->data);
  Flow* self = w->flow;
  if (self->stopping_) return;
  if (status < 0 || name == nullptr) {
    self->rescan_wanted_ = true;
  } else {
    self->CheckPath(JoinPath(w->dir, name), (events & UV_RENAME) != 0);
  }
  self->Kick();
}

}  // namespace sluice::agent
