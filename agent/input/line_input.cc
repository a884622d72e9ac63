#include "agent/input/line_input.h"

namespace sluice::agent {

Result<std::unique_ptr<LineInput>> LineInput::Create(const FlowOptions& opts,
                                                     InputPublisher* publisher,
                                                     std::string origin) {
  std::unique_ptr<LineInput> in(new LineInput(publisher, std::move(origin)));
  const std::string where = "sources[" + opts.name + "]";
  if (!opts.multiline_start_pattern.empty()) {
    auto re = Regex::Compile(opts.multiline_start_pattern);
    if (!re.ok()) return re.status().Annotate(where + ": multiline.start_pattern");
    in->start_pattern_ = std::move(*re);
  }
  in->framer_options_.max_record_size = opts.max_record_size;
  in->framer_options_.truncated_record_terminator = opts.truncated_record_terminator;
  in->framer_options_.start_pattern = in->start_pattern_.get();
  RETURN_IF_ERROR(Framer::Validate(in->framer_options_).Annotate(where));
  in->framer_ = std::make_unique<Framer>(in->framer_options_, 1);  // not 0: no header skipping
  in->flush_timeout_ms_ = opts.flush_timeout.count();
  return in;
}

void LineInput::Feed(std::string_view data) {
  publisher_->mutable_stats().bytes_read += data.size();
  framer_->Feed(data, this);
  last_feed_ms_ = -1;  // set by FlushIfQuiet's clock on its next look
}

void LineInput::Flush() { framer_->Flush(this); }

void LineInput::FlushIfQuiet(int64_t now_ms) {
  if (!framer_->has_pending()) return;
  if (last_feed_ms_ < 0) last_feed_ms_ = now_ms;
  if (now_ms - last_feed_ms_ >= flush_timeout_ms_) framer_->Flush(this);
}

void LineInput::OnRecord(std::string_view data, uint64_t /*begin*/, uint64_t /*end*/) {
  uint64_t truncated = framer_->truncated_records();
  if (truncated != truncated_seen_) {
    publisher_->mutable_stats().records_truncated += truncated - truncated_seen_;
    truncated_seen_ = truncated;
  }
  publisher_->Add(data, origin_, ++records_);
}

}  // namespace sluice::agent
