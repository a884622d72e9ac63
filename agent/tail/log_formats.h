// The built-in log_to_json formats: a PCRE2 pattern and the field name of each capture group.
//
// THREADING: constant data.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sluice::agent {

struct LogFormat {
  std::string pattern;
  std::vector<std::string> fields;
};

// common_apache, combined_apache, apache_error, syslog (RFC 3164), rfc5424. kNotFound names the
// valid formats.
Result<LogFormat> BuiltInLogFormat(std::string_view name);

}  // namespace sluice::agent
