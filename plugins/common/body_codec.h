// Request body helpers for the HTTP sinks: gzip (RFC 1952) compression of a whole request body.
// The host's writer (host_compress, ABI 1.2: ISA-L igzip, the writer of delivered objects) is
// used when the host lends it; with an older host, zlib at level 1 on a z_stream reused across
// batches. Both write one standard gzip member.
//
// THREADING: a Gzipper belongs to one sink instance; not thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "plugins/sdk/sluice_sink.hpp"

namespace sluice::sink {

class Gzipper final {
 public:
  Gzipper() = default;
  ~Gzipper();
  Gzipper(const Gzipper&) = delete;
  Gzipper& operator=(const Gzipper&) = delete;

  // Replaces *out with the gzip member of `in`, written by `host` when it can.
  Status Compress(const Host& host, std::string_view in, std::string* out);

 private:
  Status CompressWithZlib(std::string_view in, std::string* out);

  void* stream_ = nullptr;  // z_stream*, made on first use
};

}  // namespace sluice::sink
