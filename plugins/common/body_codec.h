// Request body helpers for the HTTP sinks: gzip (RFC 1952) compression of a whole request body
// with a z_stream reused across batches.
//
// THREADING: a Gzipper belongs to one sink instance; not thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice::sink {

class Gzipper final {
 public:
  Gzipper() = default;
  ~Gzipper();
  Gzipper(const Gzipper&) = delete;
  Gzipper& operator=(const Gzipper&) = delete;

  // Replaces *out with the gzip member of `in`. `level` is zlib's 1..9 (6 is the default).
  Status Compress(std::string_view in, std::string* out, int level = 6);

 private:
  void* stream_ = nullptr;  // z_stream*, made on first use
  int level_ = -1;
};

}  // namespace sluice::sink
