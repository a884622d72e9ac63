// The `opensearch` sink: indexes records with the _bulk API (NDJSON `index` or `create` actions)
// into an index rotated by arrival time as Firehose rotates it, with document ids stable across
// retries and replays (or cluster-assigned). The answer is read item by item: items failing with
// 429 or 5xx are retried alone (a partial outcome); items failing for good (mapping errors, ...)
// are rejected with a reason carrying Firehose's esDocumentId and esIndexName.
//
// THREADING: one OpenSearchSink per host instance; Send is never re-entered.
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "plugins/common/aws_credentials.h"
#include "plugins/common/body_codec.h"
#include "plugins/common/http_client.h"
#include "plugins/common/sigv4.h"
#include "plugins/common/sink_util.h"
#include "plugins/opensearch/bulk_request.h"
#include "plugins/opensearch/opensearch_options.h"
#include "sluice_sink.hpp"

namespace sluice::opensearch_sink {
namespace {

struct Span {
  size_t pos = 0, len = 0;
};

class OpenSearchSink final : public Sink {
 public:
  static sluice::Created<sluice::Sink> Create(const sluice::Options& opts, sluice::Host host) {
    auto config = ParseConfig(opts);
    if (!config.ok()) {
      return sluice::Created<sluice::Sink>::Error(config.status().message());
    }
    auto client = sink::HttpClient::Create(config->http);
    if (!client.ok()) {
      return sluice::Created<sluice::Sink>::Error(client.status().message());
    }
    auto s = std::make_unique<OpenSearchSink>();
    if (config->auth == Auth::kSigV4) {
      auto creds = sink::AwsCredentialsProvider::Create(config->aws);
      if (!creds.ok()) {
        return sluice::Created<sluice::Sink>::Error("auth sigv4: " + creds.status().message());
      }
      s->creds_ = std::move(*creds);
    }
    s->config_ = std::move(*config);
    s->client_ = std::move(*client);
    s->host_ = host;
    return s;
  }

  Outcome Send(const Batch& batch) override {
    const Config& c = config_;
    size_t n = batch.size();
    body_.clear();
    names_.clear();
    index_of_.assign(n, Span{});
    id_of_.assign(n, Span{});
    sent_.clear();
    std::vector<RecordOutcome> out(n);
    size_t local_rejects = 0;
    for (size_t i = 0; i < n; ++i) {
      Record r = batch.record(i);
      index_of_[i].pos = names_.size();
      AppendIndexName(c.index, c.rotation, r.arrival_ms, &names_);
      index_of_[i].len = names_.size() - index_of_[i].pos;
      id_of_[i].pos = names_.size();
      if (c.document_ids) {
        names_.append(c.document_id_prefix);
        names_.append(r.record_id);
      }
      id_of_[i].len = names_.size() - id_of_[i].pos;
      std::string_view line;
      if (!SourceLine(r.data, &line)) {
        ItemResult bad;
        bad.status = 400;
        bad.error_type = "sluice_invalid_record";
        bad.error_reason =
            "the record is empty or not a single line (documents must be "
            "single-line JSON)";
        out[i] = RecordOutcome::Reject(RejectReason(bad, Id(i), Index(i)));
        ++local_rejects;
        continue;
      }
      AppendBulkItem(c.action, Index(i), c.type_name, Id(i), line, &body_);
      sent_.push_back(i);
    }
    if (sent_.empty()) return Outcome::Partial(std::move(out));

    long status = 0;
    std::string transport;
    sink::HttpResponse resp;
    Status st = Post(body_, &resp);
    if (st.ok()) {
      status = resp.status;
    } else {
      transport = st.message();
    }
    host_.Count("bulk_requests", 1);
    BulkClassification cl =
        ClassifyResponse(status, resp.body, sent_.size(), c.action,
                         sink::RetryAfterMs(resp.Header("retry-after")), transport);
    if (cl.loud && (sink::LoudAttempt(batch.attempt()))) {
      host_.Log(SLUICE_LOG_ERROR, "the cluster refuses our credentials (" + cl.error_code +
                                      "); check auth; retrying");
    }
    using Whole = sink::SinkVerdict::Action;
    if (cl.action == Whole::kOk && !cl.per_item) {
      host_.Count("documents_indexed", sent_.size());
      if (local_rejects == 0) return Outcome::Ok();
      return Outcome::Partial(std::move(out));
    }
    if (cl.action == Whole::kRetry) {
      if (local_rejects == 0)
        return Outcome::Retry(cl.error_code, cl.error_message, cl.retry_after_ms);
      for (size_t i : sent_) {
        out[i] = RecordOutcome::Retry(cl.error_code + ": " + cl.error_message, cl.retry_after_ms);
      }
      return Outcome::Partial(std::move(out));
    }
    if (cl.action == Whole::kReject) {
      ItemResult all;
      all.status = static_cast<int>(status);
      all.error_reason = cl.error_message;
      for (size_t i : sent_) out[i] = RecordOutcome::Reject(RejectReason(all, Id(i), Index(i)));
      return Outcome::Partial(std::move(out));
    }
    size_t ok = 0, retried = 0, rejected = local_rejects;
    for (size_t k = 0; k < sent_.size(); ++k) {
      size_t i = sent_[k];
      const ItemResult& item = cl.items[k];
      switch (item.verdict) {
        case ItemResult::Verdict::kOk:
          ++ok;
          break;
        case ItemResult::Verdict::kRetry:
          out[i] = RecordOutcome::Retry(std::to_string(item.status) + " " + item.error_type + ": " +
                                        item.error_reason);
          ++retried;
          break;
        case ItemResult::Verdict::kReject:
          out[i] = RecordOutcome::Reject(RejectReason(item, Id(i), Index(i)));
          ++rejected;
          break;
      }
    }
    host_.Count("documents_indexed", ok);
    host_.Count("documents_retried", retried);
    host_.Count("documents_rejected", rejected);
    return Outcome::Partial(std::move(out));
  }

  bool Healthcheck(std::string* error) override {
    sink::HttpResponse resp;
    bool serverless = config_.auth == Auth::kSigV4 && config_.service == "aoss";
    // Serverless has no cluster APIs: ask whether the index exists instead (200 or 404).
    std::string path = serverless ? "/" + config_.index : "/_cluster/health";
    Status st = Send(serverless ? "HEAD" : "GET", path, {}, &resp);
    if (!st.ok()) {
      *error = "cluster unreachable: " + st.message();
      return false;
    }
    if (serverless) {
      if (resp.status == 200 || resp.status == 404) return true;
      *error = "HEAD " + path + " answered " + std::to_string(resp.status);
      return false;
    }
    if (resp.status != 200) {
      *error = "GET /_cluster/health answered " + std::to_string(resp.status);
      return false;
    }
    if (resp.body.find("\"status\":\"red\"") != std::string::npos) {
      *error = "cluster health is red";
      return false;
    }
    return true;
  }

 private:
  std::string_view Index(size_t i) const {
    return {names_.data() + index_of_[i].pos, index_of_[i].len};
  }
  std::string_view Id(size_t i) const { return {names_.data() + id_of_[i].pos, id_of_[i].len}; }

  // POSTs a _bulk body. The answer is trimmed with filter_path to what ClassifyResponse reads
  // (per-item status and error), which keeps it small for large batches.
  Status Post(std::string_view body, sink::HttpResponse* resp) {
    static const std::string kFilter =
        "errors,items.*.status,items.*.error.type,items.*.error.reason";
    if (config_.gzip) {
      Status st = gzip_.Compress(host_, body, &compressed_);
      if (!st.ok()) return st;
      body = compressed_;
    }
    return Send("POST", "/_bulk", body, resp, {"filter_path", kFilter});
  }

  Status Send(std::string_view method, const std::string& path, std::string_view body,
              sink::HttpResponse* resp, std::pair<std::string, std::string> query = {}) {
    const Config& c = config_;
    sink::HttpRequest req;
    req.method = method;
    req.url = c.base_url + path;
    if (!query.first.empty()) {
      req.url +=
          "?" + sink::UriEncode(query.first, false) + "=" + sink::UriEncode(query.second, false);
    }
    req.body = body;
    std::vector<std::pair<std::string, std::string>> headers;
    if (method == "POST") {
      headers.emplace_back("Content-Type", "application/x-ndjson");
      if (c.gzip) headers.emplace_back("Content-Encoding", "gzip");
    }
    if (c.auth == Auth::kBasic) {
      headers.emplace_back("Authorization", c.basic_header);
    } else if (c.auth == Auth::kSigV4) {
      auto creds = creds_->Get();
      if (!creds.ok()) return creds.status();
      sink::SigV4Request sreq;
      sreq.method = method;
      sreq.path = c.endpoint.path + path;
      if (!query.first.empty()) sreq.query.push_back(query);
      sreq.headers = std::move(headers);
      sreq.headers.emplace_back("Host", c.endpoint.authority);
      sreq.payload_hash = sink::Sha256Hex(body);
      sreq.headers.emplace_back("X-Amz-Content-Sha256", sreq.payload_hash);
      sink::Sign(&sreq, *creds, {c.region, c.service, std::time(nullptr)});
      headers = std::move(sreq.headers);
    }
    req.headers = std::move(headers);
    auto r = client_->Send(req);
    if (!r.ok()) return r.status();
    *resp = std::move(*r);
    host_.Count("bytes_sent", body.size());
    return Status::Ok();
  }

  Config config_;
  std::unique_ptr<sink::HttpClient> client_;
  std::unique_ptr<sink::AwsCredentialsProvider> creds_;
  Host host_;
  sink::Gzipper gzip_;
  // Scratch reused across batches.
  std::string body_, compressed_, names_;
  std::vector<Span> index_of_, id_of_;
  std::vector<size_t> sent_;
};

}  // namespace
}  // namespace sluice::opensearch_sink

// The delivery policy: Firehose's OpenSearch destination: 1-100 MB (5), 0-900 s (300), retries
// 0-7200 s (300).
static constexpr sluice_delivery_policy kOpenSearchPolicy =
    sluice::MakePolicy({1000000, 5000000, 100000000}, {0, 300000, 900000}, {300000, 7200000},
                       "AmazonOpenSearchService-failed");

SLUICE_EXPORT_SINK_WITH_POLICY(
    sluice::opensearch_sink::OpenSearchSink, "opensearch", SLUICE_KIND_RECORD_SINK, 0,
    sluice::opensearch_sink::kOptions, "1.0",
    "Indexes records into OpenSearch or Elasticsearch with the _bulk API, index "
    "rotation and stable document ids, as Firehose's OpenSearch destination does.",
    &kOpenSearchPolicy)
