// The AWS event-stream binary framing (application/vnd.amazon.eventstream), as SubscribeToShard
// uses it:
//   total length u32 BE | headers length u32 BE | CRC32(prelude 8 bytes) u32 BE |
//   headers | payload | CRC32(everything before) u32 BE
// A header is: name length u8 | name | value type u8 | value; only type 7 (string: length u16 BE
// | bytes) is written here. CRC32 is the IEEE/zlib polynomial.
//
// THREADING: pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace sluice::broker::api {

struct EventStreamMessage {
  std::vector<std::pair<std::string, std::string>> headers;  // string-valued headers
  std::string payload;
};

// Appends one framed message to *out.
void AppendEventStreamMessage(const EventStreamMessage& message, std::string* out);

// Decodes the first message of `in` (for tests and clients). *consumed gets its size.
// kInvalidArgument when the bytes are short, a CRC fails, or a header type is not a string.
Result<EventStreamMessage> DecodeEventStreamMessage(std::string_view in, size_t* consumed);

}  // namespace sluice::broker::api
