// Flow: one `sources:` entry at run time. Finds the files its globs match (periodic rescan,
// inotify on their directories through uv_fs_event, stat polling where a watch cannot be set),
// follows each file by identity through rename, copytruncate, deletion and symlink changes,
// frames and processes its lines, and puts them into one broker stream in batches. Per-file
// checkpoints advance only over records the stream has made durable.
//
// THREADING: everything runs on the loop thread that owns `loop`; no method may be called from
// another thread.
// OWNERSHIP: `loop`, `stream` and `clock` are not owned and must outlive the Flow. The Flow owns
// its uv handles; after Start, it may be destroyed only once the Stop callback has run.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "agent/tail/checkpoint_store.h"
#include "agent/tail/file_identity.h"
#include "agent/tail/flow_options.h"
#include "agent/tail/flow_stats.h"
#include "agent/tail/framer.h"
#include "agent/tail/glob.h"
#include "agent/tail/partition_key.h"
#include "agent/tail/processor.h"
#include "agent/tail/put_batch.h"
#include "agent/tail/source.h"
#include "broker/broker.h"
#include "core/clock.h"
#include "core/status.h"

namespace sluice::agent {

class Flow final : public Source, private PutTagger {
 public:
  // Validates the options and compiles patterns; touches no file yet.
  static Result<std::unique_ptr<Flow>> Create(uv_loop_t* loop, const FlowOptions& opts,
                                              broker::Stream* stream,
                                              const std::filesystem::path& checkpoint_dir,
                                              Clock* clock);
  ~Flow() override;
  Flow(const Flow&) = delete;
  Flow& operator=(const Flow&) = delete;

  // Loads checkpoints, discovers files, sets watches and timers. Reading starts on the loop.
  Status Start() override;
  // Stops reading, puts what is read, syncs the stream, writes a final checkpoint and closes
  // every handle; `on_closed` runs once the last close callback has run.
  void Stop(std::function<void()> on_closed) override;

  // One full pass now: rescan the globs, stat every tracked file, read what is new, put, advance
  // checkpoints. Timers and watches call the same code; tests call it to step the flow
  // deterministically.
  void PollNow();
  // Writes the checkpoint file now with what is durable (normally batched on a timer).
  Status WriteCheckpoint();

  FlowStats stats() const override;
  const FlowOptions& options() const override { return opts_; }
  const std::filesystem::path& checkpoint_path() const { return store_.path(); }

 private:
  struct File;
  class Sink;
  struct Watch;
  struct Pending {  // a put whose durability is awaited
    uint64_t generation;
    uint64_t file;  // File::serial
    uint64_t offset;
    uint32_t prefix_len;
    uint64_t prefix_hash;
    // after_batch_ only: the batch's entries when the file was moved to `offset` (StartAt).
    // An entry of the file at or after that index was read from there on and supersedes it.
    size_t in_batch = 0;
    // The file's content (File::epoch) `offset` is in. One truncated since is continued by its
    // copies: the position goes to them (Continued), not to the file's new content.
    uint32_t epoch = 0;
  };

  Flow(uv_loop_t* loop, const FlowOptions& opts, broker::Stream* stream,
       const std::filesystem::path& checkpoint_dir, Clock* clock);

  // Discovery and identity (flow_files.cc).
  void Rescan(bool initial);
  // `renamed`: the event was a create, delete or move of this name (not a write).
  void CheckPath(const std::string& path, bool renamed = false);
  bool RotatedFromMatch(const std::string& path);
  File* Track(const std::string& path, int fd, const struct stat& st, bool initial);
  // Returns whether the file's own checkpoint gave its offset.
  bool RestoreOffset(File* f, uint64_t size, bool initial);
  // Copies by content (File::copy_of). FindOriginal: a live file `f` copies (same full
  // fingerprint, not itself a copy, at least as long); AdoptOrphan (at start): a checkpoint
  // whose file is gone or changed that `f` continues (the same fingerprint, the bytes before its
  // offset hashing the same), moving f's offset there. ReleaseCopies: `original` is being
  // truncated or let go after reading up to `covered`: its copies go on from there.
  File* FindOriginal(File* f);
  enum class Adoption { kAdopted, kWait, kNone };  // kWait: a match may still be being written
  Adoption AdoptOrphan(File* f);
  // Whether the bytes of `a` and `b` before `end` are the same (kPrefixCheckBytes of them).
  bool SameBytesAt(File* a, File* b, uint64_t end);
  // A new file with a whole fingerprint: held as a copy, continued from an orphan's offset, or
  // its own. True: do not read it now (held, or young until a copy being written is whole).
  bool Settle(File* f);
  // A new file shorter than a fingerprint: young while its bytes begin another file's (a copy
  // being written); else continued from an orphan of a short fingerprint when it holds one.
  void SettleShort(File* f);
  void HoldCopy(File* copy, File* original);
  void ReleaseCopies(File* original, uint64_t covered);
  void StartAt(File* f, uint64_t offset, uint32_t prefix_len, uint64_t prefix_hash);
  // A held copy: true while it is still one (and so not read); false once let go (read on).
  bool StillACopy(File* f);
  // Fingerprint and head of the file's first bytes (kIoError: unreadable).
  Status TakeFingerprint(File* f, uint64_t size);
  // Whether the file's bytes so far begin another file (a live one, or one truncated or let
  // go): a copy may be being written.
  bool BeginsAnother(const File* f) const;
  // A young file: true while it must wait; false once it is settled (read it, unless held).
  bool StillYoung(File* f);
  void DetachPath(const std::string& path);
  bool Reopen(File* f);
  void CloseFd(File* f);
  void Forget(File* f);
  void UpdateWatches(const std::vector<std::string>& dirs);
  static void OnFsEvent(uv_fs_event_t* h, const char* name, int events, int status);

  // Reading (flow_read.cc).
  bool ReadFile(File* f, uint64_t* budget);  // false: stop reading (batch full and refused)
  bool CheckFile(File* f);                   // fstat: growth, truncation, deletion
  void MaybeFinish(File* f);
  void FinishFiles();
  void AddRecord(File* f, std::string_view data, uint64_t begin, uint64_t end);

  // Publishing and checkpoints (flow_publish.cc).
  bool BatchFull() const;
  bool FlushBatch();  // false while the stream refuses
  void CompleteBatch();
  void CompletePrefix(size_t count);  // the first `count` entries are in the stream
  // Whether an entry of p.file in batch_[p.in_batch, end) was read on from p's position.
  bool ReadOnInBatch(const Pending& p, size_t end) const;
  void AdvanceDurable();
  void MaybeCheckpoint();
  // Position tags (agent/tail/source_position.h): each put names, per file of the batch, the
  // end of the longest run of its entries in the stream or in the put; PutTagger, called by
  // putter_.
  std::string_view TagFor(std::span<const uint32_t> in_put) override;
  void Written(const broker::PutTag& tag) override;
  // At start: tags put after the checkpoint was written, read from the stream, give the files
  // they name (restored_) their newer positions.
  void ReadTags(const TagScan& scan);
  // Where tags the checkpoint does not cover may be: the shards' ends, lowered to the tags not
  // yet durable.
  TagScan TagScanNow() const;
  // The hash of the kPrefixCheckBytes before `end` in `f` (len 0: unreadable), taken once per
  // put of that offset.
  void PrefixAt(File* f, uint64_t end, uint32_t* len, uint64_t* hash);
  void TakeBatchTags(uint64_t generation);

  // Scheduling (flow.cc).
  void Pass();
  void Kick();
  void ScheduleRetry();
  static void OnKick(uv_idle_t* h);
  static void OnTick(uv_timer_t* t);
  static void OnRescan(uv_timer_t* t);
  static void OnRetry(uv_timer_t* t);
  static void OnClosed(uv_handle_t* h);
  void CloseHandle(uv_handle_t* h);

  uv_loop_t* loop_;
  const FlowOptions opts_;
  broker::Stream* stream_;
  uint64_t hold_;  // on stream_ while this source exists
  Clock* clock_;
  CheckpointStore store_;
  PathGlobs globs_;
  std::unique_ptr<Regex> start_pattern_;
  FramerOptions framer_options_;
  std::unique_ptr<Processor> processor_;
  std::unique_ptr<PartitionKeyer> keyer_;
  std::string host_;
  // The error output: lines of steps with `on_unparsed: error_output` that did not parse, as
  // JSON lines waiting to be written (durably, before the batch holding them is put, so the
  // checkpoint never passes a line that is in neither the stream nor the error output).
  std::filesystem::path errors_root_;
  std::string error_lines_;
  uint64_t error_records_ = 0;
  std::string error_seed_;  // names the object after its first line: a re-read rewrites it
  int64_t error_logged_ms_ = 0;
  uint64_t error_unlogged_ = 0;
  Status WriteErrorObject();

  // Files by serial; lookups by identity and by path.
  uint64_t next_serial_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<File>> files_;
  std::unordered_map<FileId, uint64_t, FileIdHash> by_id_;
  std::unordered_map<std::string, uint64_t> by_path_;
  std::vector<uint64_t> dirty_;                  // files to read on the next pass
  std::unordered_set<std::string> open_failed_;  // paths whose open error was logged
  std::unordered_map<FileId, FileCheckpoint, FileIdHash> restored_;  // loaded, not yet matched
  // Checkpoints of files gone or changed while the flow was stopped (a copytruncate's original,
  // truncated since): a new file holding their content continues them (AdoptOrphan).
  struct Orphan {
    std::string path;
    FileId id;
    Fingerprint fingerprint;
    uint64_t offset = 0;    // where its reading stopped: a copy goes on from here
    uint64_t check_at = 0;  // [check_at - prefix_len, check_at) must hash to prefix_hash
    uint32_t prefix_len = 0;
    uint64_t prefix_hash = 0;
    std::string head;  // its first bytes when known (truncated or let go at run time)
    // Where its content was durable in the stream (and the prefix hash there): a copy that goes
    // on from `offset` has its bytes up to here stored already, whatever it waits for.
    uint64_t durable = 0;
    uint32_t durable_prefix_len = 0;
    uint64_t durable_prefix_hash = 0;
    // The file and content (File::epoch) it was, when left at run time (serial 0: restored
    // from a checkpoint): puts of that content durable later move `durable` on (Continued).
    uint64_t serial = 0;
    uint32_t epoch = 0;
  };
  std::vector<Orphan> orphans_;
  void AddOrphan(const FileCheckpoint& c);
  void KeepOrphan(Orphan o);  // bounded: the oldest go first
  // The orphan a file truncated or let go leaves, its reading stopped at `covered`.
  void KeepReadOrphan(const File* f, uint64_t covered);
  // A copy started at its original's position (StartAt) whose records up to `offset` are durable
  // already as its original's: its checkpoint may name `offset` at once, before what the copy
  // waits for (the original's last records, maybe in a batch the stream refuses) is durable.
  void KnownDurable(File* f, uint64_t offset, uint32_t prefix_len, uint64_t prefix_hash);
  // A put of a file's earlier content (truncated since) became durable: the copies continuing
  // that content, and the orphan it left for a copy not found yet, are durable up to there.
  void Continued(const Pending& p);
  std::vector<uint64_t> fresh_;  // files of the initial scan without a checkpoint of their own
  // Files of the initial scan restored from a checkpoint of their own: a position of the same
  // content further on (a tag put for the file it is a copy of) moves them on (GoFurther).
  std::vector<uint64_t> restored_own_;
  void GoFurther(File* f);
  bool had_checkpoints_ = false;
  // Names matching a glob that were just created, moved or deleted, per directory: a file moved
  // to a non-matching name beside them (app.log -> app.log.1) before it was ever read is followed.
  struct RecentRename {
    std::string dir;
    std::string stem;  // file name up to its first '.'
    int64_t ms;
  };
  std::deque<RecentRename> recent_renames_;
  // Files drained and let go, so that a later rename of them is not taken for a new file.
  std::unordered_map<FileId, Fingerprint, FileIdHash> gone_;
  std::deque<FileId> gone_order_;
  int open_count_ = 0;

  // The batch being filled or retried. Records live in arena_; views are built at put time.
  struct Entry : BatchEntry {
    uint64_t file;
    uint64_t end_offset;
    uint32_t epoch;  // the file's content it was read from (File::epoch)
  };
  std::string arena_;
  std::vector<Entry> batch_;
  BatchPutter putter_;
  std::vector<uint64_t> prefix_files_;  // scratch of CompletePrefix
  bool refused_ = false;                // the stream refused: paused until the retry timer
  int retry_attempt_ = 0;
  std::string key_scratch_;
  std::vector<char> block_;

  // Position tags: the flow's id in them, the last tag's number, and the number up to which
  // every tag's positions are in the files' durable offsets (the checkpoint's).
  uint64_t tag_flow_id_ = 0;
  uint64_t put_seq_ = 0;
  uint64_t covered_seq_ = 0;
  struct TagPut {
    uint64_t generation;
    uint64_t seq;
    uint32_t shard;
    uint64_t offset;
  };
  std::deque<TagPut> tag_puts_;     // written, not yet durable; by generation
  std::vector<TagPut> batch_tags_;  // written by the batch being put
  // The files of the batch while a put's tag is made: how far each one's entries are in the
  // stream or in the put, whether the put holds any of them, and whether a later one is not.
  // Entries of a content the file was truncated from since (or of a file let go) count for the
  // files continuing that content: its copies, or, while none is found, the orphan it left
  // (`orphan` set, `file` null).
  struct TagSlot {
    File* file;
    const Orphan* orphan;
    uint64_t end_offset;
    bool advanced;
    bool in_put;
    bool blocked;
    bool continuation;  // counts entries of a content the file continues
  };
  std::vector<TagSlot> tag_slots_;
  std::vector<size_t> run_slots_;  // the slots the current run of entries counts for
  size_t TagSlotOf(File* f);
  // The slots of the files (or the orphan) continuing content `epoch` of file `serial`.
  void ContinuationSlots(uint64_t serial, uint32_t epoch);
  uint64_t tag_stamp_ = 0;
  std::vector<FileCheckpoint> tag_positions_;
  std::string tag_buf_;

  std::deque<Pending> pending_;  // ordered by generation
  // Offsets of released copies that wait for records still in the batch (their original's): they
  // join pending_ with the generation of the put that carries those records.
  std::vector<Pending> after_batch_;
  bool checkpoint_dirty_ = false;
  int64_t last_checkpoint_ms_ = 0;

  // Watches by directory; directories that could not be watched are polled.
  std::unordered_map<std::string, Watch*> watches_;
  bool polling_ = false;
  int64_t last_poll_ms_ = 0;
  bool rescan_wanted_ = false;
  int64_t last_rescan_ms_ = 0;

  uv_idle_t kick_{};
  uv_timer_t tick_{};
  uv_timer_t rescan_{};
  uv_timer_t retry_{};
  bool started_ = false;
  bool stopping_ = false;
  bool kick_armed_ = false;
  int open_handles_ = 0;
  std::function<void()> on_closed_;

  FlowStats stats_;
};

}  // namespace sluice::agent
