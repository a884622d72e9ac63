// Small POSIX file helpers for the broker: whole-buffer pread/pwritev and whole-file reads.
// Thread-safe (no shared state).
#pragma once

#include <sys/uio.h>

#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "core/fd.h"
#include "core/status.h"

namespace sluice::broker {

// UniqueFd, PwriteAll, FsyncDir, Durability and WriteFileAtomically come from core/fd.h.

// Writes every byte of iov at pos (pwritev, resumed after short writes, IOV_MAX at a time).
Status PwritevAll(int fd, std::span<const struct iovec> iov, uint64_t pos, const std::string& what);
// Reads up to n bytes at pos; *got receives how many (short only at end of file).
Status PreadUpTo(int fd, char* data, size_t n, uint64_t pos, size_t* got, const std::string& what);
using sluice::Durability;
using sluice::WriteFileAtomically;
Result<std::string> ReadWholeFile(const std::filesystem::path& path);
// Reads the whole file into *out (reusing its storage); kNotFound when it does not exist.
Status ReadFileInto(const std::filesystem::path& path, std::string* out);

}  // namespace sluice::broker
