// One segment of a shard's log: an append-only file of CRC32C-framed records that starts at a
// given offset, with its sparse offset index and time index (kept in memory, written beside the
// log when the segment is sealed or closed, and rebuilt from the log when missing or stale).
// A sealed segment (an encrypted stream's) holds chunks of AES-256-GCM-sealed frames instead of
// frames; its header carries its data key wrapped by a keyring master key (broker/FORMAT.md).
//
// THREADING: not thread-safe; the owning ShardLog serialises every call under its lock. Readers
// may pread() fd() concurrently with appends, bounded by a size() they read under that lock.
// OWNERSHIP: owns its file descriptor; held by shared_ptr so a reader keeps a deleted segment's
// file open until it is done.
#pragma once

#include <sys/uio.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/broker.h"
#include "broker/file_util.h"
#include "core/keyring.h"
#include "core/status.h"

namespace sluice::broker {

// A decoded frame; views point into the buffer it was decoded from.
struct Frame {
  uint64_t offset = 0;
  int64_t arrival_ms = 0;
  int64_t event_ms = kNoEventTime;  // kFrameFlagEventTime: the record's own time
  std::string_view key;
  std::string_view data;
  std::string_view tag;  // kFrameFlagTag: the producer's tag (empty: none)
  size_t size = 0;       // whole frame bytes
};

enum class FrameCheck { kOk, kIncomplete, kBad };
// Decodes the frame at p[0, avail). kIncomplete: avail is too short for the frame it announces.
// `verify`: check the frame's CRC (readers skip it for frames this process appended itself, see
// Segment::trusted_from; the lengths are checked either way).
FrameCheck DecodeFrame(const char* p, size_t avail, Frame* out, bool verify = true);
// The bytes of a frame's header, partition key, event time and tag; its data follows them.
size_t FrameHeadSize(std::string_view key, int64_t event_ms, std::string_view tag = {});
// Writes a whole frame at p (room for FrameHeadSize + data.size() bytes); returns its size.
// `write_end`: the last frame of its append (format::kFrameFlagWriteEnd).
size_t WriteFrame(char* p, uint64_t offset, int64_t arrival_ms, int64_t event_ms,
                  std::string_view key, std::string_view data, std::string_view tag = {},
                  bool write_end = false);
// Writes a frame's header and key at p; the CRC covers `data` too, which the caller writes right
// after them (from its own memory, without a copy). Returns FrameHeadSize.
size_t WriteFrameHead(char* p, uint64_t offset, int64_t arrival_ms, int64_t event_ms,
                      std::string_view key, std::string_view data, std::string_view tag = {},
                      bool write_end = false);
// Appends the header and partition key of a frame to *buf (WriteFrameHead).
void EncodeFrameHead(uint64_t offset, int64_t arrival_ms, int64_t event_ms, std::string_view key,
                     std::string_view data, std::string* buf);
// Appends one whole encoded frame to *buf.
void EncodeFrame(uint64_t offset, int64_t arrival_ms, int64_t event_ms, std::string_view key,
                 std::string_view data, std::string* buf);

// A chunk of a sealed segment; `sealed` points at its ciphertext and tag.
struct Chunk {
  uint64_t first = 0;
  uint64_t last = 0;
  int64_t arrival_ms = 0;
  uint32_t records = 0;
  bool write_end = false;  // format::kChunkFlagWriteEnd: the last chunk of its append
  char* sealed = nullptr;
  size_t sealed_len = 0;  // ciphertext + tag
  size_t size = 0;        // whole chunk bytes
};
// Decodes the chunk header at p[0, avail); `verify`: check its CRC.
FrameCheck DecodeChunk(char* p, size_t avail, Chunk* out, bool verify = true);
// The GCM nonce of a chunk: the segment's salt, then the chunk's first offset.
void ChunkNonce(uint32_t salt, uint64_t first, uint8_t nonce[12]);
// Writes a frame's header, key and event time at p with its CRC left 0: frames inside a chunk
// are covered by its GCM tag instead. Returns FrameHeadSize.
size_t WriteSealedFrameHead(char* p, uint64_t offset, int64_t arrival_ms, int64_t event_ms,
                            std::string_view key, size_t data_size, std::string_view tag = {});
// The bytes of a chunk's frames: `src` null: already in place at `at` (relative to the first byte
// after the chunk header); otherwise `len` bytes at src, encrypted on their way to `at`. In
// order, covering [0, plain_len) without gaps.
struct SealPiece {
  const char* src;
  size_t at;
  size_t len;
};
// Seals a chunk at chunk_at whose frames take plain_len bytes after its header: fills the
// header, encrypts the pieces, writes the tag and the CRC. `write_end`: the last chunk of its
// append (format::kChunkFlagWriteEnd). Returns the chunk's size; 0 when sealing failed.
size_t SealChunk(GcmContext& gcm, uint32_t salt, uint64_t first, uint64_t last, uint32_t records,
                 int64_t arrival_ms, bool write_end, char* chunk_at, size_t plain_len,
                 std::span<const SealPiece> pieces);
// Opens a decoded chunk in place; false when it does not authenticate. The frames are then at
// chunk.sealed[0, chunk.sealed_len - kChunkTagBytes).
bool OpenChunk(GcmContext& gcm, uint32_t salt, char* chunk_at, const Chunk& chunk);

// `sluice decrypt`: the segment file `file` as a plain one (version 1, the same base offset and
// frames), its chunks opened with the keyring's key; a plain segment comes back as it is. The
// last frame of a chunk that ends an append ends a write in the output, whose header then marks
// write ends as the sealed one did.
// Fails naming the file position of the first chunk that does not decode or authenticate; a
// chunk cut short by the end of the file (a segment copied while being written) ends the output,
// its bytes counted in *torn_bytes.
Result<std::string> DecryptSegment(const Keyring& keyring, std::string_view file,
                                   uint64_t* torn_bytes);

// Where a unit (a frame, or a chunk of a sealed segment) of an appended batch sits in the batch
// buffer, and the records it holds.
struct UnitMeta {
  uint64_t first_offset;
  uint64_t last_offset;
  uint32_t records;
  int64_t arrival_ms;
  uint32_t pos_in_batch;
  bool write_end = false;  // the unit ends its append (kFrameFlagWriteEnd, kChunkFlagWriteEnd)
};

// What recovery found in a segment: logged once by the caller.
struct RecoveryReport {
  uint64_t torn_tail_bytes = 0;
  uint64_t corrupt_bytes = 0;
  uint32_t corrupt_regions = 0;
};

class Segment final {
 public:
  static std::string LogName(uint64_t base);  // "00000000000000000000.log"
  // Creates a segment (written under a temporary name and renamed into place, so a crash leaves
  // either no file or a whole header). With `master`, a sealed one under a fresh data key.
  static Result<std::shared_ptr<Segment>> Create(const std::filesystem::path& dir, uint64_t base,
                                                 const Keyring::Key* master = nullptr);
  // Opens an existing segment. `scan`: verify every frame (torn tail cut, corrupt regions
  // skipped by rewriting the file without them) and rebuild the indexes; otherwise load the index
  // files and scan only when they are missing or stale. A sealed segment needs `keyring` to hold
  // its master key.
  static Result<std::shared_ptr<Segment>> Open(const std::filesystem::path& dir, uint64_t base,
                                               bool scan, RecoveryReport* report,
                                               const Keyring* keyring = nullptr);
  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  // Writes the units (frames, or chunks when sealed) gathered in `iov` (`bytes` in all) at the
  // end with one pwritev and indexes them; metas[i].pos_in_batch is unit i's position in that
  // byte stream. On failure the file is cut back to its previous size (and a sealed segment takes
  // no more appends: its chunk nonces must never be used twice).
  Status Append(std::span<const struct iovec> iov, size_t bytes, std::span<const UnitMeta> metas);
  Status Sync();
  // Writes the offset and time index files. They check themselves on load (CRC, the log size
  // they cover) and a bad or missing one is rebuilt by a scan, so a roll writes them kUnsynced:
  // the appending thread does not wait on the disk for a file it can do without.
  Status WriteIndexes(Durability durability = Durability::kSynced);
  // Deletes the log and its index files.
  void Remove();
  // Deletes the index files only (a segment replaced by another of the same base).
  void RemoveIndexes();

  // The file position at which to start scanning for `offset` (a frame at or before it).
  uint64_t PositionFor(uint64_t offset) const;
  // The file position at which to start scanning for the first arrival >= ts_ms.
  uint64_t PositionForTime(int64_t ts_ms) const;

  // Logs, once per segment, that reads skipped corrupt bytes. Thread-safe.
  void ReportSkipped(uint64_t at, uint64_t bytes);

  int fd() const { return fd_.get(); }
  // Where the first unit starts (after the header).
  uint64_t data_start() const { return header_size_; }
  bool sealed() const { return sealed_; }
  // Sealed segments: the master key's id, the data key and the nonce salt.
  const std::string& master_key_id() const { return master_key_id_; }
  const std::array<uint8_t, kAesKeyBytes>& data_key() const { return data_key_; }
  uint32_t salt() const { return salt_; }
  // A sealed segment takes appends only from the process that created it, until an append
  // fails: another process, or a retry after a failure, could reuse a chunk's nonce.
  bool appendable() const { return appendable_; }
  uint64_t base() const { return base_; }
  uint64_t size() const { return size_; }
  // Frames at or past this file position were appended by this process (its size when it was
  // opened or created): the page cache holds what was summed as it was written, so readers do
  // not sum them again. Frames before it are checked on every read, so a disk that damaged them
  // is noticed.
  uint64_t trusted_from() const { return trusted_from_; }
  uint64_t next_offset() const { return next_offset_; }  // one past the last record (or base)
  uint64_t records() const { return records_; }
  int64_t max_arrival_ms() const { return max_ts_; }  // INT64_MIN when empty
  const std::filesystem::path& path() const { return path_; }

 private:
  struct IndexEntry {
    uint32_t rel_offset;
    uint32_t pos;
    int64_t max_ts_before;
  };
  Segment(std::filesystem::path dir, uint64_t base, UniqueFd fd);
  Status ScanAndRebuild(bool torn, RecoveryReport* report);
  bool LoadIndexes();
  // Reads the header of an opened file: plain, or sealed (data key unwrapped with `keyring`).
  // *torn: the file is shorter than a header (a crash while it was created by an older version).
  Status ReadHeader(const Keyring* keyring, bool* torn);
  std::string HeaderBytes() const;
  // Decodes the unit at p: a frame, or a chunk when sealed (not opened).
  bool DecodeUnit(char* p, size_t avail, UnitMeta* meta, size_t* size) const;
  void Track(const UnitMeta& unit, uint64_t pos, uint64_t unit_size);

  std::filesystem::path dir_;
  std::filesystem::path path_;
  uint64_t base_;
  UniqueFd fd_;
  uint64_t size_ = 0;
  uint64_t header_size_ = 0;
  bool sealed_ = false;
  bool marks_write_ends_ = false;  // plain, header flag kSegFlagWriteEnds
  bool appendable_ = true;
  std::string master_key_id_;
  std::array<uint8_t, kAesKeyBytes> data_key_{};
  uint32_t salt_ = 0;
  std::string header_;                  // a sealed segment's header bytes, kept for rewrites
  uint64_t trusted_from_ = UINT64_MAX;  // set once, before the segment is shared
  uint64_t next_offset_;
  uint64_t records_ = 0;
  int64_t max_ts_;
  uint64_t last_indexed_pos_ = 0;
  bool any_indexed_ = false;
  std::vector<IndexEntry> index_;
  std::atomic<bool> corruption_logged_{false};
};

}  // namespace sluice::broker
