// CBOR for the transcoder tests: items built byte by byte (so a test states exactly what goes on
// the wire), and answers read back through libcbor's own decoder.
#pragma once

#include <cbor.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace sluice::broker::api::testing {

// The head of an item: major type and argument, in the shortest form.
inline std::string Head(int major, uint64_t v) {
  std::string out;
  auto m = static_cast<char>(major << 5);
  if (v < 24) {
    out.push_back(static_cast<char>(m | static_cast<char>(v)));
    return out;
  }
  int bytes = v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffffull ? 4 : 8;
  out.push_back(static_cast<char>(m | (bytes == 1 ? 24 : bytes == 2 ? 25 : bytes == 4 ? 26 : 27)));
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
  return out;
}
inline std::string Uint(uint64_t v) { return Head(0, v); }
inline std::string Neg(int64_t v) { return Head(1, static_cast<uint64_t>(-(v + 1))); }
inline std::string Bytes(std::string_view b) { return Head(2, b.size()) + std::string(b); }
inline std::string Text(std::string_view s) { return Head(3, s.size()) + std::string(s); }
inline std::string Array(std::initializer_list<std::string> items) {
  std::string out = Head(4, items.size());
  for (const std::string& i : items) out += i;
  return out;
}
// Keys are text; values are encoded items.
inline std::string Map(std::initializer_list<std::pair<std::string_view, std::string>> members) {
  std::string out = Head(5, members.size());
  for (const auto& [k, v] : members) out += Text(k) + v;
  return out;
}
inline std::string Tag(uint64_t tag, const std::string& item) { return Head(6, tag) + item; }
inline std::string Double(double d) {
  uint64_t bits;
  static_assert(sizeof(bits) == sizeof(d));
  __builtin_memcpy(&bits, &d, sizeof(d));
  std::string out(1, '\xfb');
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(bits >> (8 * i)));
  return out;
}

struct ItemDeleter {
  void operator()(cbor_item_t* item) const { cbor_decref(&item); }
};
using Item = std::unique_ptr<cbor_item_t, ItemDeleter>;

// The whole of `bytes` as one item (null when it is not exactly one well-formed item).
inline Item Load(std::string_view bytes) {
  cbor_load_result r;
  cbor_item_t* item = cbor_load(reinterpret_cast<cbor_data>(bytes.data()), bytes.size(), &r);
  if (item == nullptr) return nullptr;
  if (r.error.code != CBOR_ERR_NONE || r.read != bytes.size()) {
    cbor_decref(&item);
    return nullptr;
  }
  return Item(item);
}

// The value of text key `key` in map `map`, or null.
inline cbor_item_t* Member(const cbor_item_t* map, std::string_view key) {
  if (map == nullptr || !cbor_isa_map(map)) return nullptr;
  cbor_pair* pairs = cbor_map_handle(map);
  for (size_t i = 0; i < cbor_map_size(map); ++i) {
    cbor_item_t* k = pairs[i].key;
    if (cbor_isa_string(k) && cbor_string_is_definite(k) &&
        std::string_view(reinterpret_cast<const char*>(cbor_string_handle(k)),
                         cbor_string_length(k)) == key) {
      return pairs[i].value;
    }
  }
  return nullptr;
}

inline std::string TextOf(const cbor_item_t* s) {
  if (s == nullptr || !cbor_isa_string(s) || !cbor_string_is_definite(s)) return "<not text>";
  return std::string(reinterpret_cast<const char*>(cbor_string_handle(s)), cbor_string_length(s));
}

inline std::string BytesOf(const cbor_item_t* b) {
  if (b == nullptr || !cbor_isa_bytestring(b) || !cbor_bytestring_is_definite(b)) {
    return "<not bytes>";
  }
  return std::string(reinterpret_cast<const char*>(cbor_bytestring_handle(b)),
                     cbor_bytestring_length(b));
}

}  // namespace sluice::broker::api::testing
