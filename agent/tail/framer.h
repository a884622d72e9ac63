// Framer: turns the bytes of one file, fed in order, into records.
//
// Newline-delimited lines (the newline is not part of the record), optionally grouped into
// multiline records by a start pattern or a preset (multiline_preset.h); header lines skipped when
// the file is read from offset 0; records longer than max_record_size truncated and ended with the
// terminator. Binary-safe: any byte other than '\n' is data. Memory is bounded by about
// max_record_size per file (twice that with docker and cri: one pending record per stream).
//
// Each emitted record carries the file offset just after its last byte (its newline), so the
// caller can checkpoint a contiguous prefix: committed_offset() is where reading must resume to
// see every record not emitted yet. Records are emitted in file order, with one exception: with
// docker and cri, the parts of stdout and stderr lines may interleave, and a record that
// completes while a record of the other stream that began earlier is still pending is emitted
// with the end offset of the pending record's begin instead (the checkpoint never passes a line
// not emitted; a restart in between delivers that record again).
//
// The presets java, python and go (framer_presets.cc) join the lines of a stack trace; docker
// and cri join a container runtime's partial lines and emit each joined line as a JSON object.
// Without multiline, each line is emitted from the bytes fed, with no copy and no allocation.
//
// THREADING: not thread-safe; one Framer per followed file, used on the loop thread.
// OWNERSHIP: `start_pattern` (may be null) is not owned and must outlive the Framer. Views handed
// to the sink are valid only during the call.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/tail/multiline_preset.h"
#include "agent/tail/regex.h"
#include "core/status.h"

namespace sluice::agent {

struct FramerOptions {
  uint64_t max_record_size = (1u << 20) - 256;
  std::string truncated_record_terminator = "\n";
  int skip_header_lines = 0;
  Regex* start_pattern = nullptr;                   // multiline when set
  MultilinePreset preset = MultilinePreset::kNone;  // multiline by preset; not with start_pattern
};

class DockerLineParser;

class RecordSink {
 public:
  virtual ~RecordSink() = default;
  // [begin_offset, end_offset) are the file bytes the record came from, its newline included.
  virtual void OnRecord(std::string_view data, uint64_t begin_offset, uint64_t end_offset) = 0;
};

class Framer final {
 public:
  // Checks the options: the terminator must be shorter than max_record_size; start_pattern and
  // preset exclude each other.
  static Status Validate(const FramerOptions& options);

  // `start_offset`: file offset of the first byte that will be fed. Header lines are skipped
  // only when it is 0.
  Framer(const FramerOptions& options, uint64_t start_offset);
  ~Framer();
  Framer(const Framer&) = delete;
  Framer& operator=(const Framer&) = delete;

  // Feeds the next bytes of the file; emits every record completed by them.
  void Feed(std::string_view data, RecordSink* sink);
  // Emits what is held back: an unterminated last line and a pending multiline record. Called
  // once the file has stopped growing for flush_timeout, or when it is let go.
  void Flush(RecordSink* sink);
  // Forgets everything held and restarts at `offset` (the file was truncated).
  void Reset(uint64_t offset);

  bool has_pending() const { return !carry_.empty() || carry_overflow_ || holds_lines(); }
  // Offset past the last byte that is emitted or skipped: resume here after a restart.
  uint64_t committed_offset() const { return committed_; }
  // Offset of the next byte to feed.
  uint64_t next_offset() const { return next_offset_; }
  // Bytes held back (unterminated line plus pending multiline record).
  uint64_t pending_bytes() const {
    return carry_.size() + record_.size() + held_text_.size() + parts_[0].log.size() +
           parts_[1].log.size();
  }
  uint64_t truncated_records() const { return truncated_; }

 private:
  void OnLine(std::string_view line, bool overflow, uint64_t begin, uint64_t end, RecordSink* sink);
  void Emit(std::string_view data, bool truncated, uint64_t begin, uint64_t end, RecordSink* sink);
  void AppendBounded(std::string* dst, std::string_view src, bool* overflow) const;
  // Complete lines are held back, not emitted yet (a multiline record, held or partial lines).
  bool holds_lines() const {
    return has_record_ || !held_.empty() || parts_[0].active || parts_[1].active;
  }
  // The multiline record: add a line to it (starting it if there is none), emit it.
  void AddToRecord(std::string_view line, bool overflow, uint64_t begin, uint64_t end);
  void EmitRecord(RecordSink* sink);

  // Presets (framer_presets.cc).
  enum class TraceState : uint8_t {
    kNone,   // no trace pending (java: record_ may hold the lines so far)
    kTrace,  // a trace is pending
    kEnded,  // python: the exception line is in; a chained exception may follow
  };
  struct HeldLine {
    size_t size;  // of its text in held_text_
    bool marker;  // python's chain marker
    uint64_t begin, end;
  };
  // A container stream's pending record: its joined content and its JSON around it.
  struct Part {
    bool active = false;
    bool overflow = false;
    uint64_t begin = 0, end = 0;
    std::string log, head, tail;
  };
  void OnPresetLine(std::string_view line, bool overflow, uint64_t begin, uint64_t end,
                    RecordSink* sink);
  void OnPythonLine(std::string_view line, bool overflow, uint64_t begin, uint64_t end,
                    RecordSink* sink);
  void OnGoLine(std::string_view line, bool overflow, uint64_t begin, uint64_t end,
                RecordSink* sink);
  void OnContainerLine(std::string_view line, bool overflow, uint64_t begin, uint64_t end,
                       RecordSink* sink);
  bool Hold(std::string_view line, bool overflow, bool marker, uint64_t begin, uint64_t end);
  void AppendHeld();
  void EndTrace(RecordSink* sink);  // emits the trace, then the held lines, each a record
  void EmitPart(int stream, RecordSink* sink);
  uint64_t SafeEnd(uint64_t end, int except) const;
  void FlushPreset(RecordSink* sink);
  void ResetPreset();

  const FramerOptions& options_;
  const bool single_line_;  // no multiline: the hot path
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
  // Presets: python's and go's lines held after a trace that may go on (blank lines, chain
  // markers: at most kMaxHeld lines of at most kMaxHeldSize bytes).
  TraceState trace_ = TraceState::kNone;
  std::vector<HeldLine> held_;
  std::string held_text_;
  // docker and cri: one pending record per stream (kStdout, kStderr), the parser, JSON buffers.
  Part parts_[2];
  std::unique_ptr<DockerLineParser> docker_;
  std::string json_, json_scratch_, json_scratch2_;
};

}  // namespace sluice::agent
