// JournalSource (`type: journal`): systemd journal entries through libsystemd's sd-journal, one
// JSON record per entry (journal_entry.h). `journal.directory` names a directory of journal
// files (else the local system journal); `units`, `priority` and `matches` become sd-journal
// matches (journal_entry.h: JournalMatches).
//
// Checkpoint: the cursor of the last entry the stream made durable (every entry before it put
// and synced) is written atomically to `<checkpoint_dir>/journal.cursor`, at most once per
// checkpoint_interval and at the stop. A start with a cursor reads on after that entry; without
// one, initial_position start_of_file reads the journal from its head, end_of_file (the default)
// only entries written from now on. After a crash, the entries put after the last cursor write
// are read again (at least once, like file sources).
//
// Wake-ups: sd_journal_get_fd (inotify) polled on the loop, plus a timer every poll_interval for
// file systems that do not signal. At most kEntriesPerTurn entries are read per loop turn; reads
// stop while the publisher does not accept and start again when it does.
//
// THREADING: loop thread only (sd_journal is not thread-safe; it is only used here).
// OWNERSHIP: see InputSource. The sd_journal is opened at Create and closed by the destructor,
// after its poll handle is closed.
#pragma once

#include <systemd/sd-journal.h>

#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/input/input_source.h"

namespace sluice::agent {

class JournalSource final : public InputSource {
 public:
  static Result<std::unique_ptr<Source>> Create(uv_loop_t* loop, const FlowOptions& opts,
                                                std::unique_ptr<InputPublisher> publisher,
                                                const std::filesystem::path& checkpoint_dir);
  ~JournalSource() override;
  Status Start() override;
  FlowStats stats() const override;

 private:
  struct Pending {
    uint64_t position;
    std::string cursor;
  };
  using InputSource::InputSource;
  void StopReading() override;
  void ReadSome();
  void Publish();
  void OnDurable(uint64_t position);
  void WriteCursor();
  void Wake();  // sd_journal_process, then read

  sd_journal* j_ = nullptr;
  std::filesystem::path cursor_path_;
  UvHandle* poll_ = nullptr;   // the journal's inotify fd
  UvHandle* timer_ = nullptr;  // poll_interval fallback and checkpoint writes
  UvHandle* more_ = nullptr;   // the next turn of a long read
  bool more_armed_ = false;
  bool paused_ = false;
  std::string skip_cursor_;  // the checkpointed entry, skipped when the first read lands on it
  uint64_t records_ = 0;
  std::deque<Pending> pending_;  // cursors of entries added and not yet durable
  std::string durable_cursor_;
  bool cursor_dirty_ = false;
  int64_t cursor_written_ms_ = 0;
  uint64_t checkpoint_writes_ = 0;
  uint64_t checkpoint_errors_ = 0;
  uint64_t read_errors_ = 0;
  std::string data_;  // the current entry's fields, copied out of sd-journal's buffers
  std::vector<size_t> ends_;
  std::vector<std::string_view> fields_;
  std::string json_;
};

}  // namespace sluice::agent
