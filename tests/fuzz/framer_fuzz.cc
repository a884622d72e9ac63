// Fuzz target: the agent's framer (newline framing, multiline grouping by a start pattern,
// header skipping, truncation of long records), fed the input in chunks whose sizes come from
// the input. Checks: records come out in file order with contiguous, non-overlapping offset
// ranges inside what was fed; a record is at most max_record_size bytes plus the terminator;
// committed_offset never passes next_offset; after Flush nothing is pending and, without
// multiline or truncation, the records are exactly the input's lines.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "agent/tail/framer.h"
#include "agent/tail/regex.h"

namespace {

using sluice::agent::Framer;
using sluice::agent::FramerOptions;

class Collect final : public sluice::agent::RecordSink {
 public:
  explicit Collect(const FramerOptions& o) : options_(o) {}
  void OnRecord(std::string_view data, uint64_t begin, uint64_t end) override {
    if (begin < last_end_ || end < begin) std::abort();
    if (data.size() > options_.max_record_size + options_.truncated_record_terminator.size()) {
      std::abort();
    }
    last_end_ = end;
    joined_.append(data);
    joined_.push_back('\n');
    ++records_;
  }
  uint64_t last_end_ = 0;
  std::string joined_;
  size_t records_ = 0;

 private:
  const FramerOptions& options_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::unique_ptr<sluice::agent::Regex> start = [] {
    auto re = sluice::agent::Regex::Compile(R"(^\d{4}-\d\d-\d\d )");
    if (!re.ok()) std::abort();
    return std::move(*re);
  }();
  if (size < 3) return 0;
  FramerOptions options;
  options.max_record_size = 1 + data[0] % 64;
  options.skip_header_lines = data[1] % 3;
  bool multiline = data[1] & 0x80;
  options.start_pattern = multiline ? start.get() : nullptr;
  options.truncated_record_terminator = (data[1] & 0x40) ? "" : "\n";
  if (!Framer::Validate(options).ok()) return 0;
  uint8_t chunk_seed = data[2];
  std::string_view input(reinterpret_cast<const char*>(data + 3), size - 3);

  Framer framer(options, 0);
  Collect sink(options);
  size_t pos = 0;
  while (pos < input.size()) {
    size_t n = 1 + (chunk_seed = static_cast<uint8_t>(chunk_seed * 37 + 11)) % 23;
    n = std::min(n, input.size() - pos);
    framer.Feed(input.substr(pos, n), &sink);
    pos += n;
    if (sink.last_end_ > framer.next_offset()) std::abort();
    if (framer.committed_offset() > framer.next_offset()) std::abort();
  }
  framer.Flush(&sink);
  if (framer.has_pending() || framer.committed_offset() != input.size()) std::abort();
  if (!multiline && options.skip_header_lines == 0 && framer.truncated_records() == 0) {
    std::string expect(input);
    if (!expect.empty() && expect.back() != '\n') expect.push_back('\n');
    if (sink.joined_ != expect) std::abort();
  }
  return 0;
}
