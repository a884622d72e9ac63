// LineInput: newline framing of a byte stream (stdin, a command's stdout) into records for an
// InputPublisher, through the file tailer's Framer: the same max_record_size truncation and
// multiline.start_pattern grouping as a file source. Memory is bounded by about
// max_record_size held back.
//
// THREADING: loop thread only.
// OWNERSHIP: `publisher` is not owned and must outlive the LineInput.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "agent/input/input_publisher.h"
#include "agent/tail/flow_options.h"
#include "agent/tail/framer.h"
#include "agent/tail/regex.h"
#include "core/status.h"

namespace sluice::agent {

class LineInput final : public RecordSink {
 public:
  // `origin`: what records come from ("stdin", the command's name).
  static Result<std::unique_ptr<LineInput>> Create(const FlowOptions& opts,
                                                   InputPublisher* publisher, std::string origin);
  // Frames the next bytes; complete records go to the publisher.
  void Feed(std::string_view data);
  // Emits a held-back unterminated line or multiline record (end of input).
  void Flush();
  // Emits a pending record after flush_timeout without input (multiline).
  void FlushIfQuiet(int64_t now_ms);
  void OnRecord(std::string_view data, uint64_t begin, uint64_t end) override;

 private:
  LineInput(InputPublisher* publisher, std::string origin)
      : publisher_(publisher), origin_(std::move(origin)) {}
  InputPublisher* publisher_;
  std::string origin_;
  std::unique_ptr<Regex> start_pattern_;
  FramerOptions framer_options_;
  std::unique_ptr<Framer> framer_;
  int64_t flush_timeout_ms_ = 0;
  int64_t last_feed_ms_ = 0;
  uint64_t records_ = 0;
  uint64_t truncated_seen_ = 0;
};

}  // namespace sluice::agent
