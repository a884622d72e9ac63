// Fuzz target: the broker's segment recovery over arbitrary bytes. The input is written as a
// segment log file and opened with a full scan (torn tail cut off, corrupt regions dropped);
// afterwards every byte left after the header must decode as a whole, valid frame with
// strictly increasing offsets, and their number must be what the segment reports.
// DecodeFrame is also run over the raw input at every position.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "broker/format.h"
#include "broker/segment.h"

namespace {

const std::filesystem::path& Dir() {
  static const std::filesystem::path dir = [] {
    char tmpl[] = "/tmp/sluice-fuzz-segment-XXXXXX";
    const char* made = mkdtemp(tmpl);
    if (made == nullptr) std::abort();
    std::filesystem::path p(made);
    std::atexit([] { std::filesystem::remove_all(Dir()); });
    return p;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace broker = sluice::broker;
  const char* bytes = reinterpret_cast<const char*>(data);
  for (size_t pos = 0; pos < size; ++pos) {
    broker::Frame f;
    if (broker::DecodeFrame(bytes + pos, size - pos, &f) == broker::FrameCheck::kOk) {
      if (f.size == 0 || f.size > size - pos) std::abort();
    }
  }

  const std::filesystem::path& dir = Dir();
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::filesystem::remove(entry.path(), ec);
  }
  std::filesystem::path log = dir / broker::Segment::LogName(0);
  {
    std::ofstream out(log, std::ios::binary);
    out.write(bytes, static_cast<std::streamsize>(size));
  }
  broker::RecoveryReport report;
  auto seg = broker::Segment::Open(dir, 0, /*scan=*/true, &report);
  if (!seg.ok()) return 0;
  std::ifstream in(log, std::ios::binary);
  std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (kept.size() != (*seg)->size()) std::abort();
  size_t pos = broker::format::kSegmentHeaderSize;
  if (kept.size() < pos) return 0;
  uint64_t frames = 0;
  uint64_t next = 0;
  while (pos < kept.size()) {
    broker::Frame f;
    if (broker::DecodeFrame(kept.data() + pos, kept.size() - pos, &f) != broker::FrameCheck::kOk) {
      std::abort();  // recovery left bytes that are not a whole valid frame
    }
    if (frames > 0 && f.offset < next) std::abort();
    next = f.offset + 1;
    pos += f.size;
    ++frames;
  }
  if (frames != (*seg)->records()) std::abort();
  return 0;
}
