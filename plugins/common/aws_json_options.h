// The option rows the AWS JSON sinks (kinesis, firehose) share (region, endpoint, credentials,
// then the HTTP transport rows) and their one reader, so both document and read them alike.
//
// Header-only; thread-safe (no state).
#pragma once

#include <string>

#include "plugins/common/aws_json.h"
#include "plugins/common/http_transport_options.h"
#include "sluice_sink.hpp"

// Rows for a sluice_option_def table, e.g. {..., SLUICE_AWS_JSON_OPTIONS, {nullptr, ...}}.
#define SLUICE_AWS_JSON_OPTIONS                                                                   \
  {"region", SLUICE_OPT_STRING, "us-east-1", "AWS region (used in signatures).", 0, nullptr},     \
      {"endpoint",                                                                                \
       SLUICE_OPT_STRING,                                                                         \
       "",                                                                                        \
       "Base URL of the API (another sluice, a local server); unset: the region's AWS endpoint.", \
       0,                                                                                         \
       nullptr},                                                                                  \
      {"access_key_id",                                                                           \
       SLUICE_OPT_STRING,                                                                         \
       nullptr,                                                                                   \
       "Access key id; unset: the environment, the shared credentials file, instance metadata.",  \
       0,                                                                                         \
       nullptr},                                                                                  \
      {"secret_access_key",                                                                       \
       SLUICE_SECRET(SLUICE_OPT_STRING),                                                          \
       nullptr,                                                                                   \
       "Secret access key (with access_key_id).",                                                 \
       0,                                                                                         \
       nullptr},                                                                                  \
      {"session_token",                                                                           \
       SLUICE_SECRET(SLUICE_OPT_STRING),                                                          \
       nullptr,                                                                                   \
       "Session token of temporary credentials.",                                                 \
       0,                                                                                         \
       nullptr},                                                                                  \
      {"profile", SLUICE_OPT_STRING,                                                              \
       nullptr,   "Profile of the shared credentials file; unset: AWS_PROFILE, else default.",    \
       0,         nullptr},                                                                       \
      {"timeout", SLUICE_OPT_DURATION, "60s", "Timeout of one whole call.", 0, nullptr},          \
      SLUICE_HTTP_TRANSPORT_OPTIONS

namespace sluice::sink {

// Reads the SLUICE_AWS_JSON_OPTIONS rows for `service` ("kinesis", "firehose").
inline AwsJsonConfig ReadAwsJsonConfig(const sluice::Options& opts, std::string service) {
  AwsJsonConfig c;
  c.service = std::move(service);
  c.region = opts.Get("region", "us-east-1");
  c.endpoint = opts.Get("endpoint");
  c.credentials.access_key_id = opts.Get("access_key_id");
  c.credentials.secret_access_key = opts.Get("secret_access_key");
  c.credentials.session_token = opts.Get("session_token");
  c.credentials.profile = opts.Get("profile");
  ReadHttpTransport(opts, 60000, &c.http);
  return c;
}

}  // namespace sluice::sink
