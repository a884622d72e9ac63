// UTF-8 text from outside: counting its characters as AWS length limits do, and making it safe to
// put into a JSON answer.
//
// THREADING: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice {

// Unicode characters (code points) in `s`: the bytes that do not continue a sequence. AWS string
// length limits (a PartitionKey's 256, a name's 128) count these, not bytes.
size_t Utf8Chars(std::string_view s);

// `s` with every byte that is not part of a well-formed UTF-8 sequence (RFC 3629: no overlongs,
// no surrogates, nothing past U+10FFFF) replaced by U+FFFD, so that text echoed from a request
// into a JSON document keeps the document valid.
std::string ValidUtf8(std::string_view s);

}  // namespace sluice
