// The `splunk` sink's option table and its parsed configuration.
// THREADING: kOptions is static; ParseConfig is pure.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "plugins/common/http_client.h"
#include "plugins/common/sink_util.h"
#include "plugins/splunk/hec_encoder.h"
#include "sluice_sink.hpp"

namespace sluice::splunk_sink {

extern const sluice_option_def kOptions[];

enum class EndpointType { kRaw, kEvent };

struct Config {
  std::string base_url;     // scheme://authority/path, no trailing slash
  std::string auth_header;  // "Splunk <token>" (secret)
  EndpointType endpoint_type = EndpointType::kRaw;
  bool event_envelope = true;
  EventMeta meta;
  bool indexer_ack = true;
  std::string channel;
  int64_t ack_timeout_ms = 180000;
  int64_t ack_poll_interval_ms = 1000;
  bool gzip = false;
  sink::HttpOptions http;
};

Result<Config> ParseConfig(const Options& opts);

}  // namespace sluice::splunk_sink
