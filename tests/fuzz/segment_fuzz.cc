// Fuzz target: the broker's segment recovery over arbitrary bytes. The input is written as a
// segment log file and opened with a full scan (torn tail cut off, corrupt regions dropped);
// afterwards every byte left after the header must decode as a whole, valid frame with
// strictly increasing offsets, and their number must be what the segment reports.
// DecodeFrame is also run over the raw input at every position.
// The same input is then taken for the chunks of a sealed segment (after a real sealed header
// under a fixed key): recovery must leave only whole chunks with increasing offsets, counted as
// the segment reports; DecodeChunk runs at every position and DecryptSegment over the raw input
// (a header from outside) must fail cleanly or succeed, never crash.
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
#include "core/base64.h"
#include "core/keyring.h"

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

const sluice::Keyring& Ring() {
  static const sluice::Keyring ring = [] {
    auto k = sluice::Keyring::Parse("fz " + sluice::Base64Encode(std::string(32, 'k')) + "\n",
                                    "fuzz keyring");
    if (!k.ok()) std::abort();
    return std::move(*k);
  }();
  return ring;
}

// The header of a sealed segment of base 0 under the key "fz", made once.
const std::string& SealedHeader() {
  static const std::string header = [] {
    std::filesystem::path sub = Dir() / "template";
    std::filesystem::create_directories(sub);
    auto seg = sluice::broker::Segment::Create(sub, 0, Ring().Find("fz"));
    if (!seg.ok()) std::abort();
    std::ifstream in(sub / sluice::broker::Segment::LogName(0), std::ios::binary);
    std::string h((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::filesystem::remove_all(sub);
    return h;
  }();
  return header;
}

void CheckSealed(const char* bytes, size_t size) {
  namespace broker = sluice::broker;
  namespace fmt = sluice::broker::format;
  std::string copy(bytes, size);
  for (size_t pos = 0; pos < size; ++pos) {
    broker::Chunk c;
    if (broker::DecodeChunk(copy.data() + pos, size - pos, &c) == broker::FrameCheck::kOk) {
      if (c.size < fmt::kChunkHeaderSize || c.size > size - pos || c.records == 0) std::abort();
    }
  }
  uint64_t torn = 0;
  (void)broker::DecryptSegment(Ring(), std::string_view(bytes, size), &torn);

  const std::string& header = SealedHeader();
  const std::filesystem::path& dir = Dir();
  std::filesystem::path log = dir / broker::Segment::LogName(0);
  {
    std::ofstream out(log, std::ios::binary | std::ios::trunc);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(bytes, static_cast<std::streamsize>(size));
  }
  broker::RecoveryReport report;
  auto seg = broker::Segment::Open(dir, 0, /*scan=*/true, &report, &Ring());
  if (!seg.ok() || !(*seg)->sealed()) std::abort();  // the header is a good one
  std::ifstream in(log, std::ios::binary);
  std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (kept.size() != (*seg)->size() || kept.compare(0, header.size(), header) != 0) std::abort();
  size_t pos = header.size();
  uint64_t records = 0;
  uint64_t next = 0;
  while (pos < kept.size()) {
    broker::Chunk c;
    if (broker::DecodeChunk(kept.data() + pos, kept.size() - pos, &c) != broker::FrameCheck::kOk) {
      std::abort();  // recovery left bytes that are not a whole valid chunk
    }
    if (records > 0 && c.first < next) std::abort();
    next = c.last + 1;
    pos += c.size;
    records += c.records;
  }
  if (records != (*seg)->records()) std::abort();
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
  if (!seg.ok()) {
    CheckSealed(bytes, size);
    return 0;
  }
  std::ifstream in(log, std::ios::binary);
  std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (kept.size() != (*seg)->size()) std::abort();
  size_t pos = broker::format::kSegmentHeaderSize;
  if (kept.size() < pos) {
    CheckSealed(bytes, size);
    return 0;
  }
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
  CheckSealed(bytes, size);
  return 0;
}
