// The `s3` sink: writes each object the host renders to s3://<bucket>/<object key>, with
// PutObject or, from multipart_threshold on, a multipart upload. Writing a key twice leaves one
// object, so a replay after a crash is idempotent.
//
// THREADING: one S3Sink per host instance; Send is never re-entered. Each instance has its own
// connection (kept alive between batches) and credentials provider.
#include <memory>
#include <string>

#include "plugins/common/s3_client.h"
#include "plugins/common/sink_util.h"
#include "plugins/s3/s3_config.h"
#include "sluice_sink.hpp"

namespace sluice::s3 {
namespace {

class S3Sink final : public sluice::Sink {
 public:
  static sluice::Created<sluice::Sink> Create(const sluice::Options& opts, sluice::Host host) {
    S3Config config;
    std::string content_type;
    if (Status st = ParseS3Config(opts, &config, &content_type); !st.ok()) {
      return sluice::Created<sluice::Sink>::Error(st.message());
    }
    Result<std::unique_ptr<S3Client>> client = S3Client::Create(config);
    if (!client.ok()) {
      return sluice::Created<sluice::Sink>::Error(client.status().message());
    }
    auto sink = std::make_unique<S3Sink>();
    sink->client_ = std::move(client).value();
    sink->content_type_ = content_type;
    sink->host_ = host;
    return sink;
  }

  sluice::Outcome Send(const sluice::Batch& batch) override {
    ContentHeaders ch = ContentHeadersFor(batch.content_encoding(), content_type_);
    S3Client::PutOptions po{ch.type, ch.encoding, {}};
    if (!batch.key_id().empty()) {
      // Which master key opens the object, readable without downloading it (HeadObject).
      po.metadata.emplace_back("sluice-encryption", "aes-256-gcm-envelope");
      po.metadata.emplace_back("sluice-key-id", std::string(batch.key_id()));
    }
    std::string_view data = batch.object();
    S3Outcome o = client_->Put(batch.object_key(), data, po);
    if (o.ok()) {
      host_.Count("objects_written", 1);
      host_.Count("bytes_written", data.size());
      return sluice::Outcome::Ok();
    }
    host_.Count(o.action == S3Outcome::Action::kReject ? "requests_rejected" : "requests_failed",
                1);
    if (o.loud && (sink::LoudAttempt(batch.attempt()))) {
      // Our configuration is wrong (credentials, bucket, policy): retried, never spilled.
      host_.Log(SLUICE_LOG_ERROR, "s3: bucket " + client_->config().bucket + " refuses writes (" +
                                      o.error_code + ": " + o.error_message +
                                      "); retrying until the configuration is fixed");
    }
    if (o.action == S3Outcome::Action::kReject)
      return sluice::Outcome::Reject(o.error_code, o.error_message);
    // The upload reached the server and its answer was lost: the object may be stored.
    if (o.maybe_done) return sluice::Outcome::RetryMaybeDelivered(o.error_code, o.error_message);
    return sluice::Outcome::Retry(o.error_code, o.error_message, o.retry_after_ms);
  }

  bool Healthcheck(std::string* error) override {
    S3Outcome o = client_->HeadBucket();
    if (o.ok()) return true;
    *error = "s3: HEAD bucket " + client_->config().bucket + ": " + o.error_code + ": " +
             o.error_message;
    return false;
  }

 private:
  std::unique_ptr<S3Client> client_;
  std::string content_type_;
  sluice::Host host_;
};

}  // namespace
}  // namespace sluice::s3

// The delivery policy: Firehose's S3 destination: 1-128 MiB (5), 0-900 s (300), retried up to 24 h.
static constexpr sluice_delivery_policy kS3Policy = sluice::MakePolicy(
    {1 << 20, 5 << 20, 128 << 20}, {0, 300000, 900000}, {86400000, 86400000}, "s3-failed");

SLUICE_EXPORT_SINK_WITH_POLICY(
    sluice::s3::S3Sink, "s3", SLUICE_KIND_OBJECT_SINK, SLUICE_FLAG_IDEMPOTENT_KEYS,
    sluice::s3::kS3Options, "1.0",
    "Writes each object to Amazon S3 or an S3-compatible service (PutObject or "
    "multipart upload, SigV4, SSE-S3/SSE-KMS, storage class, tags).",
    &kS3Policy)
