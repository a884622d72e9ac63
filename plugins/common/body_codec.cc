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

Status Gzipper::Compress(std::string_view in, std::string* out, int level) {
  auto* zs = static_cast<z_stream*>(stream_);
  if (zs == nullptr || level != level_) {
    if (zs != nullptr) {
      deflateEnd(zs);
    } else {
      zs = new z_stream{};
      stream_ = zs;
    }
    *zs = z_stream{};
    // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
    if (deflateInit2(zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      delete zs;
      stream_ = nullptr;
      return Internal("deflateInit2 failed");
    }
    level_ = level;
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
