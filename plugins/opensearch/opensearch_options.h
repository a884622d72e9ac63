// The `opensearch` sink's option table and its parsed configuration.
// THREADING: kOptions is static; ParseConfig is pure.
#pragma once

#include <string>

#include "core/status.h"
#include "plugins/common/aws_credentials.h"
#include "plugins/common/http_client.h"
#include "plugins/common/sink_util.h"
#include "plugins/opensearch/bulk_request.h"
#include "sluice_sink.hpp"

namespace sluice::opensearch_sink {

extern const sluice_option_def kOptions[];

enum class Auth { kNone, kBasic, kSigV4 };

struct Config {
  sink::UrlParts endpoint;
  std::string base_url;  // scheme://authority/path, no trailing slash
  std::string index;
  std::string type_name;
  Rotation rotation = Rotation::kNoRotation;
  Action action = Action::kIndex;
  bool document_ids = true;  // FIREHOSE_DEFAULT; false: NO_DOCUMENT_ID
  std::string document_id_prefix;
  bool gzip = false;
  Auth auth = Auth::kNone;
  std::string basic_header;  // "Basic ..." (secret)
  std::string region;
  std::string service;  // es | aoss
  sink::AwsCredentialsConfig aws;
  sink::HttpOptions http;
};

Result<Config> ParseConfig(const Options& opts);

}  // namespace sluice::opensearch_sink
