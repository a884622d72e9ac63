// Object codecs: turn a rendered batch (framed records) into the bytes of one object, in one of
// Firehose's compression formats: none, gzip, zip (one entry), snappy (the framing format of
// google/snappy framing_format.txt) and hadoop_snappy (Hadoop's block stream).
//
// THREADING: an ObjectEncoder is used by one worker at a time; it keeps its compressor state
// and scratch memory between objects so that encoding allocates nothing once warm.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "buffer/delivery_options.h"
#include "core/status.h"

namespace sluice::buffer {

// The three gzip writers; all produce standard RFC 1952 members at their fastest level.
enum class GzipBackend { kZlib, kLibdeflate, kIsal };
// The one delivery streams use: the fastest measured (see docs/performance.md, Delivery).
inline constexpr GzipBackend kDefaultGzipBackend = GzipBackend::kIsal;

std::string_view CompressionName(Compression c);       // "none", "gzip", ...
std::string_view CompressionExtension(Compression c);  // "", ".gz", ".zip", ".snappy"
// The value for sluice_batch.content_encoding: "" for none.
std::string_view ContentEncoding(Compression c);
Result<Compression> ParseCompression(std::string_view text);

class ObjectEncoder final {
 public:
  explicit ObjectEncoder(Compression compression, GzipBackend gzip = kDefaultGzipBackend);
  ~ObjectEncoder();
  ObjectEncoder(const ObjectEncoder&) = delete;
  ObjectEncoder& operator=(const ObjectEncoder&) = delete;

  Compression compression() const { return compression_; }
  // Replaces *out with the encoded object. `entry_name` names the zip entry; `mtime_ms` is the
  // zip entry's and gzip header's time (ms since epoch).
  Status Encode(std::string_view in, std::string* out, std::string_view entry_name = "data",
                int64_t mtime_ms = 0);

  // One gzip member of `in` into out[0, cap), with this encoder's gzip writer, whatever its
  // compression(); returns the bytes written. `cap` must be at least GzipBound(in.size()).
  // Serves host_compress (plugin_host.cc) for request bodies.
  Result<size_t> GzipInto(std::string_view in, char* out, size_t cap);
  static size_t GzipBound(size_t in_size) { return in_size + in_size / 16 + 64 * 1024; }

 private:
  Status Gzip(std::string_view in, std::string* out);
  Status Zip(std::string_view in, std::string* out, std::string_view entry_name, int64_t mtime_ms);
  Status Snappy(std::string_view in, std::string* out);
  Status HadoopSnappy(std::string_view in, std::string* out);
  // ISA-L igzip level 1 into out[0, cap): raw deflate (IGZIP_DEFLATE) or gzip (IGZIP_GZIP).
  Result<size_t> IsalDeflate(std::string_view in, char* out, size_t cap, uint16_t gzip_flag);

  Compression compression_;
  GzipBackend gzip_;
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace sluice::buffer
