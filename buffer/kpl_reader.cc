#include "buffer/kpl_reader.h"

#include <openssl/evp.h>

#include <cstring>

namespace sluice::buffer {
namespace {

constexpr size_t kMd5Size = 16;

// A protobuf wire reader over a view: each call consumes one item or fails.
struct Wire {
  std::string_view in;

  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in.empty()) return false;
      auto b = static_cast<uint8_t>(in.front());
      in.remove_prefix(1);
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }
  // One field: its number and wire type, and its bytes (wire type 2) or value (wire type 0).
  bool Field(uint32_t* field, uint32_t* wire, std::string_view* bytes, uint64_t* value) {
    uint64_t tag;
    if (!Varint(&tag)) return false;
    *field = static_cast<uint32_t>(tag >> 3);
    *wire = static_cast<uint32_t>(tag & 7);
    if (*field == 0) return false;
    switch (*wire) {
      case 0:
        return Varint(value);
      case 1:
      case 5: {
        size_t n = *wire == 1 ? 8 : 4;
        if (in.size() < n) return false;
        in.remove_prefix(n);
        return true;
      }
      case 2: {
        uint64_t n;
        if (!Varint(&n) || n > in.size()) return false;
        *bytes = in.substr(0, n);
        in.remove_prefix(n);
        return true;
      }
      default:
        return false;  // groups (3, 4) are not in this format
    }
  }
};

bool Md5Matches(std::string_view message, const char* expected) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_md5(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx, message.data(), message.size()) == 1 &&
            EVP_DigestFinal_ex(ctx, digest, &n) == 1 && n == kMd5Size;
  EVP_MD_CTX_free(ctx);
  return ok && std::memcmp(digest, expected, kMd5Size) == 0;
}

}  // namespace

KplReader::Kind KplReader::Read(std::string_view record) {
  records_.clear();
  if (record.size() < sizeof kKplMagic || std::memcmp(record.data(), kKplMagic, 4) != 0) {
    return Kind::kPlain;
  }
  if (record.size() < sizeof kKplMagic + kMd5Size) return Kind::kBad;
  std::string_view message = record.substr(4, record.size() - 4 - kMd5Size);
  if (!Md5Matches(message, record.data() + record.size() - kMd5Size) || !Parse(message)) {
    records_.clear();
    return Kind::kBad;
  }
  return Kind::kAggregated;
}

bool KplReader::Parse(std::string_view message) {
  keys_.clear();
  key_index_.clear();
  Wire w{message};
  while (!w.in.empty()) {
    uint32_t field, wire;
    std::string_view bytes;
    uint64_t value = 0;
    if (!w.Field(&field, &wire, &bytes, &value)) return false;
    if (field == 1 && wire == 2) keys_.push_back(bytes);
    if (field != 3) continue;
    if (wire != 2) return false;
    // The key table may follow the records on the wire: indexes are checked at the end.
    uint64_t key = UINT64_MAX;
    bool has_data = false;
    std::string_view data;
    Wire inner{bytes};
    while (!inner.in.empty()) {
      uint32_t f, iw;
      std::string_view b;
      uint64_t v = 0;
      if (!inner.Field(&f, &iw, &b, &v)) return false;
      if (f == 1 && iw == 0) key = v;
      if (f == 3 && iw == 2) {
        data = b;
        has_data = true;
      }
    }
    if (key == UINT64_MAX || !has_data) return false;  // both are required
    key_index_.push_back(key);
    records_.push_back({{}, data});
  }
  for (size_t i = 0; i < records_.size(); ++i) {
    if (key_index_[i] >= keys_.size()) return false;
    records_[i].partition_key = keys_[key_index_[i]];
  }
  return true;
}

}  // namespace sluice::buffer
