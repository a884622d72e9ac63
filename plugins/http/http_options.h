// The `http` sink's option table and its parsed configuration.
// THREADING: kOptions is static; ParseConfig is pure.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "plugins/common/http_client.h"
#include "plugins/http/http_protocol.h"
#include "sluice_sink.hpp"

namespace sluice::http_sink {

extern const sluice_option_def kOptions[];

struct Config {
  std::string url;
  Mode mode = Mode::kFirehose;
  RawFormat raw_format = RawFormat::kNdjson;
  std::string access_key;  // secret: never logged
  std::string source_arn;
  std::string common_attributes_json;         // {"commonAttributes":{...}}
  std::vector<sink::HttpHeader> raw_headers;  // custom headers and Authorization (raw mode)
  bool gzip = false;
  size_t max_records = kMaxRecordsPerRequest;
  size_t max_body = kMaxBodyBytes;
  sink::HttpOptions http;
};

Result<Config> ParseConfig(const Options& opts);

}  // namespace sluice::http_sink
