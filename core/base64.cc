// Table-driven base64. Every PutRecords record crosses it twice (the sink encodes, the API
// decodes), so it works a quantum at a time without branches per character:
// - encoding turns each 12 bits into two characters with one load from a 4096-entry table;
// - decoding ORs four table entries into one 24-bit group; a character outside the alphabet
//   sets a bit above the group, so a whole input is checked by one test per quantum and the
//   offset of the bad character is found only on the error path.
// OpenSSL's EVP_EncodeBlock / EVP_DecodeBlock, used before, convert a character at a time and
// the decoder is lenient (whitespace, padding), which needed a separate checking pass.
#include "core/base64.h"

#include <array>
#include <cstdint>
#include <cstring>

namespace sluice {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr uint32_t kBad = 1u << 24;

// Two characters per 12-bit value, as stored in memory (first character first).
struct PairTable {
  std::array<char, 2 * 4096> chars{};
  constexpr PairTable() {
    for (int v = 0; v < 4096; ++v) {
      chars[2 * v] = kAlphabet[v >> 6];
      chars[2 * v + 1] = kAlphabet[v & 63];
    }
  }
};
constexpr PairTable kPairs;

// kDecode[k][c]: character c at position k of a quantum, as its 6 bits placed in the 24-bit
// group (position 0 the highest), or kBad.
struct DecodeTable {
  std::array<std::array<uint32_t, 256>, 4> at{};
  constexpr DecodeTable() {
    for (auto& t : at) t.fill(kBad);
    for (uint32_t v = 0; v < 64; ++v) {
      auto c = static_cast<unsigned char>(kAlphabet[v]);
      for (int k = 0; k < 4; ++k) at[k][c] = v << (18 - 6 * k);
    }
  }
};
constexpr DecodeTable kDecode;

inline void EncodeQuantum(const unsigned char* in, char* out) {
  uint32_t v = (uint32_t{in[0]} << 16) | (uint32_t{in[1]} << 8) | in[2];
  memcpy(out, &kPairs.chars[2 * (v >> 12)], 2);
  memcpy(out + 2, &kPairs.chars[2 * (v & 0xfff)], 2);
}

inline uint32_t DecodeQuantum(const unsigned char* in) {
  return kDecode.at[0][in[0]] | kDecode.at[1][in[1]] | kDecode.at[2][in[2]] | kDecode.at[3][in[3]];
}

// The first byte of `in` that is not in the alphabet (for the error message).
size_t FirstBad(std::string_view in) {
  for (size_t i = 0; i < in.size(); ++i) {
    if (kDecode.at[0][static_cast<unsigned char>(in[i])] == kBad) return i;
  }
  return in.size();
}

Status BadCharacter(std::string_view in, size_t from) {
  size_t at = from + FirstBad(in.substr(from));
  if (at < in.size() && in[at] == '=') return InvalidArgument("base64 padding in the middle");
  return InvalidArgument("invalid base64 character at offset " + std::to_string(at));
}

}  // namespace

size_t Base64EncodedSize(size_t n) { return (n + 2) / 3 * 4; }

void Base64Append(std::string_view in, std::string* out) {
  size_t old = out->size();
  out->resize(old + Base64EncodedSize(in.size()));
  auto* src = reinterpret_cast<const unsigned char*>(in.data());
  char* dst = out->data() + old;
  size_t whole = in.size() / 3;
  for (size_t q = 0; q < whole; ++q, src += 3, dst += 4) EncodeQuantum(src, dst);
  size_t rest = in.size() - whole * 3;
  if (rest > 0) {
    unsigned char last[3] = {src[0], rest > 1 ? src[1] : uint8_t{0}, 0};
    EncodeQuantum(last, dst);
    dst[3] = '=';
    if (rest == 1) dst[2] = '=';
  }
}

std::string Base64Encode(std::string_view in) {
  std::string out;
  Base64Append(in, &out);
  return out;
}

Status Base64DecodeAppend(std::string_view in, std::string* out) {
  if (in.size() % 4 != 0) return InvalidArgument("base64 length is not a multiple of 4");
  if (in.empty()) return Status::Ok();
  size_t pad = in.back() == '=' ? (in[in.size() - 2] == '=' ? 2 : 1) : 0;
  size_t whole = in.size() / 4 - (pad > 0 ? 1 : 0);
  size_t old = out->size();
  out->resize(old + whole * 3 + (pad > 0 ? 3 - pad : 0));
  auto* src = reinterpret_cast<const unsigned char*>(in.data());
  auto* dst = reinterpret_cast<unsigned char*>(out->data() + old);
  uint32_t bad = 0;
  for (size_t q = 0; q < whole; ++q, src += 4, dst += 3) {
    uint32_t v = DecodeQuantum(src);
    bad |= v;
    dst[0] = static_cast<unsigned char>(v >> 16);
    dst[1] = static_cast<unsigned char>(v >> 8);
    dst[2] = static_cast<unsigned char>(v);
  }
  if (bad & kBad) {
    out->resize(old);
    return BadCharacter(in, 0);
  }
  if (pad > 0) {
    // The last quantum: "xx==" or "xxx=".
    unsigned char last[4] = {src[0], src[1], pad == 2 ? uint8_t{'A'} : src[2], 'A'};
    uint32_t v = DecodeQuantum(last);
    if (v & kBad) {
      out->resize(old);
      return BadCharacter(in, whole * 4);
    }
    dst[0] = static_cast<unsigned char>(v >> 16);
    if (pad == 1) dst[1] = static_cast<unsigned char>(v >> 8);
  }
  return Status::Ok();
}

Result<std::string> Base64Decode(std::string_view in) {
  std::string out;
  RETURN_IF_ERROR(Base64DecodeAppend(in, &out));
  return out;
}

}  // namespace sluice
