// Standard base64 (RFC 4648, with padding), as the Kinesis and Firehose JSON APIs write blobs.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice {

// Appends the encoding of `in` to *out (no allocation beyond growing *out).
void Base64Append(std::string_view in, std::string* out);
std::string Base64Encode(std::string_view in);
size_t Base64EncodedSize(size_t n);
// Strict: rejects characters outside the alphabet, bad padding and bad length.
Result<std::string> Base64Decode(std::string_view in);
// Appends the decoding of `in` to *out.
Status Base64DecodeAppend(std::string_view in, std::string* out);

}  // namespace sluice
