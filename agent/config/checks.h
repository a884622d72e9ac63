// Value checks shared by the schema's setters: names, listen addresses, regular expressions.
// Each returns Ok when the value is accepted, else InvalidArgument with a message without
// position or key path.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "agent/config/config.h"

namespace sluice::config {

// Stream, source and delivery names: 1..max_len of A-Z a-z 0-9 _ . - (as Kinesis and Firehose).
Status CheckName(std::string_view name, size_t max_len);

// "host:port" or "[v6]:port", port 0..65535.
Status ParseListen(std::string_view text, ListenAddress* out);

// Compiles `pattern` with PCRE2 (UTF mode off, as records are bytes). On success stores the number
// of capture groups in *captures.
Status CheckRegex(std::string_view pattern, int* captures);

// "http://..." or "https://..." with a host.
Status CheckUrl(std::string_view url);

}  // namespace sluice::config
