#include "plugins/splunk/splunk_options.h"

#include "plugins/common/http_transport_options.h"

namespace sluice::splunk_sink {

const sluice_option_def kOptions[] = {
    {"endpoint", SLUICE_OPT_STRING, nullptr,
     "HEC base URL, e.g. https://splunk.example.com:8088 (paths /services/collector/... are "
     "added).",
     1, nullptr},
    {"token", SLUICE_SECRET(SLUICE_OPT_STRING), nullptr,
     "HEC token, sent as Authorization: Splunk <token>.", 1, nullptr},
    {"endpoint_type", SLUICE_OPT_ENUM, "raw",
     "raw: /services/collector/raw; event: /services/collector/event with a JSON envelope.", 0,
     "raw|event"},
    {"event_envelope", SLUICE_OPT_BOOL, "true",
     "event endpoint: wrap each record in {time, host, source, sourcetype, index, fields, "
     "event}; false: records are HEC events already.",
     0, nullptr},
    {"host", SLUICE_OPT_STRING, "", "HEC host metadata; empty: left to Splunk.", 0, nullptr},
    {"source", SLUICE_OPT_STRING, "", "HEC source metadata.", 0, nullptr},
    {"sourcetype", SLUICE_OPT_STRING, "", "HEC sourcetype metadata.", 0, nullptr},
    {"index", SLUICE_OPT_STRING, "", "Target index; empty: the token's default index.", 0, nullptr},
    {"fields", SLUICE_OPT_LIST, nullptr, "event endpoint: indexed fields, a map.", 0, nullptr},
    {"indexer_ack", SLUICE_OPT_BOOL, "true",
     "Wait for indexer acknowledgement (ackId, /services/collector/ack) before a batch counts as "
     "delivered, as Firehose does.",
     0, nullptr},
    {"channel", SLUICE_OPT_STRING, "",
     "X-Splunk-Request-Channel GUID; empty: a random one per delivery worker.", 0, nullptr},
    {"ack_timeout", SLUICE_OPT_DURATION, "180s",
     "How long to wait for an acknowledgement, 180s..600s (Firehose's range).", 0, nullptr},
    {"ack_poll_interval", SLUICE_OPT_DURATION, "1s", "Between acknowledgement queries.", 0,
     nullptr},
    {"content_encoding", SLUICE_OPT_ENUM, "none", "gzip: compress request bodies.", 0, "none|gzip"},
    {"timeout", SLUICE_OPT_DURATION, "60s", "Per request, connect included.", 0, nullptr},
    SLUICE_HTTP_TRANSPORT_OPTIONS,
    {nullptr, SLUICE_OPT_STRING, nullptr, nullptr, 0, nullptr},
};

Result<Config> ParseConfig(const Options& opts) {
  Config c;
  auto url = sink::SplitUrl(opts.Get("endpoint"));
  if (!url.ok()) return InvalidArgument("endpoint: " + url.status().message());
  std::string path = url->path;
  // Accept an endpoint given with the collector path.
  for (std::string_view suffix :
       {"/services/collector/event", "/services/collector/raw", "/services/collector"}) {
    if (path.size() >= suffix.size() &&
        path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
      path.resize(path.size() - suffix.size());
      break;
    }
  }
  c.base_url = url->scheme + "://" + url->authority + path;
  std::string token = opts.Get("token");
  if (token.empty()) return InvalidArgument("token must not be empty");
  c.auth_header = "Splunk " + token;
  c.endpoint_type =
      opts.Get("endpoint_type", "raw") == "event" ? EndpointType::kEvent : EndpointType::kRaw;
  c.event_envelope = opts.GetBool("event_envelope", true);
  c.meta.host = opts.Get("host");
  c.meta.source = opts.Get("source");
  c.meta.sourcetype = opts.Get("sourcetype");
  c.meta.index = opts.Get("index");
  auto fields = sink::ParseMapOption(opts.Get("fields", "{}"));
  if (!fields.ok()) return InvalidArgument("fields: " + fields.status().message());
  c.meta.fields = std::move(*fields);
  c.indexer_ack = opts.GetBool("indexer_ack", true);
  c.channel = opts.Get("channel");
  if (c.channel.empty()) c.channel = sink::RandomGuid();
  c.ack_timeout_ms = opts.GetInt("ack_timeout", 180000);
  if (c.ack_timeout_ms < 180000 || c.ack_timeout_ms > 600000) {
    return InvalidArgument(
        "ack_timeout must be 180s..600s (as Firehose's "
        "HECAcknowledgmentTimeoutInSeconds)");
  }
  c.ack_poll_interval_ms = opts.GetInt("ack_poll_interval", 1000);
  if (c.ack_poll_interval_ms < 10) return InvalidArgument("ack_poll_interval must be >= 10ms");
  c.gzip = opts.Get("content_encoding", "none") == "gzip";
  sink::ReadHttpTransport(opts, 60000, &c.http);
  return c;
}

}  // namespace sluice::splunk_sink
