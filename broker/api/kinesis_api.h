// The Kinesis Data Streams API (protocol awsJson1.1) over the embedded broker, so that stock AWS
// SDK and CLI clients work against sluice with only an endpoint override.
//
// KinesisApi is the transport-free part: one call per request, X-Amz-Target operation name plus
// JSON body in, HTTP status plus JSON body out, Kinesis error names on failure. KinesisApiServer
// puts it behind the HTTP server (HTTP/1.1 and h2c) with optional SigV4 verification.
//
// THREADING: a KinesisApi is used by one thread at a time. KinesisApiServer runs on the loop's
// thread, except the calls that put records (PutRecords, PutRecord, Firehose PutRecordBatch and
// PutRecord): with `workers` > 0 those are verified and appended on worker threads, each with
// its own KinesisApi and FirehoseApi, and answered on the loop. A put is answered only once its
// records are durable under the stream's fsync policy: until then its answer is held by a commit
// thread (durable_acks.h). OWNERSHIP: the loop and the broker are not owned and must outlive the
// server; the server must live until Stop()'s callback has run.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <uv.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "broker/api/api_token.h"
#include "broker/api/audit_log.h"
#include "broker/api/aws_json.h"
#include "broker/broker.h"
#include "broker/iterator.h"
#include "core/access_policy.h"
#include "core/clock.h"
#include "core/http/http_server.h"
#include "core/status.h"

namespace sluice::broker::api {

class DeliveryController;
class DurableAcks;
struct DurableWait;
class FirehoseApi;
class SigV4Verifier;
class Subscriptions;

struct ApiCredential {
  std::string access_key_id;
  std::string secret_access_key;  // never logged
  // What the credential may do (core/access_policy.h); null: everything.
  std::shared_ptr<const AccessPolicy> policy;
  // Set: temporary credentials, whose requests must carry this x-amz-security-token.
  std::string session_token;  // never logged
};

// Who made a verified request: the access key id its signature used and that key's policy.
struct ApiCaller {
  std::string_view access_key_id;
  const AccessPolicy* policy = nullptr;  // null: everything allowed
};

// AWS's answer to a call the caller's policy does not allow, or nullopt when it does. `action`
// as "kinesis:GetRecords"; `arn` and `name` as AccessPolicy::Evaluate takes them.
std::optional<std::string> DeniedMessage(const ApiCaller& caller, std::string_view account_id,
                                         std::string_view action, std::string_view arn,
                                         std::string_view name);

// A configured delivery stream, as the Firehose API lists and describes it (firehose_api.h).
struct FirehoseDelivery {
  std::string name;
  std::string source_stream;  // empty: DirectPut
};

// The largest record the API takes (data plus partition key), as UpdateMaxRecordSize and
// DescribeStreamSummary speak of it.
inline constexpr int kMaxRecordSizeKiB = 1024;

// The internal stream behind a Direct PUT delivery is "_firehose.<delivery name>".
inline constexpr std::string_view kDirectPutStreamPrefix = "_firehose.";

struct ApiOptions {
  // The broker's data directory: shard-iterator tokens are signed with its iterator.key, so
  // iterators stay valid across a restart.
  std::filesystem::path data_dir;
  std::string listen = "127.0.0.1:4567";  // host:port; [v6]:port; port 0 picks a free one
  // When non-empty, every request must carry a valid SigV4 signature by one of these.
  std::vector<ApiCredential> credentials;
  size_t max_body_size = 8 << 20;  // PutRecords: 5 MiB of data is ~6.7 MiB as base64
  uint64_t idle_timeout_ms = 120000;
  uint64_t request_timeout_ms = 30000;
  int max_connections = 2048;  // more are closed as soon as they are accepted
  // Set: the listener serves TLS only (core/http/tls_server.h); shared so a reload reaches it.
  std::shared_ptr<http::TlsServerContext> tls;
  // Set: every call is written to this audit log (audit_log.h), denied and failed ones too.
  std::shared_ptr<AuditLog> audit;
  std::string region = "us-east-1";         // in ARNs
  std::string account_id = "000000000000";  // in ARNs
  // Capacity mode of streams created without StreamModeDetails. ON_DEMAND maps to kUnlimited,
  // PROVISIONED to kProvisioned (Kinesis's per-shard limits).
  CapacityMode default_mode = CapacityMode::kUnlimited;
  int max_shards_per_stream = 10000;
  int64_t max_signature_skew_ms = 15 * 60 * 1000;
  Clock* clock = Clock::Real();                       // not owned
  std::vector<FirehoseDelivery> firehose_deliveries;  // the Firehose_20150804 operations
  // Threads that verify and append the calls that put records, off the event loop; 0: on it.
  int workers = 0;
  // Whether the internal streams behind Direct PUT deliveries ("_firehose.<name>") are reachable.
  // The public API hides them (Firehose's limits apply to their writers); the admin endpoint's
  // instance shows them to the operator's `sluice streams` and `sluice cat`.
  bool internal_streams = false;
  // Runs the delivery streams CreateDeliveryStream makes and keeps their state
  // (firehose_controller.h); not owned. Null: created streams only take puts (no destination is
  // applied) and UpdateDestination, tags and encryption are refused.
  DeliveryController* delivery_controller = nullptr;
};

// Where a SubscribeToShard starts, once the request is validated.
struct SubscriptionStart {
  std::string stream;
  std::string consumer;
  std::string consumer_arn;
  uint32_t shard_index = 0;
  uint64_t offset = 0;
};

class KinesisApi final {
 public:
  static Result<std::unique_ptr<KinesisApi>> Create(Broker* broker, const ApiOptions& options);

  // `operation` is the part after "Kinesis_20131202."; `body` is parsed in place. `caller`
  // (null: unrestricted) is checked against the call's stream or consumer before it runs:
  // AccessDeniedException when its policy does not allow it.
  void Handle(std::string_view operation, std::string& body, ApiReply* reply,
              const ApiCaller* caller = nullptr);
  // Validates a SubscribeToShard request. False (and *reply holds the error) when it fails.
  bool PrepareSubscribe(std::string& body, ApiReply* reply, SubscriptionStart* start,
                        const ApiCaller* caller = nullptr);

  // Internal: one parsed request with its output writer (see kinesis_json.h).
  struct Call;

 private:
  KinesisApi(Broker* broker, const ApiOptions& options, TokenCodec tokens,
             std::unique_ptr<IteratorCodec> iterators);

  using Tags = std::map<std::string, std::string>;
  struct StreamMeta {
    int64_t created_ms = 0;
    Tags tags;
    std::map<std::string, int64_t> consumer_created_ms;
    std::set<std::string> shard_metrics;  // enhanced monitoring, as Kinesis names them
    std::string policy;                   // resource policy (a JSON document); empty: none
    std::map<std::string, Tags> consumer_tags;
    std::map<std::string, std::string> consumer_policies;
  };
  // A stream, or one of its registered consumers, named by a ResourceARN.
  struct Resource {
    Stream* stream = nullptr;
    std::string consumer;  // empty: the stream itself
  };

  // Operations (kinesis_streams.cc, kinesis_records.cc, kinesis_consumers.cc).
  void CreateStream(Call& c);
  void DeleteStream(Call& c);
  void DescribeStream(Call& c);
  void DescribeStreamSummary(Call& c);
  void ListStreams(Call& c);
  void ListShards(Call& c);
  void SplitShard(Call& c);
  void MergeShards(Call& c);
  void UpdateShardCount(Call& c);
  void ChangeRetention(Call& c, bool increase);
  void AddTagsToStream(Call& c);
  void RemoveTagsFromStream(Call& c);
  void ListTagsForStream(Call& c);
  void PutRecord(Call& c);
  void PutRecords(Call& c);
  void GetShardIterator(Call& c);
  void GetRecords(Call& c);
  void RegisterStreamConsumer(Call& c);
  void DescribeStreamConsumer(Call& c);
  void ListStreamConsumers(Call& c);
  void DeregisterStreamConsumer(Call& c);
  void SubscribeToShard(Call& c, SubscriptionStart* start);
  // Account, capacity mode, monitoring and record size (kinesis_account.cc).
  void DescribeLimits(Call& c);
  void DescribeAccountSettings(Call& c);
  void UpdateStreamMode(Call& c);
  void EnableEnhancedMonitoring(Call& c);
  void DisableEnhancedMonitoring(Call& c);
  void ChangeMonitoring(Call& c, bool enable);
  void UpdateMaxRecordSize(Call& c);
  // Encryption at rest (kinesis_encryption.cc).
  void StartStreamEncryption(Call& c);
  void StopStreamEncryption(Call& c);
  void ChangeEncryption(Call& c, bool start);
  // Tags and resource policies of streams and consumers (kinesis_resources.cc).
  void TagResource(Call& c);
  void UntagResource(Call& c);
  void ListTagsForResource(Call& c);
  void PutResourcePolicy(Call& c);
  void GetResourcePolicy(Call& c);
  void DeleteResourcePolicy(Call& c);

  // Shared helpers.
  void Finish(Call& c, ApiReply* reply);  // the answer, or the error document
  // The ARN the parsed request names (*arn, "" for none) and, unless `caller` is null or its
  // policy allows kinesis:<operation> on it, fails the call with AccessDeniedException (false).
  bool Authorize(Call& c, std::string_view operation, const ApiCaller* caller, std::string* arn);
  // The resource policy attached to `stream` (or to its consumer `consumer`), parsed once per
  // text; null when none.
  const AccessPolicy* ResourcePolicyOf(const std::string& stream, std::string_view consumer);
  Status LoadMeta();  // kinesis_meta.cc
  void SaveMeta();
  // Several instances serve one data directory (the listener's, its workers', the admin
  // endpoint's), each with its copy of the metadata: one that saved bumps a process-wide
  // generation, and the others load the file again before their next call.
  void RefreshMeta();
  Stream* ResolveStream(Call& c);  // StreamName and/or StreamARN; records the error
  // ConsumerARN, or StreamARN and ConsumerName, of a registered consumer; records the error.
  bool FindConsumer(Call& c, Stream** stream, std::string* consumer);
  // The stream or registered consumer a ResourceARN names (kinesis_consumers.cc); records the
  // error and returns false when there is none.
  bool ResolveResource(Call& c, Resource* out);
  // Reads a Tags map (TagResource, RegisterStreamConsumer) into *out, collecting Kinesis's length
  // checks; false (and the call failed) on a value that is not a string.
  static bool ReadTagMap(Call& c, const rapidjson::Value* tags, Tags* out);
  // An internal stream this instance does not expose (see ApiOptions::internal_streams).
  bool Hidden(std::string_view stream) const;
  StreamMeta& Meta(const std::string& stream);
  std::string StreamArn(std::string_view name) const;
  std::string ConsumerArn(std::string_view stream, std::string_view consumer, int64_t ms) const;
  void WriteShard(Call& c, Stream* s, const ShardInfo& info);

  Broker* broker_;
  ApiOptions options_;
  TokenCodec tokens_;                         // pagination NextTokens
  std::unique_ptr<IteratorCodec> iterators_;  // shard iterators (the broker's codec)
  std::map<std::string, StreamMeta, std::less<>> meta_;
  // Resource policy texts, parsed (ResourcePolicyOf).
  std::map<std::string, std::shared_ptr<const AccessPolicy>, std::less<>> parsed_policies_;
  uint64_t meta_generation_ = 0;  // the generation meta_ was loaded or saved at
  std::string scratch_;           // reused by PutRecords and GetRecords
  std::vector<PutRecordIn> put_in_;
  std::vector<PutRecordOut> put_out_;
  ReadBatch read_batch_;
  std::unique_ptr<rapidjson::StringBuffer> out_buffer_;  // JSON answers, reused
};

// Held shared while a worker thread puts records through a Stream* it looked up (and while the
// commit thread of durable_acks.h syncs one), and exclusively while an API instance (the
// listener's or the admin endpoint's) deletes a stream, so a stream is never freed under a put
// in flight.
std::shared_mutex& StreamRemovalLock();

class KinesisApiServer final {
 public:
  // Refuses a non-loopback `listen` when no credentials are configured.
  static Result<std::unique_ptr<KinesisApiServer>> Create(uv_loop_t* loop, Broker* broker,
                                                          const ApiOptions& options);
  ~KinesisApiServer();
  Status Start();
  void Stop(std::function<void()> on_closed);
  int port() const;  // the bound port, after Start()

 private:
  class Workers;
  KinesisApiServer();
  void Serve(http::HttpRequest& request, http::HttpResponse* response);
  // Verifies the request and answers it with `kinesis` or `firehose` (this thread's instances).
  // *wait: what the answer of a put must wait for before it goes out (durable_acks.h).
  void Answer(KinesisApi* kinesis, FirehoseApi* firehose, http::HttpRequest& request,
              http::HttpResponse* response, DurableWait* wait);

  ApiOptions options_;
  std::unique_ptr<KinesisApi> api_;
  std::unique_ptr<FirehoseApi> firehose_;
  std::unique_ptr<Subscriptions> subscriptions_;
  std::unique_ptr<SigV4Verifier> verifier_;           // set when credentials are configured
  std::unique_ptr<SigV4Verifier> firehose_verifier_;  // the same, for service "firehose"
  std::unique_ptr<http::HttpServer> http_;
  std::unique_ptr<Workers> workers_;      // set by Start when options.workers > 0
  std::unique_ptr<DurableAcks> durable_;  // set by Start
  uv_loop_t* loop_ = nullptr;
  Broker* broker_ = nullptr;
  uint64_t request_counter_ = 0;
};

// Parses "host:port" or "[v6]:port". Exposed for the daemon's config check.
Status ParseListenAddress(std::string_view listen, std::string* host, int* port);

}  // namespace sluice::broker::api
