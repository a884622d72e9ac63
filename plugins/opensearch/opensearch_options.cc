#include "plugins/opensearch/opensearch_options.h"

#include "core/base64.h"
#include "plugins/common/http_transport_options.h"

namespace sluice::opensearch_sink {

const sluice_option_def kOptions[] = {
    {"endpoint", SLUICE_OPT_STRING, nullptr,
     "Cluster URL, e.g. https://search-x.us-east-1.es.amazonaws.com or http://127.0.0.1:9200.", 1,
     nullptr},
    {"index", SLUICE_OPT_STRING, nullptr, "Index name (before rotation).", 1, nullptr},
    {"index_rotation", SLUICE_OPT_ENUM, "NoRotation",
     "Appends the UTC arrival time to the index as Firehose does.", 0,
     "NoRotation|OneHour|OneDay|OneWeek|OneMonth"},
    {"type_name", SLUICE_OPT_STRING, "", "_type for Elasticsearch 6.x; empty: none.", 0, nullptr},
    {"action", SLUICE_OPT_ENUM, "index",
     "_bulk action: index (overwrite by id) or create (a replayed id answers 409 and counts as "
     "delivered).",
     0, "index|create"},
    {"document_id", SLUICE_OPT_ENUM, "firehose_default",
     "firehose_default: ids stable across retries and replays (from shard and sequence); "
     "no_document_id: the cluster assigns ids (retries may duplicate).",
     0, "firehose_default|no_document_id"},
    {"document_id_prefix", SLUICE_OPT_STRING, "",
     "Prefix of generated ids, to keep two deliveries writing one index apart.", 0, nullptr},
    {"content_encoding", SLUICE_OPT_ENUM, "none", "gzip: compress _bulk bodies.", 0, "none|gzip"},
    {"auth", SLUICE_OPT_ENUM, "none",
     "none, basic (username, password) or sigv4 (Amazon OpenSearch Service, Serverless).", 0,
     "none|basic|sigv4"},
    {"username", SLUICE_OPT_STRING, "", "auth basic: user name.", 0, nullptr},
    {"password", SLUICE_SECRET(SLUICE_OPT_STRING), "", "auth basic: password.", 0, nullptr},
    {"region", SLUICE_OPT_STRING, "us-east-1", "auth sigv4: the AWS region.", 0, nullptr},
    {"service", SLUICE_OPT_ENUM, "es",
     "auth sigv4: es (OpenSearch Service) or aoss (OpenSearch Serverless).", 0, "es|aoss"},
    {"access_key_id", SLUICE_OPT_STRING, "",
     "auth sigv4: key id; empty: environment, shared file, instance metadata.", 0, nullptr},
    {"secret_access_key", SLUICE_SECRET(SLUICE_OPT_STRING), "", "auth sigv4: secret key.", 0,
     nullptr},
    {"session_token", SLUICE_SECRET(SLUICE_OPT_STRING), "", "auth sigv4: session token.", 0,
     nullptr},
    {"profile", SLUICE_OPT_STRING, "", "auth sigv4: shared credentials profile.", 0, nullptr},
    {"timeout", SLUICE_OPT_DURATION, "60s", "Per request, connect included.", 0, nullptr},
    SLUICE_HTTP_TRANSPORT_OPTIONS,
    {nullptr, SLUICE_OPT_STRING, nullptr, nullptr, 0, nullptr},
};

Result<Config> ParseConfig(const Options& opts) {
  Config c;
  auto url = sink::SplitUrl(opts.Get("endpoint"));
  if (!url.ok()) return InvalidArgument("endpoint: " + url.status().message());
  c.endpoint = *url;
  c.base_url = c.endpoint.scheme + "://" + c.endpoint.authority + c.endpoint.path;
  c.index = opts.Get("index");
  if (c.index.empty() || c.index.find_first_of("\"\\/*?<>| ,#") != std::string::npos) {
    return InvalidArgument("index must be a non-empty OpenSearch index name");
  }
  if (!ParseRotation(opts.Get("index_rotation", "NoRotation"), &c.rotation)) {
    return InvalidArgument("index_rotation: unknown period");
  }
  c.type_name = opts.Get("type_name");
  c.action = opts.Get("action", "index") == "create" ? Action::kCreate : Action::kIndex;
  c.document_ids = opts.Get("document_id", "firehose_default") == "firehose_default";
  c.document_id_prefix = opts.Get("document_id_prefix");
  c.gzip = opts.Get("content_encoding", "none") == "gzip";
  std::string auth = opts.Get("auth", "none");
  if (auth == "basic") {
    c.auth = Auth::kBasic;
    std::string user = opts.Get("username");
    if (user.empty()) return InvalidArgument("auth basic needs username");
    c.basic_header = "Basic " + Base64Encode(user + ":" + opts.Get("password"));
  } else if (auth == "sigv4") {
    c.auth = Auth::kSigV4;
    c.region = opts.Get("region", "us-east-1");
    c.service = opts.Get("service", "es");
    c.aws.access_key_id = opts.Get("access_key_id");
    c.aws.secret_access_key = opts.Get("secret_access_key");
    c.aws.session_token = opts.Get("session_token");
    c.aws.profile = opts.Get("profile");
  }
  sink::ReadHttpTransport(opts, 60000, &c.http);
  return c;
}

}  // namespace sluice::opensearch_sink
