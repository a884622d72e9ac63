// KinesisApiServer: the Kinesis API behind the HTTP server, with optional SigV4 verification.
//
// The calls that put records are most of the work of a central daemon fed by a fleet: the body's
// SHA-256 (SigV4), its JSON, base64 and the appends. With `workers`, they run on that many
// threads (each with its own KinesisApi and FirehoseApi, whose scratch buffers are per
// instance) while the loop goes on reading requests; the answers come back to the loop through
// an async handle and complete the deferred HTTP responses. Everything else stays on the loop.
//
// A put is answered once its records are durable (durable_acks.h): an answer that would come
// before the stream's group commit covers its records is held, off the loop, until it does.
#include <cinttypes>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "broker/api/cbor_transcode.h"
#include "broker/api/durable_acks.h"
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

// Turns a JSON answer into its CBOR form (same status and x-amzn-ErrorType).
void ToCbor(http::HttpResponse* resp) {
  std::string cbor;
  if (Status st = JsonToCbor(resp->body, &cbor); !st.ok()) {
    // Our own JSON always converts: reaching this is a bug, answered as one.
    SLUICE_LOG(Error, "kinesis api: answer not convertible to CBOR").With("error", st.message());
    std::erase_if(resp->headers, [](const auto& h) {
      return h.first == "Content-Type" || h.first == "x-amzn-ErrorType";
    });
    JsonError(resp, 500, "InternalFailure", "The answer could not be encoded as CBOR.");
    cbor.clear();
    (void)JsonToCbor(resp->body, &cbor);
  }
  resp->body = std::move(cbor);
  for (auto& [name, value] : resp->headers) {
    if (name == "Content-Type") value = std::string(kCborContentType);
  }
}

// Operations run on a worker: they put records and touch nothing the loop owns.
bool PutsRecords(bool firehose, std::string_view operation) {
  if (firehose) return operation == "PutRecordBatch" || operation == "PutRecord";
  return operation == "PutRecords" || operation == "PutRecord";
}

}  // namespace

std::shared_mutex& StreamRemovalLock() {
  static std::shared_mutex mu;
  return mu;
}

class KinesisApiServer::Workers {
 public:
  struct Slot {
    std::unique_ptr<KinesisApi> kinesis;
    std::unique_ptr<FirehoseApi> firehose;
  };
  using Job = std::function<void(Slot&)>;

  static Result<std::unique_ptr<Workers>> Create(uv_loop_t* loop, Broker* broker,
                                                 const ApiOptions& options) {
    std::unique_ptr<Workers> w(new Workers());
    for (int i = 0; i < options.workers; ++i) {
      Slot slot;
      ASSIGN_OR_RETURN(slot.kinesis, KinesisApi::Create(broker, options));
      ASSIGN_OR_RETURN(slot.firehose, FirehoseApi::Create(broker, options));
      w->slots_.push_back(std::move(slot));
    }
    if (int rc = uv_async_init(loop, &w->async_, OnAsync); rc != 0) {
      return Internal(std::string("uv_async_init: ") + uv_strerror(rc));
    }
    w->async_.data = w.get();
    for (Slot& slot : w->slots_) {
      w->threads_.emplace_back([raw = w.get(), &slot] { raw->Run(slot); });
    }
    return w;
  }

  ~Workers() { Join(); }

  void Submit(Job job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
  }

  // From a worker: the answer goes to the loop, which completes the response.
  void Answer(std::shared_ptr<http::HttpResponder> responder, http::HttpResponse response) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      answers_.emplace_back(std::move(responder), std::move(response));
    }
    uv_async_send(&async_);
  }

  // Runs the jobs already queued, answers them, then closes the async handle; `on_closed` runs
  // on the loop once it is closed.
  void Stop(std::function<void()> on_closed) {
    Join();
    Deliver();
    on_closed_ = std::move(on_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), [](uv_handle_t* h) {
      auto* self = static_cast<Workers*>(h->data);
      if (self->on_closed_) self->on_closed_();
    });
  }

 private:
  Workers() = default;

  void Run(Slot& slot) {
    while (true) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stopping, and nothing left
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job(slot);
    }
  }

  void Join() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

  void Deliver() {
    std::vector<std::pair<std::shared_ptr<http::HttpResponder>, http::HttpResponse>> ready;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ready.swap(answers_);
    }
    for (auto& [responder, response] : ready) responder->Complete(std::move(response));
  }

  static void OnAsync(uv_async_t* h) { static_cast<Workers*>(h->data)->Deliver(); }

  uv_async_t async_;
  std::vector<Slot> slots_;  // one per thread; never resized once threads run
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  std::vector<std::pair<std::shared_ptr<http::HttpResponder>, http::HttpResponse>> answers_;
  std::function<void()> on_closed_;
};

KinesisApiServer::KinesisApiServer() = default;

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
      creds.push_back({c.access_key_id, c.secret_access_key, c.session_token});
    }
    self->verifier_ = std::make_unique<SigV4Verifier>(creds, "kinesis", options.clock,
                                                      options.max_signature_skew_ms);
    self->firehose_verifier_ = std::make_unique<SigV4Verifier>(
        std::move(creds), "firehose", options.clock, options.max_signature_skew_ms);
  }
  self->subscriptions_ =
      std::make_unique<Subscriptions>(loop, broker, options.clock, SubscriptionOptions{});
  if (options.workers < 0 || options.workers > 64) {
    return InvalidArgument("broker.api.workers must be 0..64, not " +
                           std::to_string(options.workers));
  }
  self->loop_ = loop;
  self->broker_ = broker;
  http::HttpServerOptions ho;
  ho.host = host;
  ho.port = port;
  ho.max_body_size = options.max_body_size;
  ho.idle_timeout_ms = options.idle_timeout_ms;
  ho.request_timeout_ms = options.request_timeout_ms;
  ho.max_connections = options.max_connections;
  ho.tls = options.tls;
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
  // Made once listening: a server that never started has no async handle on the loop to close.
  ASSIGN_OR_RETURN(
      durable_, DurableAcks::Create(loop_, broker_, [](http::HttpResponse* r, const Status& st) {
        // The records were appended but not made durable: the client must put them again.
        bool cbor = false;
        for (const auto& [name, value] : r->headers) {
          if (name == "Content-Type" && IsCborContentType(value)) cbor = true;
        }
        std::erase_if(r->headers, [](const auto& h) { return h.first != "x-amzn-RequestId"; });
        JsonError(r, 500, "InternalFailure",
                  "The records could not be made durable: " + st.message());
        if (cbor) ToCbor(r);
      }));
  if (options_.workers > 0) {
    ASSIGN_OR_RETURN(workers_, Workers::Create(loop_, broker_, options_));
  }
  SLUICE_LOG(Info, "kinesis api listening")
      .With("listen", options_.listen)
      .With("port", http_->port())
      .With("auth", verifier_ ? "sigv4" : "none")
      .With("tls", options_.tls ? "on" : "off")
      .With("workers", options_.workers);
  return Status::Ok();
}

void KinesisApiServer::Stop(std::function<void()> on_closed) {
  auto rest = [this, cb = std::move(on_closed)]() mutable {
    subscriptions_->Close([this, cb = std::move(cb)]() mutable { http_->Stop(std::move(cb)); });
  };
  // The held answers after the workers (which may hold more), before the connections close.
  auto after_workers = [this, rest = std::move(rest)]() mutable {
    if (durable_) {
      durable_->Stop(std::move(rest));
    } else {
      rest();
    }
  };
  // The workers first: the puts they have taken are answered while connections are still open.
  if (workers_) {
    workers_->Stop(std::move(after_workers));
  } else {
    after_workers();
  }
}

int KinesisApiServer::port() const { return http_->port(); }

void KinesisApiServer::Serve(http::HttpRequest& req, http::HttpResponse* resp) {
  char id[40];
  snprintf(id, sizeof(id), "%016" PRIx64 "-%08x", ++request_counter_,
           static_cast<unsigned>(options_.clock->NowMs() & 0xffffffff));
  const std::string* target = req.Header("x-amz-target");
  if (workers_ && req.method == "POST" && target != nullptr) {
    std::string_view t = *target;
    bool firehose = t.substr(0, kFirehosePrefix.size()) == kFirehosePrefix;
    bool kinesis = t.substr(0, kTargetPrefix.size()) == kTargetPrefix;
    std::string_view op = t.substr(firehose ? kFirehosePrefix.size() : kTargetPrefix.size());
    if ((firehose || kinesis) && PutsRecords(firehose, op)) {
      auto moved = std::make_shared<http::HttpRequest>(std::move(req));
      resp->defer = [this, moved, rid = std::string(id)](std::shared_ptr<http::HttpResponder> r) {
        workers_->Submit([this, moved, rid, r = std::move(r)](Workers::Slot& slot) {
          http::HttpResponse out;
          out.headers.emplace_back("x-amzn-RequestId", rid);
          DurableWait wait;
          {
            std::shared_lock<std::shared_mutex> lock(StreamRemovalLock());
            Answer(slot.kinesis.get(), slot.firehose.get(), *moved, &out, &wait);
          }
          if (wait.stream.empty()) {
            workers_->Answer(r, std::move(out));
          } else {
            durable_->Hold(std::move(wait), std::move(r), std::move(out));
          }
        });
      };
      return;
    }
  }
  resp->headers.emplace_back("x-amzn-RequestId", id);
  DurableWait wait;
  Answer(api_.get(), firehose_.get(), req, resp, &wait);
  if (!wait.stream.empty()) {
    auto held = std::make_shared<http::HttpResponse>(std::move(*resp));
    *resp = http::HttpResponse();
    resp->defer = [this, held, wait = std::move(wait)](std::shared_ptr<http::HttpResponder> r) {
      durable_->Hold(wait, std::move(r), std::move(*held));
    };
  }
}

void KinesisApiServer::Answer(KinesisApi* kinesis, FirehoseApi* firehose_api,
                              http::HttpRequest& req, http::HttpResponse* resp, DurableWait* wait) {
  // What the audit log says of this call, filled in as it is served and written at the end.
  std::string audit_action, audit_resource;
  std::string_view audit_principal = verifier_ ? "unauthenticated" : "anonymous";
  int64_t audit_records = -1;
  struct AuditAtEnd {
    KinesisApiServer* server;
    http::HttpRequest& req;
    http::HttpResponse* resp;
    std::string& action;
    std::string& resource;
    std::string_view& principal;
    int64_t& records;
    ~AuditAtEnd() {
      AuditLog* log = server->options_.audit.get();
      if (log == nullptr) return;
      AuditEntry e;
      e.time_ms = server->options_.clock->NowMs();
      std::string_view result = "ok";
      for (const auto& [k, v] : resp->headers) {
        if (k == "x-amzn-RequestId") e.request_id = v;
        if (k == "x-amzn-ErrorType") result = v;
      }
      e.source = req.peer;
      e.principal = principal;
      e.action = action.empty() ? std::string_view("unknown") : std::string_view(action);
      e.resource = resource;
      e.result = result;
      e.status = resp->stream ? 200 : resp->status;
      e.tls = server->options_.tls != nullptr;
      e.records = records;
      log->Record(e);
    }
  } audit_at_end{this, req, resp, audit_action, audit_resource, audit_principal, audit_records};
  // A CBOR request (the AWS SDK for Java's default) is verified as it came, then served as JSON
  // and answered in CBOR, errors too (cbor_transcode.h).
  const std::string* content_type = req.Header("content-type");
  const bool cbor = content_type != nullptr && IsCborContentType(*content_type);
  auto answer_json = [&] {
    if (req.method != "POST") {
      JsonError(resp, req.method == "GET" && req.target == "/" ? 400 : 404,
                "UnknownOperationException",
                "The Kinesis API takes POST / with an X-Amz-Target header");
      return;
    }
    const std::string* target = req.Header("x-amz-target");
    const bool firehose = target != nullptr && std::string_view(*target).substr(
                                                   0, kFirehosePrefix.size()) == kFirehosePrefix;
    if (target != nullptr) {
      std::string_view t = *target;
      if (firehose) {
        audit_action = "firehose:" + std::string(t.substr(kFirehosePrefix.size()));
      } else if (t.substr(0, kTargetPrefix.size()) == kTargetPrefix) {
        audit_action = "kinesis:" + std::string(t.substr(kTargetPrefix.size()));
      }
    }
    ApiCaller caller;
    const ApiCaller* who = nullptr;  // unrestricted
    if (!verifier_) {
      // Unauthenticated, so on loopback: refuse what a browser page could have sent.
      if (std::optional<std::string> foreign = http::ForeignBrowserRequest(req)) {
        JsonError(resp, 403, "AccessDeniedException", *foreign);
        return;
      }
    } else {
      size_t which = 0;
      std::optional<AuthFailure> fail =
          firehose ? firehose_verifier_->Verify(req, &which) : verifier_->Verify(req, &which);
      if (fail) {
        JsonError(resp, 400, fail->type, fail->message);  // as Kinesis answers JSON requests
        return;
      }
      const ApiCredential& cred = options_.credentials[which];
      audit_principal = cred.access_key_id;
      caller.access_key_id = cred.access_key_id;
      caller.policy = cred.policy.get();
      who = &caller;
    }
    if (cbor) {
      std::string json;
      if (Status st = CborToJson(req.body, &json); !st.ok()) {
        JsonError(resp, 400, "SerializationException", st.message());
        return;
      }
      req.body = std::move(json);
    }
    ApiReply reply;
    if (firehose) {
      firehose_api->Handle(std::string_view(*target).substr(kFirehosePrefix.size()), req.body,
                           &reply, who);
    } else if (target == nullptr ||
               std::string_view(*target).substr(0, kTargetPrefix.size()) != kTargetPrefix) {
      JsonError(resp, 400, "UnknownOperationException",
                target ? "Unknown operation target '" + *target + "'"
                       : std::string("Missing X-Amz-Target header"));
      return;
    } else if (std::string_view operation = std::string_view(*target).substr(kTargetPrefix.size());
               operation == "SubscribeToShard") {
      // Only on the loop: Serve never sends it to a worker.
      SubscriptionStart start;
      bool started = kinesis->PrepareSubscribe(req.body, &reply, &start, who) &&
                     subscriptions_->Start(start, resp, &reply, cbor);
      audit_resource = reply.resource;
      if (started) return;  // streamed
    } else {
      kinesis->Handle(operation, req.body, &reply, who);
    }
    if (audit_resource.empty()) audit_resource = std::move(reply.resource);
    audit_records = reply.records;
    wait->stream = std::move(reply.durable_stream);
    wait->generation = reply.durable_generation;
    resp->status = reply.status;
    resp->headers.emplace_back("Content-Type", "application/x-amz-json-1.1");
    if (!reply.error_type.empty()) resp->headers.emplace_back("x-amzn-ErrorType", reply.error_type);
    resp->body = std::move(reply.body);
  };
  answer_json();
  if (cbor && !resp->stream) ToCbor(resp);
}

}  // namespace sluice::broker::api
