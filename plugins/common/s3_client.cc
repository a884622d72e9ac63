#include "plugins/common/s3_client.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "plugins/common/sigv4.h"
#include "plugins/common/xml_text.h"

namespace sluice::s3 {
namespace {

using sink::HttpHeader;

constexpr uint64_t kMinPartSize = 5ull << 20;
constexpr int kMaxParts = 10000;

bool OneOf(std::string_view s, std::initializer_list<std::string_view> set) {
  return std::find(set.begin(), set.end(), s) != set.end();
}

S3Outcome Make(S3Outcome::Action kind, bool loud, std::string code, std::string message,
               uint32_t after = 0) {
  S3Outcome o;
  o.action = kind;
  o.loud = loud;
  o.error_code = std::move(code);
  o.error_message = std::move(message);
  o.retry_after_ms = after;
  return o;
}

}  // namespace

S3Outcome ClassifyS3Response(long status, std::string_view body, std::string_view retry_after) {
  using K = S3Outcome::Action;
  std::string code = sink::XmlText(body, "Code");
  bool error_body = body.find("<Error>") != std::string_view::npos;
  if (status >= 200 && status < 300 && !error_body) return {};
  std::string message = sink::XmlText(body, "Message");
  if (message.empty()) message = "HTTP " + std::to_string(status);
  uint32_t after = sink::RetryAfterMs(retry_after);
  if (!code.empty()) {
    std::string c = "S3." + code;
    if (OneOf(code, {"SlowDown", "InternalError", "RequestTimeout", "ServiceUnavailable",
                     "BadDigest", "XAmzContentSHA256Mismatch", "OperationAborted",
                     "RequestTimeTooSkewed", "Throttling", "ThrottlingException"})) {
      return Make(K::kRetry, false, c, message, after);
    }
    if (OneOf(code,
              {"AccessDenied", "NoSuchBucket", "InvalidAccessKeyId", "SignatureDoesNotMatch",
               "ExpiredToken", "InvalidToken", "TokenRefreshRequired", "AllAccessDisabled",
               "AccountProblem", "AuthorizationHeaderMalformed", "PermanentRedirect",
               "KMS.AccessDeniedException", "KMS.DisabledException", "KMS.NotFoundException"})) {
      return Make(K::kRetry, true, c, message, after);
    }
    if (status >= 500 || status == 408 || status == 429 || (status >= 200 && status < 300)) {
      return Make(K::kRetry, false, c, message, after);  // unknown code, transient status
    }
    if (status == 401 || status == 403) return Make(K::kRetry, true, c, message, after);
    return Make(K::kReject, false, c, message);  // InvalidArgument, EntityTooLarge, ...
  }
  std::string c = "Http." + std::to_string(status);
  if (status >= 500 || status == 408 || status == 429)
    return Make(K::kRetry, false, c, message, after);
  if (status == 401 || status == 403 || status == 404 || status == 301 || status == 307) {
    return Make(K::kRetry, true, c, message, after);
  }
  return Make(K::kReject, false, c, message);
}

ContentHeaders ContentHeadersFor(std::string_view codec, std::string_view base_type) {
  std::string base = base_type.empty() ? "application/octet-stream" : std::string(base_type);
  if (codec == "gzip") return {base, "gzip"};
  if (codec == "zip") return {"application/zip", ""};
  if (codec == "snappy") return {"application/x-snappy-framed", ""};
  if (codec == "hadoop_snappy") return {"application/octet-stream", ""};
  if (codec == "encrypted") return {"application/octet-stream", ""};
  return {base, ""};
}

Result<std::unique_ptr<S3Client>> S3Client::Create(const S3Config& config,
                                                   std::function<std::time_t()> now) {
  if (config.bucket.empty()) return InvalidArgument("bucket must be set");
  if (config.part_size < kMinPartSize) {
    return InvalidArgument("part_size must be at least 5MiB (S3's smallest part)");
  }
  if (config.multipart_threshold < config.part_size) {
    return InvalidArgument("multipart_threshold must be at least part_size");
  }
  if (!config.kms_key_id.empty() && config.sse != "aws:kms") {
    return InvalidArgument("kms_key_id needs server_side_encryption: aws:kms");
  }
  std::unique_ptr<S3Client> c(new S3Client());
  c->config_ = config;
  c->now_ = now ? std::move(now) : [] { return std::time(nullptr); };
  std::string endpoint = config.endpoint;
  if (endpoint.empty()) endpoint = "https://s3." + config.region + ".amazonaws.com";
  size_t sep = endpoint.find("://");
  if (sep == std::string::npos)
    return InvalidArgument("endpoint must start with http:// or https://");
  c->scheme_ = endpoint.substr(0, sep + 3);
  if (c->scheme_ != "http://" && c->scheme_ != "https://") {
    return InvalidArgument("endpoint must start with http:// or https://");
  }
  c->host_ = endpoint.substr(sep + 3);
  while (!c->host_.empty() && c->host_.back() == '/') c->host_.pop_back();
  if (c->host_.empty() || c->host_.find('/') != std::string::npos) {
    return InvalidArgument("endpoint must be scheme://host[:port] without a path");
  }
  if (!config.force_path_style && config.bucket.find('.') != std::string::npos &&
      c->scheme_ == "https://") {
    return InvalidArgument(
        "a bucket name with dots does not match the TLS certificate with virtual-hosted "
        "addressing; set force_path_style: true");
  }
  ASSIGN_OR_RETURN(c->http_, sink::HttpClient::Create(config.http));
  ASSIGN_OR_RETURN(c->creds_, sink::AwsCredentialsProvider::Create(config.credentials));
  return c;
}

std::string S3Client::ObjectUrl(std::string_view key) const {
  std::string path = "/" + sink::UriEncode(key, true);
  if (config_.force_path_style) return scheme_ + host_ + "/" + config_.bucket + path;
  return scheme_ + config_.bucket + "." + host_ + path;
}

void S3Client::AddObjectHeaders(const PutOptions& opts, std::vector<HttpHeader>* h) const {
  h->emplace_back("Content-Type", opts.content_type);
  if (!opts.content_encoding.empty()) h->emplace_back("Content-Encoding", opts.content_encoding);
  for (const auto& [name, value] : opts.metadata) {
    std::string v;
    for (unsigned char c : value) {
      if (c >= 0x20 && c < 0x7f && c != '%') {
        v.push_back(static_cast<char>(c));
      } else {
        char hex[4];
        std::snprintf(hex, sizeof(hex), "%%%02X", c);
        v += hex;
      }
    }
    h->emplace_back("x-amz-meta-" + name, std::move(v));
  }
  if (!config_.sse.empty()) h->emplace_back("x-amz-server-side-encryption", config_.sse);
  if (!config_.kms_key_id.empty()) {
    h->emplace_back("x-amz-server-side-encryption-aws-kms-key-id", config_.kms_key_id);
  }
  if (!config_.storage_class.empty()) h->emplace_back("x-amz-storage-class", config_.storage_class);
  if (!config_.tags.empty()) {
    // Re-encode "k=v&k2=v2" so that any value is valid in the header.
    std::string enc;
    std::string_view t = config_.tags;
    while (!t.empty()) {
      size_t amp = t.find('&');
      std::string_view pair = t.substr(0, amp);
      size_t eq = pair.find('=');
      if (!enc.empty()) enc.push_back('&');
      enc += sink::UriEncode(pair.substr(0, eq), false);
      enc.push_back('=');
      if (eq != std::string_view::npos) enc += sink::UriEncode(pair.substr(eq + 1), false);
      t = amp == std::string_view::npos ? std::string_view() : t.substr(amp + 1);
    }
    h->emplace_back("x-amz-tagging", enc);
  }
}

S3Outcome S3Client::Send(std::string_view method, std::string_view key,
                         std::vector<std::pair<std::string, std::string>> query,
                         std::vector<HttpHeader> headers, std::string_view body,
                         sink::HttpResponse* response) {
  Result<sink::AwsCredentials> creds = creds_->Get();
  if (!creds.ok()) {
    return Make(S3Outcome::Action::kRetry, true, "S3.NoCredentials", creds.status().message());
  }
  sink::SigV4Request req;
  req.method = method;
  std::string host = config_.force_path_style ? host_ : config_.bucket + "." + host_;
  req.path = config_.force_path_style ? "/" + config_.bucket : "";
  if (!key.empty() || !config_.force_path_style) req.path += "/" + sink::UriEncode(key, true);
  req.query = std::move(query);
  req.payload_hash = sink::Sha256Hex(body);
  req.headers = std::move(headers);
  req.headers.emplace_back("Host", host);
  if (method == "PUT" || method == "POST") {
    req.headers.emplace_back("Content-MD5", sink::Md5Base64(body));
  }
  sink::Sign(&req, *creds, {config_.region, "s3", now_()});
  sink::HttpRequest http;
  http.method = method;
  http.url = scheme_ + host + req.path;
  std::string qs = sink::CanonicalQueryString(req.query);
  if (!qs.empty()) http.url += "?" + qs;
  http.headers = std::move(req.headers);
  http.body = body;
  ++requests_;
  Result<sink::HttpResponse> r = http_->Send(http);
  if (!r.ok()) {
    S3Outcome o = Make(r.status().code() == Code::kInvalidArgument ? S3Outcome::Action::kReject
                                                                   : S3Outcome::Action::kRetry,
                       false, "S3.Transport", r.status().message());
    o.maybe_done = o.action == S3Outcome::Action::kRetry && http_->last_failure_sent();
    return o;
  }
  S3Outcome o = ClassifyS3Response(r->status, r->body, r->Header("retry-after"));
  *response = std::move(r).value();
  return o;
}

S3Outcome S3Client::Put(std::string_view key, std::string_view data, const PutOptions& opts) {
  if (key.empty())
    return Make(S3Outcome::Action::kReject, false, "S3.EmptyKey", "empty object key");
  if (key.size() > 1024) {
    return Make(S3Outcome::Action::kReject, false, "S3.KeyTooLong", "object key over 1024 bytes");
  }
  if (data.size() < config_.multipart_threshold) return PutObject(key, data, opts);
  return Multipart(key, data, opts);
}

S3Outcome S3Client::PutObject(std::string_view key, std::string_view data, const PutOptions& opts) {
  std::vector<HttpHeader> h;
  AddObjectHeaders(opts, &h);
  sink::HttpResponse resp;
  return Send("PUT", key, {}, std::move(h), data, &resp);
}

S3Outcome S3Client::Multipart(std::string_view key, std::string_view data, const PutOptions& opts) {
  uint64_t part_size = config_.part_size;
  while ((data.size() + part_size - 1) / part_size > kMaxParts) part_size *= 2;
  std::vector<HttpHeader> h;
  AddObjectHeaders(opts, &h);
  sink::HttpResponse resp;
  S3Outcome o = Send("POST", key, {{"uploads", ""}}, std::move(h), {}, &resp);
  if (!o.ok()) {
    o.maybe_done = false;  // no object before CompleteMultipartUpload
    return o;
  }
  std::string upload_id = sink::XmlText(resp.body, "UploadId");
  if (upload_id.empty()) {
    return Make(S3Outcome::Action::kRetry, false, "S3.NoUploadId",
                "CreateMultipartUpload answered without an UploadId");
  }
  std::string complete = "<CompleteMultipartUpload>";
  int part = 0;
  for (uint64_t off = 0; off < data.size(); off += part_size) {
    ++part;
    std::string_view chunk = data.substr(off, part_size);
    int64_t backoff = config_.part_backoff_ms;
    for (int attempt = 1;; ++attempt) {
      o = Send("PUT", key, {{"partNumber", std::to_string(part)}, {"uploadId", upload_id}}, {},
               chunk, &resp);
      if (o.ok() || o.action == S3Outcome::Action::kReject || o.loud ||
          attempt >= config_.part_attempts) {
        break;
      }
      rng_ ^= rng_ << 13;
      rng_ ^= rng_ >> 7;
      rng_ ^= rng_ << 17;
      int64_t wait =
          std::max<int64_t>(o.retry_after_ms, static_cast<int64_t>(rng_ % (backoff + 1)));
      std::this_thread::sleep_for(std::chrono::milliseconds(wait));
      backoff *= 2;
    }
    if (!o.ok()) {
      o.maybe_done = false;  // a part is not the object
      break;
    }
    std::string etag(resp.Header("etag"));
    if (etag.empty()) {
      o = Make(S3Outcome::Action::kRetry, false, "S3.NoETag",
               "UploadPart answered without an ETag");
      break;
    }
    complete += "<Part><PartNumber>" + std::to_string(part) + "</PartNumber><ETag>" +
                sink::XmlEscape(etag) + "</ETag></Part>";
  }
  if (o.ok()) {
    complete += "</CompleteMultipartUpload>";
    // A 200 answer may still carry an <Error> body; ClassifyS3Response looks for it.
    o = Send("POST", key, {{"uploadId", upload_id}}, {{"Content-Type", "application/xml"}},
             complete, &resp);
    if (o.ok()) return o;
  }
  // Abort, so the parts already stored are not kept (and billed). Its own failure only logs.
  sink::HttpResponse abort_resp;
  S3Outcome a = Send("DELETE", key, {{"uploadId", upload_id}}, {}, {}, &abort_resp);
  if (!a.ok())
    o.error_message += " (abort of upload " + upload_id + " failed: " + a.error_message + ")";
  o.error_message = "multipart part " + std::to_string(part) + ": " + o.error_message;
  return o;
}

S3Outcome S3Client::HeadBucket() {
  sink::HttpResponse resp;
  return Send("HEAD", "", {}, {}, {}, &resp);
}

}  // namespace sluice::s3
