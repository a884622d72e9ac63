#include "buffer/codec.h"

#include <isa-l/igzip_lib.h>
#include <libdeflate.h>
#include <snappy.h>
#include <zlib.h>

#include <cstring>
#include <ctime>
#include <vector>

#include "core/crc32c.h"

namespace sluice::buffer {
namespace {

void PutLe16(std::string* out, uint16_t v) {
  char b[2] = {static_cast<char>(v), static_cast<char>(v >> 8)};
  out->append(b, 2);
}
void PutLe32(std::string* out, uint32_t v) {
  char b[4] = {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
               static_cast<char>(v >> 24)};
  out->append(b, 4);
}
void PutBe32At(char* p, uint32_t v) {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
}

// snappy framing_format.txt: the CRC-32C of the uncompressed data, masked.
uint32_t MaskedCrc(std::string_view data) {
  return crc32c::Mask(crc32c::Value(data.data(), data.size()));
}

constexpr size_t kSnappyChunk = 65536;             // framing format's maximum per chunk
constexpr size_t kHadoopSnappyBlock = 256 * 1024;  // Hadoop's default io buffer

}  // namespace

struct ObjectEncoder::State {
  libdeflate_compressor* deflate = nullptr;
  std::vector<uint8_t> isal_level_buf;
  z_stream zs{};
  bool zs_init = false;
  // Where compressors write, sized to their bound: grown without zero-filling and kept across
  // objects. Writing into *out directly would zero-fill the bound (several MiB) on every object,
  // since std::string cannot grow uninitialised; copying out the compressed bytes costs a tenth.
  std::unique_ptr<char[]> scratch;
  size_t scratch_cap = 0;
  char* Scratch(size_t n) {
    if (n > scratch_cap) {
      scratch = std::make_unique_for_overwrite<char[]>(n);
      scratch_cap = n;
    }
    return scratch.get();
  }
  ~State() {
    if (deflate) libdeflate_free_compressor(deflate);
    if (zs_init) deflateEnd(&zs);
  }
};

std::string_view CompressionName(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "none";
    case Compression::kGzip:
      return "gzip";
    case Compression::kZip:
      return "zip";
    case Compression::kSnappy:
      return "snappy";
    case Compression::kHadoopSnappy:
      return "hadoop_snappy";
  }
  return "?";
}

std::string_view CompressionExtension(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "";
    case Compression::kGzip:
      return ".gz";
    case Compression::kZip:
      return ".zip";
    case Compression::kSnappy:
    case Compression::kHadoopSnappy:
      return ".snappy";
  }
  return "";
}

std::string_view ContentEncoding(Compression c) {
  return c == Compression::kNone ? std::string_view() : CompressionName(c);
}

Result<Compression> ParseCompression(std::string_view text) {
  for (Compression c : {Compression::kNone, Compression::kGzip, Compression::kZip,
                        Compression::kSnappy, Compression::kHadoopSnappy}) {
    if (CompressionName(c) == text) return c;
  }
  return InvalidArgument("unknown compression \"" + std::string(text) +
                         "\": expected none, gzip, zip, snappy or hadoop_snappy");
}

ObjectEncoder::ObjectEncoder(Compression compression, GzipBackend gzip)
    : compression_(compression), gzip_(gzip), state_(std::make_unique<State>()) {}

ObjectEncoder::~ObjectEncoder() = default;

Status ObjectEncoder::Encode(std::string_view in, std::string* out, std::string_view entry_name,
                             int64_t mtime_ms) {
  out->clear();
  switch (compression_) {
    case Compression::kNone:
      out->assign(in);
      return Status::Ok();
    case Compression::kGzip:
      return Gzip(in, out);
    case Compression::kZip:
      return Zip(in, out, entry_name, mtime_ms);
    case Compression::kSnappy:
      return Snappy(in, out);
    case Compression::kHadoopSnappy:
      return HadoopSnappy(in, out);
  }
  return Internal("unknown compression");
}

Result<size_t> ObjectEncoder::IsalDeflate(std::string_view in, char* out, size_t cap,
                                          uint16_t gzip_flag) {
  if (in.size() > UINT32_MAX / 2 || cap > UINT32_MAX) {
    return InvalidArgument("object too large for igzip");
  }
  if (state_->isal_level_buf.empty()) state_->isal_level_buf.resize(ISAL_DEF_LVL1_DEFAULT);
  isal_zstream s{};
  isal_deflate_stateless_init(&s);
  s.level = 1;
  s.level_buf = state_->isal_level_buf.data();
  s.level_buf_size = static_cast<uint32_t>(state_->isal_level_buf.size());
  s.gzip_flag = gzip_flag;
  s.end_of_stream = 1;
  s.flush = NO_FLUSH;
  s.next_in = reinterpret_cast<uint8_t*>(const_cast<char*>(in.data()));
  s.avail_in = static_cast<uint32_t>(in.size());
  s.next_out = reinterpret_cast<uint8_t*>(out);
  s.avail_out = static_cast<uint32_t>(cap);
  int rc = isal_deflate_stateless(&s);
  if (rc != COMP_OK) return Internal("isa-l igzip: error " + std::to_string(rc));
  return static_cast<size_t>(s.total_out);
}

Result<size_t> ObjectEncoder::GzipInto(std::string_view in, char* out, size_t cap) {
  if (cap < GzipBound(in.size())) return InvalidArgument("gzip output buffer below its bound");
  if (gzip_ == GzipBackend::kIsal) return IsalDeflate(in, out, cap, IGZIP_GZIP);
  std::string encoded;
  RETURN_IF_ERROR(Gzip(in, &encoded));
  if (encoded.size() > cap) return Internal("gzip output does not fit its bound");
  std::memcpy(out, encoded.data(), encoded.size());
  return encoded.size();
}

Status ObjectEncoder::Gzip(std::string_view in, std::string* out) {
  switch (gzip_) {
    case GzipBackend::kLibdeflate: {
      if (!state_->deflate) state_->deflate = libdeflate_alloc_compressor(1);
      if (!state_->deflate) return ResourceExhausted("libdeflate: cannot allocate a compressor");
      size_t cap = libdeflate_gzip_compress_bound(state_->deflate, in.size());
      char* buf = state_->Scratch(cap);
      size_t n = libdeflate_gzip_compress(state_->deflate, in.data(), in.size(), buf, cap);
      if (n == 0) return Internal("libdeflate: gzip output does not fit its bound");
      out->assign(buf, n);
      return Status::Ok();
    }
    case GzipBackend::kIsal: {
      size_t cap = GzipBound(in.size());
      char* buf = state_->Scratch(cap);
      ASSIGN_OR_RETURN(size_t n, IsalDeflate(in, buf, cap, IGZIP_GZIP));
      out->assign(buf, n);
      return Status::Ok();
    }
    case GzipBackend::kZlib: {
      z_stream& zs = state_->zs;
      if (!state_->zs_init) {
        if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
          return Internal("zlib: deflateInit2 failed");
        }
        state_->zs_init = true;
      } else {
        deflateReset(&zs);
      }
      size_t cap = deflateBound(&zs, in.size());
      char* buf = state_->Scratch(cap);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
      zs.avail_in = static_cast<uInt>(in.size());
      zs.next_out = reinterpret_cast<Bytef*>(buf);
      zs.avail_out = static_cast<uInt>(cap);
      if (deflate(&zs, Z_FINISH) != Z_STREAM_END) return Internal("zlib: deflate did not finish");
      out->assign(buf, zs.total_out);
      return Status::Ok();
    }
  }
  return Internal("unknown gzip backend");
}

Status ObjectEncoder::Zip(std::string_view in, std::string* out, std::string_view entry_name,
                          int64_t mtime_ms) {
  if (in.size() >= 0xffffffffull || entry_name.size() > 0xffff) {
    return InvalidArgument("zip: object over 4 GiB (zip64 is not written)");
  }
  uint32_t crc = libdeflate_crc32(0, in.data(), in.size());
  time_t secs = static_cast<time_t>(mtime_ms / 1000);
  struct tm tm_utc;
  gmtime_r(&secs, &tm_utc);
  if (tm_utc.tm_year < 80) tm_utc = tm{0, 0, 0, 1, 0, 80, 0, 0, 0, 0, nullptr};
  uint16_t dos_time =
      static_cast<uint16_t>((tm_utc.tm_hour << 11) | (tm_utc.tm_min << 5) | (tm_utc.tm_sec / 2));
  uint16_t dos_date = static_cast<uint16_t>(((tm_utc.tm_year - 80) << 9) |
                                            ((tm_utc.tm_mon + 1) << 5) | tm_utc.tm_mday);
  // Local file header, then the raw deflate data written straight after it.
  PutLe32(out, 0x04034b50);
  PutLe16(out, 20);  // version needed
  PutLe16(out, 0);   // flags
  PutLe16(out, 8);   // deflate
  PutLe16(out, dos_time);
  PutLe16(out, dos_date);
  PutLe32(out, crc);
  size_t csize_pos = out->size();
  PutLe32(out, 0);  // compressed size, patched below
  PutLe32(out, static_cast<uint32_t>(in.size()));
  PutLe16(out, static_cast<uint16_t>(entry_name.size()));
  PutLe16(out, 0);
  out->append(entry_name);
  size_t bound = in.size() + in.size() / 16 + 64 * 1024;
  char* buf = state_->Scratch(bound);
  ASSIGN_OR_RETURN(size_t n, IsalDeflate(in, buf, bound, IGZIP_DEFLATE));
  if (n >= 0xffffffffull) return InvalidArgument("zip: compressed entry over 4 GiB");
  out->append(buf, n);
  std::string csize;
  PutLe32(&csize, static_cast<uint32_t>(n));
  std::memcpy(out->data() + csize_pos, csize.data(), 4);
  // Central directory: one entry.
  size_t cd_pos = out->size();
  PutLe32(out, 0x02014b50);
  PutLe16(out, 0x0314);  // made by: unix, 2.0
  PutLe16(out, 20);
  PutLe16(out, 0);
  PutLe16(out, 8);
  PutLe16(out, dos_time);
  PutLe16(out, dos_date);
  PutLe32(out, crc);
  PutLe32(out, static_cast<uint32_t>(n));
  PutLe32(out, static_cast<uint32_t>(in.size()));
  PutLe16(out, static_cast<uint16_t>(entry_name.size()));
  PutLe16(out, 0);               // extra
  PutLe16(out, 0);               // comment
  PutLe16(out, 0);               // disk
  PutLe16(out, 0);               // internal attributes
  PutLe32(out, 0100644u << 16);  // external attributes: a regular file, rw-r--r--
  PutLe32(out, 0);               // local header offset
  out->append(entry_name);
  size_t cd_size = out->size() - cd_pos;
  PutLe32(out, 0x06054b50);
  PutLe16(out, 0);
  PutLe16(out, 0);
  PutLe16(out, 1);
  PutLe16(out, 1);
  PutLe32(out, static_cast<uint32_t>(cd_size));
  PutLe32(out, static_cast<uint32_t>(cd_pos));
  PutLe16(out, 0);
  return Status::Ok();
}

Status ObjectEncoder::Snappy(std::string_view in, std::string* out) {
  static constexpr char kStreamId[] = {'\xff', '\x06', '\x00', '\x00', 's',
                                       'N',    'a',    'P',    'p',    'Y'};
  size_t chunks = in.size() / kSnappyChunk + 1;
  char* base =
      state_->Scratch(sizeof(kStreamId) + chunks * (8 + snappy::MaxCompressedLength(kSnappyChunk)));
  std::memcpy(base, kStreamId, sizeof(kStreamId));
  size_t pos = sizeof(kStreamId);
  for (size_t off = 0; off < in.size(); off += kSnappyChunk) {
    std::string_view chunk = in.substr(off, kSnappyChunk);
    uint32_t crc = MaskedCrc(chunk);
    size_t clen = 0;
    snappy::RawCompress(chunk.data(), chunk.size(), base + pos + 8, &clen);
    uint8_t type = 0x00;
    size_t body = clen;
    if (clen >= chunk.size()) {  // incompressible: store it
      type = 0x01;
      body = chunk.size();
      std::memcpy(base + pos + 8, chunk.data(), chunk.size());
    }
    uint32_t len = static_cast<uint32_t>(body + 4);
    base[pos] = static_cast<char>(type);
    base[pos + 1] = static_cast<char>(len);
    base[pos + 2] = static_cast<char>(len >> 8);
    base[pos + 3] = static_cast<char>(len >> 16);
    for (int i = 0; i < 4; ++i) base[pos + 4 + i] = static_cast<char>(crc >> (8 * i));
    pos += 8 + body;
  }
  out->assign(base, pos);
  return Status::Ok();
}

Status ObjectEncoder::HadoopSnappy(std::string_view in, std::string* out) {
  size_t frames = in.size() / kHadoopSnappyBlock + 1;
  char* base = state_->Scratch(frames * (8 + snappy::MaxCompressedLength(kHadoopSnappyBlock)));
  size_t pos = 0;
  for (size_t off = 0; off < in.size(); off += kHadoopSnappyBlock) {
    std::string_view block = in.substr(off, kHadoopSnappyBlock);
    size_t clen = 0;
    snappy::RawCompress(block.data(), block.size(), base + pos + 8, &clen);
    PutBe32At(base + pos, static_cast<uint32_t>(block.size()));
    PutBe32At(base + pos + 4, static_cast<uint32_t>(clen));
    pos += 8 + clen;
  }
  out->assign(base, pos);
  return Status::Ok();
}

}  // namespace sluice::buffer
