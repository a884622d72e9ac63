// Syslog messages: RFC 3164 (BSD) and RFC 5424 parsing into a JSON object with the fields of
// Fluent Bit's syslog parsers, and the framing of a TCP syslog byte stream (RFC 6587: octet
// counting `LEN SP MSG` or a newline after each message, told apart per message as rsyslog does:
// a message starting with a digit is octet-counted).
//
// JSON fields: pri, facility, severity (numbers), time, host, ident (5424 APP-NAME), pid (5424
// PROCID), msgid, extradata (5424 STRUCTURED-DATA, as written), message. A 5424 NILVALUE ("-")
// leaves its field out. Bytes that are not UTF-8 are escaped (json_text.h).
//
// THREADING: not thread-safe; one SyslogFramer per connection, on the loop thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "agent/tail/input_options.h"

namespace sluice::agent {

// Appends the JSON object of `msg` parsed as `format` (kRfc3164, kRfc5424, or kAuto: 5424 when
// the priority is followed by a version, else 3164) to `*out`. False, with `*out` unchanged,
// when it does not parse.
bool SyslogToJson(std::string_view msg, SyslogOptions::Format format, std::string* out);

class SyslogFramer final {
 public:
  // `emit(message, truncated)`: one complete message, at most `max_message_size` bytes (the rest
  // of a longer one is dropped and `truncated` is set). The view is valid during the call.
  using Emit = std::function<void(std::string_view, bool)>;
  explicit SyslogFramer(uint64_t max_message_size) : max_(max_message_size) {}

  void Feed(std::string_view data, const Emit& emit);
  // End of the stream: emits an unterminated newline-framed message (an incomplete
  // octet-counted one is dropped: its sender did not finish it). Returns whether one was dropped.
  bool Finish(const Emit& emit);
  // Bytes held for the message being assembled.
  uint64_t pending_bytes() const { return msg_.size(); }

 private:
  enum class State { kStart, kLength, kOctets, kLine, kSkipLine, kSkipOctets };
  void Deliver(const Emit& emit);

  const uint64_t max_;
  State state_ = State::kStart;
  std::string msg_;         // the message so far (at most max_ bytes)
  std::string digits_;      // octet count digits read so far
  uint64_t remaining_ = 0;  // kOctets, kSkipOctets: bytes of the message still to come
  bool truncated_ = false;
};

}  // namespace sluice::agent
