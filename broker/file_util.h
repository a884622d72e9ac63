// Small POSIX file helpers for the broker: whole-buffer pread/pwritev, atomic
// replacement of a file (write, fsync, rename, fsync dir). Thread-safe (no shared state).
#pragma once

#include <sys/uio.h>

#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "core/fd.h"
#include "core/status.h"

namespace sluice::broker {

// UniqueFd, PwriteAll and FsyncDir come from core/fd.h.

// Writes every byte of iov at pos (pwritev, resumed after short writes, IOV_MAX at a time).
Status PwritevAll(int fd, std::span<const struct iovec> iov, uint64_t pos, const std::string& what);
// Reads up to n bytes at pos; *got receives how many (short only at end of file).
Status PreadUpTo(int fd, char* data, size_t n, uint64_t pos, size_t* got, const std::string& what);
enum class Durability { kSynced, kUnsynced };
// Writes `content` to path.tmp, fsyncs it, renames it over `path`, fsyncs the directory.
// kUnsynced skips both fsyncs: the rename stays atomic for readers, but a power cut may leave
// the old file, an empty one or none; only for files that validate themselves on load.
Status WriteFileAtomically(const std::filesystem::path& path, std::string_view content,
                           Durability durability = Durability::kSynced);
Result<std::string> ReadWholeFile(const std::filesystem::path& path);
// Reads the whole file into *out (reusing its storage); kNotFound when it does not exist.
Status ReadFileInto(const std::filesystem::path& path, std::string* out);

}  // namespace sluice::broker
