#include "plugins/http/http_options.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/base64.h"
#include "plugins/common/http_transport_options.h"
#include "plugins/common/sink_util.h"

namespace sluice::http_sink {

const sluice_option_def kOptions[] = {
    {"url", SLUICE_OPT_STRING, nullptr, "Endpoint URL the records are POSTed to.", 1, nullptr},
    {"mode", SLUICE_OPT_ENUM, "firehose",
     "firehose: Firehose's HTTP endpoint delivery protocol 1.0; raw: plain NDJSON or JSON-array "
     "bodies.",
     0, "firehose|raw"},
    {"access_key", SLUICE_SECRET(SLUICE_OPT_STRING), "",
     "firehose mode: sent verbatim as X-Amz-Firehose-Access-Key (at most 4096 bytes).", 0, nullptr},
    {"source_arn", SLUICE_OPT_STRING, "arn:aws:firehose:local:000000000000:deliverystream/sluice",
     "firehose mode: the X-Amz-Firehose-Source-Arn header.", 0, nullptr},
    {"common_attributes", SLUICE_OPT_LIST, nullptr,
     "firehose mode: a map of up to 50 attributes, sent as X-Amz-Firehose-Common-Attributes.", 0,
     nullptr},
    {"content_encoding", SLUICE_OPT_ENUM, "none",
     "gzip: compress request bodies (Content-Encoding: gzip).", 0, "none|gzip"},
    {"raw_format", SLUICE_OPT_ENUM, "ndjson",
     "raw mode: ndjson (one record a line) or json_array (records are JSON values).", 0,
     "ndjson|json_array"},
    {"headers", SLUICE_OPT_LIST, nullptr,
     "Extra request headers: a map, or a list of \"Name: value\".", 0, nullptr},
    {"auth", SLUICE_OPT_ENUM, "none", "raw mode: none, basic (username, password) or bearer.", 0,
     "none|basic|bearer"},
    {"username", SLUICE_OPT_STRING, "", "auth basic: the user name.", 0, nullptr},
    {"password", SLUICE_SECRET(SLUICE_OPT_STRING), "", "auth basic: the password.", 0, nullptr},
    {"bearer_token", SLUICE_SECRET(SLUICE_OPT_STRING), "", "auth bearer: the token.", 0, nullptr},
    {"timeout", SLUICE_OPT_DURATION, "180s",
     "Per request, connect included (Firehose gives an endpoint 3 minutes).", 0, nullptr},
    SLUICE_HTTP_TRANSPORT_OPTIONS,
    {"max_records", SLUICE_OPT_INT, "10000", "Records per request, 1..10000.", 0, nullptr},
    {"max_body_size", SLUICE_OPT_SIZE, "64MiB",
     "Request body bytes before compression, at most 64MiB.", 0, nullptr},
    {nullptr, SLUICE_OPT_STRING, nullptr, nullptr, 0, nullptr},
};

Result<Config> ParseConfig(const Options& opts) {
  Config c;
  c.url = opts.Get("url");
  if (c.url.rfind("http://", 0) != 0 && c.url.rfind("https://", 0) != 0) {
    return InvalidArgument("url must start with http:// or https://");
  }
  c.mode = opts.Get("mode", "firehose") == "raw" ? Mode::kRaw : Mode::kFirehose;
  c.raw_format =
      opts.Get("raw_format", "ndjson") == "json_array" ? RawFormat::kJsonArray : RawFormat::kNdjson;
  c.access_key = opts.Get("access_key");
  if (c.access_key.size() > 4096) return InvalidArgument("access_key is longer than 4096 bytes");
  c.source_arn = opts.Get("source_arn");
  c.gzip = opts.Get("content_encoding", "none") == "gzip";

  auto attrs = sink::ParseMapOption(opts.Get("common_attributes", "{}"));
  if (!attrs.ok()) return InvalidArgument("common_attributes: " + attrs.status().message());
  if (attrs->size() > 50) return InvalidArgument("common_attributes: at most 50 attributes");
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("commonAttributes");
  w.StartObject();
  for (const auto& [k, v] : *attrs) {
    if (k.empty() || k.size() > 256 || v.size() > 1024) {
      return InvalidArgument("common_attributes: keys are 1..256 and values 0..1024 characters");
    }
    w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size()));
    w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
  }
  w.EndObject();
  w.EndObject();
  c.common_attributes_json.assign(sb.GetString(), sb.GetSize());

  auto headers = sink::ParseMapOption(opts.Get("headers", "{}"));
  if (!headers.ok()) return InvalidArgument("headers: " + headers.status().message());
  for (auto& [k, v] : *headers) {
    if (k.find_first_of(" \r\n:") != std::string::npos ||
        v.find_first_of("\r\n") != std::string::npos) {
      return InvalidArgument("headers: \"" + k + "\" is not a valid header");
    }
    c.raw_headers.emplace_back(k, v);
  }
  std::string auth = opts.Get("auth", "none");
  if (auth == "basic") {
    std::string user = opts.Get("username");
    if (user.empty()) return InvalidArgument("auth basic needs username");
    c.raw_headers.emplace_back("Authorization",
                               "Basic " + Base64Encode(user + ":" + opts.Get("password")));
  } else if (auth == "bearer") {
    std::string token = opts.Get("bearer_token");
    if (token.empty()) return InvalidArgument("auth bearer needs bearer_token");
    c.raw_headers.emplace_back("Authorization", "Bearer " + token);
  }
  int64_t max_records = opts.GetInt("max_records", 10000);
  if (max_records < 1 || max_records > 10000) {
    return InvalidArgument("max_records must be 1..10000");
  }
  c.max_records = static_cast<size_t>(max_records);
  int64_t max_body = opts.GetInt("max_body_size", kMaxBodyBytes);
  if (max_body < 1024 || max_body > static_cast<int64_t>(kMaxBodyBytes)) {
    return InvalidArgument("max_body_size must be 1KiB..64MiB");
  }
  c.max_body = static_cast<size_t>(max_body);
  sink::ReadHttpTransport(opts, 180000, &c.http);
  return c;
}

}  // namespace sluice::http_sink
