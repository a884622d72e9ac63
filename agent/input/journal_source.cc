#include "agent/input/journal_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include "agent/input/journal_entry.h"
#include "core/fd.h"
#include "core/log.h"

namespace sluice::agent {
namespace {

constexpr int kEntriesPerTurn = 2000;
constexpr size_t kMaxCursorFile = 4096;

std::string SdError(int rc) { return std::strerror(rc < 0 ? -rc : rc); }

// The checkpointed cursor, "" when there is none.
Result<std::string> LoadCursor(const std::filesystem::path& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::string();
    return ErrnoError("open " + path.string(), errno);
  }
  std::string text(kMaxCursorFile, '\0');
  ssize_t n = read(fd, text.data(), text.size());
  const int err = errno;
  close(fd);
  if (n < 0) return ErrnoError("read " + path.string(), err);
  text.resize(static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

Result<std::unique_ptr<Source>> JournalSource::Create(uv_loop_t* loop, const FlowOptions& opts,
                                                      std::unique_ptr<InputPublisher> publisher,
                                                      const std::filesystem::path& checkpoint_dir) {
  const std::string where = "sources[" + opts.name + "].journal";
  std::unique_ptr<JournalSource> s(new JournalSource(loop, opts, std::move(publisher)));
  const JournalOptions& o = opts.journal;
  int rc = o.directory.empty() ? sd_journal_open(&s->j_, SD_JOURNAL_LOCAL_ONLY)
                               : sd_journal_open_directory(&s->j_, o.directory.c_str(), 0);
  if (rc < 0) {
    s->j_ = nullptr;
    return IoError(where + ": cannot open the journal" +
                   (o.directory.empty() ? std::string() : " in " + o.directory) + ": " +
                   SdError(rc));
  }
  for (const std::string& m : JournalMatches(o)) {
    rc = sd_journal_add_match(s->j_, m.data(), m.size());
    if (rc < 0) return InvalidArgument(where + ": match \"" + m + "\": " + SdError(rc));
  }
  // Compressed values longer than this are cut by sd-journal; records are bounded anyway.
  sd_journal_set_data_threshold(s->j_, opts.max_record_size);
  std::error_code ec;
  std::filesystem::create_directories(checkpoint_dir, ec);
  if (ec) return IoError("create " + checkpoint_dir.string() + ": " + ec.message());
  s->cursor_path_ = checkpoint_dir / "journal.cursor";
  return std::unique_ptr<Source>(std::move(s));
}

JournalSource::~JournalSource() {
  if (j_ != nullptr) sd_journal_close(j_);
}

Status JournalSource::Start() {
  publisher_->Start();
  publisher_->set_on_accepting([this] {
    paused_ = false;
    ReadSome();
  });
  publisher_->set_on_durable([this](uint64_t position) { OnDurable(position); });

  std::string_view from = "cursor";
  auto cursor = LoadCursor(cursor_path_);
  if (!cursor.ok()) {
    SLUICE_LOG(Warn, "journal cursor unreadable; starting at initial_position")
        .With("flow", opts_.name)
        .With("error", cursor.status().ToString());
  } else if (!cursor->empty()) {
    int rc = sd_journal_seek_cursor(j_, cursor->c_str());
    if (rc < 0) {
      SLUICE_LOG(Warn, "journal cursor refused; starting at initial_position")
          .With("flow", opts_.name)
          .With("error", SdError(rc));
    } else {
      skip_cursor_ = *cursor;
      durable_cursor_ = *cursor;
    }
  }
  if (skip_cursor_.empty()) {
    if (opts_.initial_position == InitialPosition::kStartOfFile) {
      from = "head";
      sd_journal_seek_head(j_);
    } else {
      // At the last entry: the first sd_journal_next moves past it, to entries written later.
      from = "tail";
      sd_journal_seek_tail(j_);
      sd_journal_previous(j_);
    }
  }

  timer_ = NewHandle();
  uv_timer_init(loop_, &timer_->timer);
  timer_->timer.data = this;
  const auto every = static_cast<uint64_t>(std::max<int64_t>(opts_.poll_interval.count(), 10));
  uv_timer_start(
      &timer_->timer,
      [](uv_timer_t* t) {
        auto* self = static_cast<JournalSource*>(t->data);
        self->Wake();
        if (self->cursor_dirty_) self->WriteCursor();
      },
      every, every);
  more_ = NewHandle();
  uv_timer_init(loop_, &more_->timer);
  more_->timer.data = this;

  const int fd = sd_journal_get_fd(j_);
  if (fd < 0) {
    SLUICE_LOG(Warn, "journal changes are not signalled; checking every poll_interval")
        .With("flow", opts_.name)
        .With("error", SdError(fd));
  } else {
    poll_ = NewHandle();
    uv_poll_init(loop_, &poll_->poll, fd);
    poll_->poll.data = this;
    uv_poll_start(&poll_->poll, UV_READABLE, [](uv_poll_t* p, int status, int) {
      if (status >= 0) static_cast<JournalSource*>(p->data)->Wake();
    });
  }
  SLUICE_LOG(Info, "source started")
      .With("flow", opts_.name)
      .With("type", "journal")
      .With("directory",
            opts_.journal.directory.empty() ? std::string("(system)") : opts_.journal.directory)
      .With("from", from);
  ReadSome();
  return Status::Ok();
}

void JournalSource::Wake() {
  if (stopping()) return;
  // Drains the inotify events (else the fd stays readable); the return value says what changed,
  // which the next sd_journal_next sees either way.
  sd_journal_process(j_);
  ReadSome();
}

void JournalSource::ReadSome() {
  if (stopping() || paused_) return;
  for (int n = 0; n < kEntriesPerTurn; ++n) {
    if (!publisher_->accepting()) {
      paused_ = true;
      return;
    }
    int rc = sd_journal_next(j_);
    if (rc == 0) return;  // caught up: the poll or the timer wakes us
    if (rc < 0) {
      if (read_errors_++ == 0) {
        SLUICE_LOG(Warn, "journal read failed; retrying every poll_interval")
            .With("flow", opts_.name)
            .With("error", SdError(rc));
      }
      return;
    }
    if (!skip_cursor_.empty()) {
      const bool same = sd_journal_test_cursor(j_, skip_cursor_.c_str()) > 0;
      skip_cursor_.clear();
      if (same) continue;  // already delivered before the checkpoint
    }
    Publish();
  }
  // More may wait: go on in the next loop turn, after the loop's I/O.
  if (!more_armed_) {
    more_armed_ = true;
    uv_timer_start(
        &more_->timer,
        [](uv_timer_t* t) {
          auto* self = static_cast<JournalSource*>(t->data);
          self->more_armed_ = false;
          self->ReadSome();
        },
        0, 0);
  }
}

void JournalSource::Publish() {
  data_.clear();
  ends_.clear();
  fields_.clear();
  const void* d = nullptr;
  size_t len = 0;
  sd_journal_restart_data(j_);
  // The data pointers are valid only until the next call: copy each field out.
  while (sd_journal_enumerate_available_data(j_, &d, &len) > 0) {
    data_.append(static_cast<const char*>(d), len);
    ends_.push_back(data_.size());
  }
  size_t begin = 0;
  for (size_t end : ends_) {
    fields_.emplace_back(data_.data() + begin, end - begin);
    begin = end;
  }
  uint64_t realtime_us = 0;
  sd_journal_get_realtime_usec(j_, &realtime_us);
  FlowStats& stats = publisher_->mutable_stats();
  stats.bytes_read += data_.size();
  if (JournalEntryToJson(fields_, realtime_us, opts_.max_record_size, &json_)) {
    ++stats.records_truncated;
  }
  char* cursor = nullptr;
  const uint64_t position = ++records_;
  if (sd_journal_get_cursor(j_, &cursor) >= 0 && cursor != nullptr) {
    pending_.push_back({position, cursor});
    std::free(cursor);
  }
  publisher_->Add(json_, "journal", position);
}

void JournalSource::OnDurable(uint64_t position) {
  bool any = false;
  while (!pending_.empty() && pending_.front().position <= position) {
    durable_cursor_ = std::move(pending_.front().cursor);
    pending_.pop_front();
    any = true;
  }
  if (!any) return;
  cursor_dirty_ = true;
  if (stopping() || static_cast<int64_t>(uv_now(loop_)) - cursor_written_ms_ >=
                        opts_.checkpoint_interval.count()) {
    WriteCursor();
  }
}

void JournalSource::WriteCursor() {
  if (durable_cursor_.empty()) return;
  cursor_written_ms_ = static_cast<int64_t>(uv_now(loop_));
  Status st = WriteFileAtomically(cursor_path_, durable_cursor_ + "\n");
  if (!st.ok()) {
    if (checkpoint_errors_++ == 0) {
      SLUICE_LOG(Warn, "journal cursor not written; retrying")
          .With("flow", opts_.name)
          .With("error", st.ToString());
    }
    return;
  }
  cursor_dirty_ = false;
  ++checkpoint_writes_;
}

void JournalSource::StopReading() {
  // What became durable since the last write; the publisher's last sync may add a later one.
  if (cursor_dirty_) WriteCursor();
  CloseHandle(poll_);
  CloseHandle(timer_);
  CloseHandle(more_);
}

FlowStats JournalSource::stats() const {
  FlowStats s = publisher_->stats();
  s.checkpoint_writes = checkpoint_writes_;
  s.checkpoint_errors = checkpoint_errors_;
  s.files_open = j_ != nullptr ? 1 : 0;
  return s;
}

}  // namespace sluice::agent
