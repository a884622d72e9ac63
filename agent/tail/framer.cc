#include "agent/tail/framer.h"

#include <cstring>

#include "agent/tail/container_log.h"

namespace sluice::agent {

Status Framer::Validate(const FramerOptions& options) {
  if (options.max_record_size == 0) return InvalidArgument("max_record_size must be positive");
  if (options.truncated_record_terminator.size() >= options.max_record_size) {
    return InvalidArgument("truncated_record_terminator must be shorter than max_record_size (" +
                           std::to_string(options.max_record_size) + " bytes)");
  }
  if (options.skip_header_lines < 0) return InvalidArgument("skip_header_lines must be >= 0");
  if (options.start_pattern != nullptr && options.preset != MultilinePreset::kNone) {
    return InvalidArgument("multiline: give start_pattern or preset, not both");
  }
  return Status::Ok();
}

Framer::Framer(const FramerOptions& options, uint64_t start_offset)
    : options_(options),
      single_line_(options.start_pattern == nullptr && options.preset == MultilinePreset::kNone),
      next_offset_(start_offset),
      committed_(start_offset),
      skip_remaining_(start_offset == 0 ? options.skip_header_lines : 0) {
  if (options.preset == MultilinePreset::kDocker) docker_ = std::make_unique<DockerLineParser>();
}

Framer::~Framer() = default;

void Framer::Reset(uint64_t offset) {
  next_offset_ = committed_ = offset;
  skip_remaining_ = offset == 0 ? options_.skip_header_lines : 0;
  carry_.clear();
  carry_overflow_ = false;
  record_.clear();
  has_record_ = false;
  record_overflow_ = false;
  ResetPreset();
}

void Framer::AppendBounded(std::string* dst, std::string_view src, bool* overflow) const {
  // One byte past the limit is kept so that "exactly max" and "more than max" differ.
  const size_t cap = options_.max_record_size + 1;
  size_t room = cap > dst->size() ? cap - dst->size() : 0;
  size_t take = src.size() <= room ? src.size() : room;
  if (take < src.size()) *overflow = true;
  dst->append(src.data(), take);
}

void Framer::Feed(std::string_view data, RecordSink* sink) {
  const char* p = data.data();
  const char* end = p + data.size();
  const uint64_t base = next_offset_;
  while (p < end) {
    const char* nl = static_cast<const char*>(memchr(p, '\n', end - p));
    if (nl == nullptr) {
      if (carry_.empty() && !carry_overflow_) carry_begin_ = base + (p - data.data());
      AppendBounded(&carry_, std::string_view(p, end - p), &carry_overflow_);
      break;
    }
    uint64_t line_end = base + (nl - data.data()) + 1;
    if (carry_.empty() && !carry_overflow_) {
      OnLine(std::string_view(p, nl - p), false, base + (p - data.data()), line_end, sink);
    } else {
      AppendBounded(&carry_, std::string_view(p, nl - p), &carry_overflow_);
      OnLine(carry_, carry_overflow_, carry_begin_, line_end, sink);
      carry_.clear();
      carry_overflow_ = false;
    }
    p = nl + 1;
  }
  next_offset_ = base + data.size();
}

void Framer::Flush(RecordSink* sink) {
  if (!carry_.empty() || carry_overflow_) {
    // Copy out: OnLine may emit through scratch_, never through carry_, but carry_ is cleared.
    std::string line;
    line.swap(carry_);
    bool overflow = carry_overflow_;
    carry_overflow_ = false;
    OnLine(line, overflow, carry_begin_, next_offset_, sink);
    line.clear();
    carry_.swap(line);  // keep the capacity
  }
  EmitRecord(sink);
  if (options_.preset != MultilinePreset::kNone) FlushPreset(sink);
}

void Framer::OnLine(std::string_view line, bool overflow, uint64_t begin, uint64_t end_offset,
                    RecordSink* sink) {
  if (skip_remaining_ > 0) {
    --skip_remaining_;
    if (!holds_lines()) committed_ = end_offset;
    return;
  }
  if (single_line_) {
    Emit(line, overflow || line.size() > options_.max_record_size, begin, end_offset, sink);
    return;
  }
  if (options_.preset != MultilinePreset::kNone) {
    OnPresetLine(line, overflow, begin, end_offset, sink);
    return;
  }
  if (options_.start_pattern->Matches(line)) EmitRecord(sink);
  AddToRecord(line, overflow, begin, end_offset);
}

void Framer::AddToRecord(std::string_view line, bool overflow, uint64_t begin, uint64_t end) {
  if (has_record_) {
    AppendBounded(&record_, "\n", &record_overflow_);
  } else {
    record_begin_ = begin;
  }
  AppendBounded(&record_, line, &record_overflow_);
  record_overflow_ |= overflow;
  has_record_ = true;
  record_end_ = end;
}

void Framer::EmitRecord(RecordSink* sink) {
  if (!has_record_) return;
  Emit(record_, record_overflow_, record_begin_, record_end_, sink);
  record_.clear();
  has_record_ = false;
  record_overflow_ = false;
}

void Framer::Emit(std::string_view data, bool truncated, uint64_t begin, uint64_t end_offset,
                  RecordSink* sink) {
  if (truncated || data.size() > options_.max_record_size) {
    const std::string& term = options_.truncated_record_terminator;
    size_t keep = options_.max_record_size - term.size();
    scratch_.assign(data.data(), keep < data.size() ? keep : data.size());
    scratch_.append(term);
    ++truncated_;
    committed_ = end_offset;
    sink->OnRecord(scratch_, begin, end_offset);
    return;
  }
  committed_ = end_offset;
  sink->OnRecord(data, begin, end_offset);
}

}  // namespace sluice::agent
