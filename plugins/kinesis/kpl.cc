#include "plugins/kinesis/kpl.h"

#include <openssl/evp.h>

#include <cstring>

namespace sluice::kinesis {
namespace {

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// A length-delimited field (wire type 2): tag, length, bytes.
void PutBytes(uint32_t field, std::string_view bytes, std::string* out) {
  PutVarint((field << 3) | 2, out);
  PutVarint(bytes.size(), out);
  out->append(bytes);
}

size_t BytesFieldSize(uint32_t field, size_t len) {
  return VarintSize((field << 3) | 2) + VarintSize(len) + len;
}

// The Record message of one user record.
size_t RecordSize(uint64_t key_index, size_t data_len) {
  return 1 + VarintSize(key_index) + BytesFieldSize(3, data_len);
}

void Md5(std::string_view a, std::string_view b, unsigned char digest[16]) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_md5(), nullptr);
  EVP_DigestUpdate(ctx, a.data(), a.size());
  EVP_DigestUpdate(ctx, b.data(), b.size());
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx, digest, &n);
  EVP_MD_CTX_free(ctx);
}

// Reads protobuf fields off a message.
struct Reader {
  std::string_view in;
  bool ok = true;
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in.empty()) return ok = false;
      auto b = static_cast<uint8_t>(in.front());
      in.remove_prefix(1);
      *v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return ok = false;
  }
  // Next field: its number and wire type; for wire type 2 its bytes, for 0 its value.
  bool Field(uint32_t* field, uint32_t* wire, std::string_view* bytes, uint64_t* value) {
    uint64_t tag;
    if (!Varint(&tag)) return false;
    *field = static_cast<uint32_t>(tag >> 3);
    *wire = static_cast<uint32_t>(tag & 7);
    if (*wire == 0) return Varint(value);
    if (*wire == 2) {
      uint64_t len;
      if (!Varint(&len) || len > in.size()) return ok = false;
      *bytes = in.substr(0, len);
      in.remove_prefix(len);
      return true;
    }
    if (*wire == 1 || *wire == 5) {  // fixed 64 / 32: skipped
      size_t n = *wire == 1 ? 8 : 4;
      if (in.size() < n) return ok = false;
      in.remove_prefix(n);
      return true;
    }
    return ok = false;
  }
};

}  // namespace

size_t KplAggregator::SizeWith(std::string_view key, std::string_view data) const {
  size_t more = 0;
  uint64_t index;
  auto it = index_.find(key);
  if (it != index_.end()) {
    index = it->second;
  } else {
    index = index_.size();
    more += BytesFieldSize(1, key.size());
  }
  more += BytesFieldSize(3, RecordSize(index, data.size()));
  return size() + more;
}

void KplAggregator::Add(std::string_view key, std::string_view data) {
  auto it = index_.find(key);
  if (it == index_.end()) {
    it = index_.emplace(std::string(key), index_.size()).first;
    size_t before = keys_.size();
    PutBytes(1, key, &keys_);
    keys_bytes_ += keys_.size() - before;
  }
  uint64_t index = it->second;
  PutVarint((3 << 3) | 2, &records_);
  PutVarint(RecordSize(index, data.size()), &records_);
  PutVarint((1 << 3) | 0, &records_);
  PutVarint(index, &records_);
  PutBytes(3, data, &records_);
  ++count_;
}

void KplAggregator::Finish(std::string* out) const {
  out->reserve(out->size() + size());
  out->append(kKplMagic, 4);
  out->append(keys_);
  out->append(records_);
  unsigned char digest[16];
  Md5(keys_, records_, digest);
  out->append(reinterpret_cast<const char*>(digest), 16);
}

void KplAggregator::Clear() {
  index_.clear();
  keys_.clear();
  keys_bytes_ = 0;
  records_.clear();
  count_ = 0;
}

bool Deaggregate(std::string_view record, std::vector<UserRecord>* out) {
  out->clear();
  if (record.size() < 4 + 16 || std::memcmp(record.data(), kKplMagic, 4) != 0) return false;
  std::string_view message = record.substr(4, record.size() - 20);
  unsigned char digest[16];
  Md5(message, {}, digest);
  if (std::memcmp(digest, record.data() + record.size() - 16, 16) != 0) return false;
  std::vector<std::string_view> keys, hash_keys;
  struct Entry {
    uint64_t key = UINT64_MAX, hash = UINT64_MAX;
    std::string_view data;
    bool has_data = false;
  };
  std::vector<Entry> entries;
  Reader r{message};
  while (!r.in.empty()) {
    uint32_t field, wire;
    std::string_view bytes;
    uint64_t value = 0;
    if (!r.Field(&field, &wire, &bytes, &value)) return false;
    if (wire != 2) continue;
    if (field == 1) keys.push_back(bytes);
    if (field == 2) hash_keys.push_back(bytes);
    if (field != 3) continue;
    Entry e;
    Reader inner{bytes};
    while (!inner.in.empty()) {
      uint32_t f, w;
      std::string_view b;
      uint64_t v = 0;
      if (!inner.Field(&f, &w, &b, &v)) return false;
      if (f == 1 && w == 0) e.key = v;
      if (f == 2 && w == 0) e.hash = v;
      if (f == 3 && w == 2) {
        e.data = b;
        e.has_data = true;
      }
    }
    entries.push_back(e);
  }
  for (const Entry& e : entries) {
    if (!e.has_data || e.key >= keys.size()) return false;
    if (e.hash != UINT64_MAX && e.hash >= hash_keys.size()) return false;
    out->push_back({std::string(keys[e.key]),
                    e.hash == UINT64_MAX ? std::string() : std::string(hash_keys[e.hash]),
                    std::string(e.data)});
  }
  return true;
}

}  // namespace sluice::kinesis
