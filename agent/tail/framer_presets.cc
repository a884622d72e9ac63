// Framer: the multiline presets' state machines (the line tests are in multiline_preset.cc,
// the container line parsers in container_log.cc).
//
// java: every line that does not continue (JavaContinues) starts a record; the record is pending
// until the next such line or flush_timeout. python and go: a line outside a trace is emitted at
// once; a trace start opens a record that takes the trace's lines. A python trace ends with its
// exception line but stays pending, since a chained exception ("During handling of the above
// exception ...") may follow after blank lines; go's ends with "exit status N" or at the first
// line that is not a trace's. Blank lines and chain markers after a trace are held apart (their
// offsets kept) until the next line tells whether the trace goes on: if it does not, the trace
// is emitted without them and they follow as records of their own, so each record's end offset
// stays exact.
#include "agent/tail/container_log.h"
#include "agent/tail/framer.h"

namespace sluice::agent {
namespace {

constexpr size_t kMaxHeld = 4;
constexpr size_t kMaxHeldSize = 256;

bool StartsIndented(std::string_view line) {
  return !line.empty() && (line.front() == ' ' || line.front() == '\t') && !IsBlank(line);
}

}  // namespace

void Framer::OnPresetLine(std::string_view line, bool overflow, uint64_t begin, uint64_t end,
                          RecordSink* sink) {
  switch (options_.preset) {
    case MultilinePreset::kJava:
      if (!JavaContinues(line)) EmitRecord(sink);
      AddToRecord(line, overflow, begin, end);
      return;
    case MultilinePreset::kPython:
      OnPythonLine(line, overflow, begin, end, sink);
      return;
    case MultilinePreset::kGo:
      OnGoLine(line, overflow, begin, end, sink);
      return;
    case MultilinePreset::kDocker:
    case MultilinePreset::kCri:
      OnContainerLine(line, overflow, begin, end, sink);
      return;
    case MultilinePreset::kNone:
      break;
  }
  Emit(line, overflow || line.size() > options_.max_record_size, begin, end, sink);
}

void Framer::OnPythonLine(std::string_view line, bool overflow, uint64_t begin, uint64_t end,
                          RecordSink* sink) {
  if (trace_ == TraceState::kEnded) {
    bool marker = IsPythonChainMarker(line);
    if ((marker || IsBlank(line)) && Hold(line, overflow, marker, begin, end)) return;
    bool chained = false;
    for (const HeldLine& h : held_) chained |= h.marker;
    if (chained && IsPythonTracebackStart(line)) {
      AppendHeld();
      AddToRecord(line, overflow, begin, end);
      trace_ = TraceState::kTrace;
      return;
    }
    if (held_.empty() && StartsIndented(line)) {  // an exception group's sub-exceptions
      AddToRecord(line, overflow, begin, end);
      return;
    }
    EndTrace(sink);
  } else if (trace_ == TraceState::kTrace) {
    if (StartsIndented(line)) {  // '  File "x.py", line 3, in f', its code, 3.11's '^^^^'
      AddToRecord(line, overflow, begin, end);
      return;
    }
    if (IsPythonExceptionLine(line)) {
      AddToRecord(line, overflow, begin, end);
      trace_ = TraceState::kEnded;
      return;
    }
    EndTrace(sink);  // cut short: the trace is what came so far
  }
  if (IsPythonTracebackStart(line)) {
    AddToRecord(line, overflow, begin, end);
    trace_ = TraceState::kTrace;
    return;
  }
  Emit(line, overflow || line.size() > options_.max_record_size, begin, end, sink);
}

void Framer::OnGoLine(std::string_view line, bool overflow, uint64_t begin, uint64_t end,
                      RecordSink* sink) {
  if (trace_ == TraceState::kTrace) {
    if (IsBlank(line) && Hold(line, overflow, false, begin, end)) return;
    if (IsGoTraceLine(line)) {
      AppendHeld();
      AddToRecord(line, overflow, begin, end);
      return;
    }
    if (IsGoExitStatus(line)) {
      AppendHeld();
      AddToRecord(line, overflow, begin, end);
      EmitRecord(sink);
      trace_ = TraceState::kNone;
      return;
    }
    EndTrace(sink);
  }
  if (IsGoTraceStart(line)) {
    AddToRecord(line, overflow, begin, end);
    trace_ = TraceState::kTrace;
    return;
  }
  Emit(line, overflow || line.size() > options_.max_record_size, begin, end, sink);
}

bool Framer::Hold(std::string_view line, bool overflow, bool marker, uint64_t begin, uint64_t end) {
  if (overflow || held_.size() >= kMaxHeld || line.size() > kMaxHeldSize) return false;
  held_text_.append(line);
  held_.push_back(HeldLine{line.size(), marker, begin, end});
  return true;
}

void Framer::AppendHeld() {
  size_t at = 0;
  for (const HeldLine& h : held_) {
    AddToRecord(std::string_view(held_text_).substr(at, h.size), false, h.begin, h.end);
    at += h.size;
  }
  held_.clear();
  held_text_.clear();
}

void Framer::EndTrace(RecordSink* sink) {
  EmitRecord(sink);
  size_t at = 0;
  for (const HeldLine& h : held_) {
    std::string_view text = std::string_view(held_text_).substr(at, h.size);
    Emit(text, text.size() > options_.max_record_size, h.begin, h.end, sink);
    at += h.size;
  }
  held_.clear();
  held_text_.clear();
  trace_ = TraceState::kNone;
}

void Framer::OnContainerLine(std::string_view line, bool overflow, uint64_t begin, uint64_t end,
                             RecordSink* sink) {
  int stream = -1;
  bool partial = false;
  std::string_view content;
  CriLine cri;
  if (docker_ != nullptr) {
    // A line longer than max_record_size is cut, no longer JSON: it passes through, cut.
    if (!overflow && line.size() <= options_.max_record_size && docker_->Parse(line)) {
      stream = docker_->stream();
      content = docker_->log();
      partial = content.empty() || content.back() != '\n';
      if (!partial) content.remove_suffix(1);
    }
  } else if (ParseCriLine(line, &cri)) {
    stream = cri.stream;
    content = cri.content;
    partial = cri.partial;
  }
  if (stream < 0) {
    Emit(line, overflow || line.size() > options_.max_record_size, begin, SafeEnd(end, -1), sink);
    return;
  }
  Part& p = parts_[stream];
  if (!p.active) {
    p.active = true;
    p.overflow = false;
    p.begin = begin;
    p.log.clear();
    // The first part's time and other members are the record's.
    if (docker_ != nullptr) {
      p.head.assign("{\"log\":");
      p.tail.clear();
      std::string_view others = docker_->others();
      if (!others.empty()) p.tail.append(",").append(others);
      p.tail.append("}");
    } else {
      p.head.assign("{\"time\":");
      AppendJsonText(cri.time, &p.head, &json_scratch_);
      p.head.append(",\"stream\":\"").append(ContainerStreamName(stream)).append("\",\"log\":");
      p.tail.assign("}");
    }
  }
  AppendBounded(&p.log, content, &p.overflow);
  p.overflow |= overflow;  // cri: the line was cut, so is its content
  p.end = end;
  if (!partial) EmitPart(stream, sink);
}

uint64_t Framer::SafeEnd(uint64_t end, int except) const {
  for (int i = 0; i < 2; ++i) {
    if (i != except && parts_[i].active && parts_[i].begin < end) end = parts_[i].begin;
  }
  return end;
}

void Framer::EmitPart(int stream, RecordSink* sink) {
  Part& p = parts_[stream];
  const uint64_t end = SafeEnd(p.end, stream);
  if (BuildJsonRecord(p.head, p.log, p.overflow, p.tail, options_.max_record_size,
                      options_.truncated_record_terminator, &json_, &json_scratch_,
                      &json_scratch2_)) {
    ++truncated_;
  }
  p.active = false;
  committed_ = end;
  sink->OnRecord(json_, p.begin, end);
}

void Framer::FlushPreset(RecordSink* sink) {
  EndTrace(sink);
  // The earlier first: the later one's end is then its own.
  if (parts_[0].active && parts_[1].active && parts_[1].begin < parts_[0].begin) EmitPart(1, sink);
  for (int i = 0; i < 2; ++i) {
    if (parts_[i].active) EmitPart(i, sink);
  }
}

void Framer::ResetPreset() {
  trace_ = TraceState::kNone;
  held_.clear();
  held_text_.clear();
  for (Part& p : parts_) p.active = false;
}

}  // namespace sluice::agent
