// KinesisApiServer: the Kinesis API behind the HTTP server, with optional SigV4 verification.
#include <cinttypes>

#include "broker/api/firehose_api.h"
#include "broker/api/kinesis_api.h"
#include "broker/api/sigv4.h"
#include "broker/api/subscriptions.h"
#include "core/http/local_only.h"
#include "core/log.h"
#include "core/loopback.h"
#include "core/utf8.h"

namespace sluice::broker::api {
namespace {

constexpr std::string_view kTargetPrefix = "Kinesis_20131202.";
constexpr std::string_view kFirehosePrefix = "Firehose_20150804.";

void JsonError(http::HttpResponse* resp, int status, std::string_view type,
               std::string_view message) {
  resp->status = status;
  resp->headers.emplace_back("Content-Type", "application/x-amz-json-1.1");
  resp->headers.emplace_back("x-amzn-ErrorType", std::string(type));
  std::string body = "{\"__type\":\"";
  body.append(type).append("\",\"message\":\"");
  // Messages may quote request bytes (a header value): valid UTF-8, escaped as JSON needs.
  for (char ch : ValidUtf8(message)) {
    if (ch == '"' || ch == '\\') body.push_back('\\');
    if (static_cast<unsigned char>(ch) >= 0x20) body.push_back(ch);
  }
  body.append("\"}");
  resp->body = std::move(body);
}

}  // namespace

Result<std::unique_ptr<KinesisApiServer>> KinesisApiServer::Create(uv_loop_t* loop, Broker* broker,
                                                                   const ApiOptions& options) {
  std::string host;
  int port = 0;
  RETURN_IF_ERROR(ParseListenAddress(options.listen, &host, &port));
  if (options.credentials.empty() && !IsLoopbackHost(host)) {
    return InvalidArgument("broker.api.listen " + options.listen +
                           " is not a loopback address; configure broker.api.auth credentials "
                           "before exposing the API beyond this host");
  }
  for (const ApiCredential& c : options.credentials) {
    if (c.access_key_id.empty() || c.secret_access_key.empty()) {
      return InvalidArgument(
          "broker.api.auth: every credential needs an access key id and a "
          "secret access key");
    }
  }
  std::unique_ptr<KinesisApiServer> self(new KinesisApiServer());
  self->options_ = options;
  ASSIGN_OR_RETURN(self->api_, KinesisApi::Create(broker, options));
  ASSIGN_OR_RETURN(self->firehose_, FirehoseApi::Create(broker, options));
  if (!options.credentials.empty()) {
    std::vector<SigV4Credential> creds;
    for (const ApiCredential& c : options.credentials) {
      creds.push_back({c.access_key_id, c.secret_access_key});
    }
    self->verifier_ = std::make_unique<SigV4Verifier>(creds, "kinesis", options.clock,
                                                      options.max_signature_skew_ms);
    self->firehose_verifier_ = std::make_unique<SigV4Verifier>(
        std::move(creds), "firehose", options.clock, options.max_signature_skew_ms);
  }
  self->subscriptions_ =
      std::make_unique<Subscriptions>(loop, broker, options.clock, SubscriptionOptions{});
  http::HttpServerOptions ho;
  ho.host = host;
  ho.port = port;
  ho.max_body_size = options.max_body_size;
  ho.idle_timeout_ms = options.idle_timeout_ms;
  ho.request_timeout_ms = options.request_timeout_ms;
  KinesisApiServer* raw = self.get();
  ASSIGN_OR_RETURN(
      self->http_,
      http::HttpServer::Create(loop, ho, [raw](http::HttpRequest& req, http::HttpResponse* resp) {
        raw->Serve(req, resp);
      }));
  return self;
}

KinesisApiServer::~KinesisApiServer() = default;

Status KinesisApiServer::Start() {
  RETURN_IF_ERROR(http_->Start());
  SLUICE_LOG(Info, "kinesis api listening")
      .With("listen", options_.listen)
      .With("port", http_->port())
      .With("auth", verifier_ ? "sigv4" : "none");
  return Status::Ok();
}

void KinesisApiServer::Stop(std::function<void()> on_closed) {
  subscriptions_->Close(
      [this, cb = std::move(on_closed)]() mutable { http_->Stop(std::move(cb)); });
}

int KinesisApiServer::port() const { return http_->port(); }

void KinesisApiServer::Serve(http::HttpRequest& req, http::HttpResponse* resp) {
  char id[40];
  snprintf(id, sizeof(id), "%016" PRIx64 "-%08x", ++request_counter_,
           static_cast<unsigned>(options_.clock->NowMs() & 0xffffffff));
  resp->headers.emplace_back("x-amzn-RequestId", id);
  if (req.method != "POST") {
    JsonError(resp, req.method == "GET" && req.target == "/" ? 400 : 404,
              "UnknownOperationException",
              "The Kinesis API takes POST / with an X-Amz-Target header");
    return;
  }
  const std::string* target = req.Header("x-amz-target");
  const bool firehose = target != nullptr && std::string_view(*target).substr(
                                                 0, kFirehosePrefix.size()) == kFirehosePrefix;
  if (!verifier_) {
    // Unauthenticated, so on loopback: refuse what a browser page could have sent.
    if (std::optional<std::string> foreign = http::ForeignBrowserRequest(req)) {
      JsonError(resp, 403, "AccessDeniedException", *foreign);
      return;
    }
  } else {
    std::optional<AuthFailure> fail =
        firehose ? firehose_verifier_->Verify(req) : verifier_->Verify(req);
    if (fail) {
      JsonError(resp, 400, fail->type, fail->message);  // as Kinesis answers JSON requests
      return;
    }
  }
  ApiReply reply;
  if (firehose) {
    firehose_->Handle(std::string_view(*target).substr(kFirehosePrefix.size()), req.body, &reply);
  } else if (target == nullptr ||
             std::string_view(*target).substr(0, kTargetPrefix.size()) != kTargetPrefix) {
    JsonError(resp, 400, "UnknownOperationException",
              target ? "Unknown operation target '" + *target + "'"
                     : std::string("Missing X-Amz-Target header"));
    return;
  } else if (std::string_view operation = std::string_view(*target).substr(kTargetPrefix.size());
             operation == "SubscribeToShard") {
    SubscriptionStart start;
    if (api_->PrepareSubscribe(req.body, &reply, &start) &&
        subscriptions_->Start(start, resp, &reply)) {
      return;  // streamed
    }
  } else {
    api_->Handle(operation, req.body, &reply);
  }
  resp->status = reply.status;
  resp->headers.emplace_back("Content-Type", "application/x-amz-json-1.1");
  if (!reply.error_type.empty()) resp->headers.emplace_back("x-amzn-ErrorType", reply.error_type);
  resp->body = std::move(reply.body);
}

}  // namespace sluice::broker::api
