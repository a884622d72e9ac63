#include "plugins/common/body_codec.h"

#include <zlib.h>

namespace sluice::sink {

Gzipper::~Gzipper() {
  if (stream_ != nullptr) {
    auto* zs = static_cast<z_stream*>(stream_);
    deflateEnd(zs);
    delete zs;
  }
}

Status Gzipper::Compress(const Host& host, std::string_view in, std::string* out) {
  if (!host.CanCompress()) return CompressWithZlib(in, out);
  if (!host.Compress(SLUICE_CODEC_GZIP, in, out)) {
    return Internal("the host's gzip writer failed on a " + std::to_string(in.size()) +
                    "-byte body");
  }
  return Status::Ok();
}

Status Gzipper::CompressWithZlib(std::string_view in, std::string* out) {
  auto* zs = static_cast<z_stream*>(stream_);
  if (zs == nullptr) {
    zs = new z_stream{};
    stream_ = zs;
    // windowBits 15 + 16: a gzip header and trailer instead of zlib's; level 1, the fastest.
    if (deflateInit2(zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      delete zs;
      stream_ = nullptr;
      return Internal("deflateInit2 failed");
    }
  } else if (deflateReset(zs) != Z_OK) {
    return Internal("deflateReset failed");
  }
  out->resize(deflateBound(zs, static_cast<uLong>(in.size())) + 32);
  zs->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs->avail_in = static_cast<uInt>(in.size());
  zs->next_out = reinterpret_cast<Bytef*>(out->data());
  zs->avail_out = static_cast<uInt>(out->size());
  int rc = deflate(zs, Z_FINISH);
  if (rc != Z_STREAM_END) return Internal("deflate did not finish: " + std::to_string(rc));
  out->resize(zs->total_out);
  return Status::Ok();
}

}  // namespace sluice::sink
