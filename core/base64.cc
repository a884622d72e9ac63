// Base64 through OpenSSL's block codec (EVP_EncodeBlock / EVP_DecodeBlock). EVP_DecodeBlock is
// lenient (it skips whitespace and does not account for padding), so the input is checked strictly
// first and the padding bytes are taken off the result.
#include "core/base64.h"

#include <openssl/evp.h>

namespace sluice {
namespace {

bool IsAlphabet(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

}  // namespace

size_t Base64EncodedSize(size_t n) { return (n + 2) / 3 * 4; }

void Base64Append(std::string_view in, std::string* out) {
  size_t old = out->size();
  out->resize(old + Base64EncodedSize(in.size()) + 1);  // EVP writes a trailing NUL
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out->data() + old),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out->resize(old + static_cast<size_t>(n));
}

std::string Base64Encode(std::string_view in) {
  std::string out;
  Base64Append(in, &out);
  return out;
}

Status Base64DecodeAppend(std::string_view in, std::string* out) {
  if (in.size() % 4 != 0) return InvalidArgument("base64 length is not a multiple of 4");
  size_t pad = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '=') {
      if (i + 2 < in.size()) return InvalidArgument("base64 padding in the middle");
      ++pad;
    } else if (pad > 0 || !IsAlphabet(c)) {
      return InvalidArgument("invalid base64 character at offset " + std::to_string(i));
    }
  }
  size_t old = out->size();
  out->resize(old + in.size() / 4 * 3);
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out->data() + old),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) {
    out->resize(old);
    return InvalidArgument("invalid base64");
  }
  out->resize(old + static_cast<size_t>(n) - pad);
  return Status::Ok();
}

Result<std::string> Base64Decode(std::string_view in) {
  std::string out;
  RETURN_IF_ERROR(Base64DecodeAppend(in, &out));
  return out;
}

}  // namespace sluice
