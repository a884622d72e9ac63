#include "plugins/s3/s3_config.h"

#include "plugins/common/http_transport_options.h"

namespace sluice::s3 {

const sluice_option_def kS3Options[] = {
    {"bucket", SLUICE_OPT_STRING, nullptr, "Bucket the objects are written to.", 1, nullptr},
    {"prefix", SLUICE_OPT_STRING, "",
     "Object key prefix; expressions !{timestamp:...}, !{partitionKeyFromQuery:...}; default "
     "YYYY/MM/dd/HH/.",
     0, nullptr},
    {"error_prefix", SLUICE_OPT_STRING, "",
     "Key prefix of error output objects; must contain !{firehose:error-output-type}.", 0, nullptr},
    {"region", SLUICE_OPT_STRING, "us-east-1", "AWS region of the bucket (used in signatures).", 0,
     nullptr},
    {"endpoint", SLUICE_OPT_STRING, "",
     "scheme://host[:port] of an S3-compatible service; empty: https://s3.<region>.amazonaws.com.",
     0, nullptr},
    {"force_path_style", SLUICE_OPT_BOOL, "false",
     "Address objects as endpoint/bucket/key instead of bucket.endpoint/key.", 0, nullptr},
    {"access_key_id", SLUICE_OPT_STRING, nullptr,
     "Access key id; unset: environment, shared credentials file, instance metadata.", 0, nullptr},
    {"secret_access_key", SLUICE_SECRET(SLUICE_OPT_STRING), nullptr,
     "Secret access key (with access_key_id).", 0, nullptr},
    {"session_token", SLUICE_SECRET(SLUICE_OPT_STRING), nullptr,
     "Session token of temporary credentials.", 0, nullptr},
    {"profile", SLUICE_OPT_STRING, nullptr,
     "Profile of the shared credentials file; unset: AWS_PROFILE, else default.", 0, nullptr},
    {"server_side_encryption", SLUICE_OPT_ENUM, "none",
     "Server-side encryption: none, AES256 (SSE-S3) or aws:kms (SSE-KMS).", 0,
     "none|AES256|aws:kms"},
    {"kms_key_id", SLUICE_OPT_STRING, nullptr,
     "KMS key id or ARN for aws:kms; unset: the bucket's default key.", 0, nullptr},
    {"storage_class", SLUICE_OPT_STRING, nullptr,
     "x-amz-storage-class of new objects (STANDARD, STANDARD_IA, GLACIER_IR, ...).", 0, nullptr},
    {"tags", SLUICE_OPT_STRING, nullptr, "Object tags as k1=v1&k2=v2.", 0, nullptr},
    {"content_type", SLUICE_OPT_STRING, "application/octet-stream",
     "Content-Type of uncompressed objects; gzip objects also get Content-Encoding: gzip.", 0,
     nullptr},
    {"multipart_threshold", SLUICE_OPT_SIZE, "16MiB",
     "Objects of this size or more are sent as a multipart upload.", 0, nullptr},
    {"part_size", SLUICE_OPT_SIZE, "8MiB", "Size of multipart parts (at least 5MiB).", 0, nullptr},
    {"part_attempts", SLUICE_OPT_INT, "3",
     "Tries per part before the upload is aborted and the batch retried.", 0, nullptr},
    // The s3 sink's own name for the timeout of a request (the HTTP sinks' is `timeout`).
    {"request_timeout", SLUICE_OPT_DURATION, "300s", "Timeout of one whole request.", 0, nullptr},
    SLUICE_HTTP_TRANSPORT_OPTIONS,
    {nullptr, SLUICE_OPT_STRING, nullptr, nullptr, 0, nullptr},
};

Status ParseS3Config(const sluice::Options& opts, S3Config* c, std::string* content_type) {
  c->bucket = opts.Get("bucket");
  c->region = opts.Get("region", "us-east-1");
  c->endpoint = opts.Get("endpoint");
  c->force_path_style = opts.GetBool("force_path_style");
  c->credentials.access_key_id = opts.Get("access_key_id");
  c->credentials.secret_access_key = opts.Get("secret_access_key");
  c->credentials.session_token = opts.Get("session_token");
  c->credentials.profile = opts.Get("profile");
  std::string sse = opts.Get("server_side_encryption", "none");
  c->sse = sse == "none" ? "" : sse;
  c->kms_key_id = opts.Get("kms_key_id");
  c->storage_class = opts.Get("storage_class");
  c->tags = opts.Get("tags");
  c->multipart_threshold = static_cast<uint64_t>(opts.GetInt("multipart_threshold", 16 << 20));
  c->part_size = static_cast<uint64_t>(opts.GetInt("part_size", 8 << 20));
  c->part_attempts = static_cast<int>(opts.GetInt("part_attempts", 3));
  if (c->part_attempts < 1) {
    return InvalidArgument("part_attempts must be at least 1");
  }
  sink::ReadHttpTransport(opts, 300000, &c->http, "request_timeout");
  *content_type = opts.Get("content_type", "application/octet-stream");
  return Status::Ok();
}

}  // namespace sluice::s3
