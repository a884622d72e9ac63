// Framer: turns the bytes of one file, fed in order, into records.
//
// Newline-delimited lines (the newline is not part of the record), optionally grouped into
// multiline records by a start pattern; header lines skipped when the file is read from offset 0;
// records longer than max_record_size truncated and ended with the terminator. Binary-safe: any
// byte other than '\n' is data. Memory is bounded by about max_record_size per file.
//
// Each emitted record carries the file offset just after its last byte (its newline), so the
// caller can checkpoint a contiguous prefix: committed_offset() is where reading must resume to
// see every record not emitted yet.
//
// THREADING: not thread-safe; one Framer per followed file, used on the loop thread.
// OWNERSHIP: `start_pattern` (may be null) is not owned and must outlive the Framer. Views handed
// to the sink are valid only during the call.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "agent/tail/regex.h"
#include "core/status.h"

namespace sluice::agent {

struct FramerOptions {
  uint64_t max_record_size = (1u << 20) - 256;
  std::string truncated_record_terminator = "\n";
  int skip_header_lines = 0;
  Regex* start_pattern = nullptr;  // multiline when set
};

class RecordSink {
 public:
  virtual ~RecordSink() = default;
  // [begin_offset, end_offset) are the file bytes the record came from, its newline included.
  virtual void OnRecord(std::string_view data, uint64_t begin_offset, uint64_t end_offset) = 0;
};

class Framer final {
 public:
  // Checks the options: the terminator must be shorter than max_record_size.
  static Status Validate(const FramerOptions& options);

  // `start_offset`: file offset of the first byte that will be fed. Header lines are skipped
  // only when it is 0.
  Framer(const FramerOptions& options, uint64_t start_offset);

  // Feeds the next bytes of the file; emits every record completed by them.
  void Feed(std::string_view data, RecordSink* sink);
  // Emits what is held back: an unterminated last line and a pending multiline record. Called
  // once the file has stopped growing for flush_timeout, or when it is let go.
  void Flush(RecordSink* sink);
  // Forgets everything held and restarts at `offset` (the file was truncated).
  void Reset(uint64_t offset);

  bool has_pending() const { return !carry_.empty() || carry_overflow_ || has_record_; }
  // Offset past the last byte that is emitted or skipped: resume here after a restart.
  uint64_t committed_offset() const { return committed_; }
  // Offset of the next byte to feed.
  uint64_t next_offset() const { return next_offset_; }
  // Bytes held back (unterminated line plus pending multiline record).
  uint64_t pending_bytes() const { return carry_.size() + record_.size(); }
  uint64_t truncated_records() const { return truncated_; }

 private:
  void OnLine(std::string_view line, bool overflow, uint64_t begin, uint64_t end, RecordSink* sink);
  void Emit(std::string_view data, bool truncated, uint64_t begin, uint64_t end, RecordSink* sink);
  void AppendBounded(std::string* dst, std::string_view src, bool* overflow) const;

  const FramerOptions& options_;
  uint64_t next_offset_;
  uint64_t committed_;
  int skip_remaining_;
  std::string carry_;  // unterminated line, at most max_record_size bytes
  bool carry_overflow_ = false;
  uint64_t carry_begin_ = 0;
  // Multiline: the record being assembled and the offset past its last line.
  std::string record_;
  bool has_record_ = false;
  bool record_overflow_ = false;
  uint64_t record_begin_ = 0;
  uint64_t record_end_ = 0;
  std::string scratch_;  // truncated record + terminator
  uint64_t truncated_ = 0;
};

}  // namespace sluice::agent
