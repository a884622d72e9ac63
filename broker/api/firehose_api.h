// The Firehose API (Firehose_20150804, protocol awsJson1.1) on the broker's API listener, so that
// stock AWS SDK and CLI Firehose clients can put records into sluice's delivery streams.
//
// A DirectPut delivery stream's records are appended to an internal broker stream
// (DirectPutStreamName(name)) before PutRecord / PutRecordBatch answer; the delivery stream of the
// same name (a `deliveries:` entry with `direct_put: true`) reads that stream as its consumer, so
// an accepted record is as durable as any other broker record and replayable until delivered.
// Delivery streams that read a broker stream (KinesisStreamAsSource) are listed and described but
// take no puts.
//
// With ApiOptions::delivery_controller set, CreateDeliveryStream applies the request's destination
// configuration (firehose_destinations.h): the daemon runs it as a delivery and keeps it across
// restarts; UpdateDestination, tags and encryption state go through it too. Server-side
// encryption (Start/StopDeliveryStreamEncryption) is the encryption at rest of the internal stream
// (firehose_encryption.cc).
//
// THREADING: loop thread only (the handler runs there). OWNERSHIP: the broker is not owned and
// must outlive the FirehoseApi.
#pragma once

#include <rapidjson/stringbuffer.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/api/firehose_controller.h"
#include "broker/api/kinesis_api.h"
#include "broker/broker.h"
#include "core/status.h"

namespace sluice::broker::api {

// Firehose's PutRecord / PutRecordBatch limits (not adjustable in Firehose either).
inline constexpr size_t kFirehoseMaxRecordBytes = 1000 * 1024;     // before base64
inline constexpr size_t kFirehoseMaxBatchRecords = 500;            // per PutRecordBatch
inline constexpr size_t kFirehoseMaxBatchBytes = 4 * 1024 * 1024;  // data of one batch

// The internal broker stream behind a DirectPut delivery stream.
std::string DirectPutStreamName(std::string_view delivery);

// Opens (creating on first use) the internal stream of DirectPut delivery stream `delivery` with
// `shards` shards (24 h retention, as Firehose keeps undelivered direct puts), encrypted at rest
// as `encryption` asks when it creates it (an existing stream keeps its own).
Result<Stream*> OpenDirectPutStream(Broker* broker, std::string_view delivery, int shards,
                                    const StreamEncryption& encryption = {});

class FirehoseApi final {
 public:
  // `options.firehose_deliveries` are the configured delivery streams: they are in use and cannot
  // be deleted through the API.
  static Result<std::unique_ptr<FirehoseApi>> Create(Broker* broker, const ApiOptions& options);

  // `operation` is the part after "Firehose_20150804."; `body` is parsed in place. `caller`
  // (null: unrestricted) is checked against the delivery stream before the call runs.
  void Handle(std::string_view operation, std::string& body, ApiReply* reply,
              const ApiCaller* caller = nullptr);

  struct Call;  // one request being served (firehose_api.cc)

 private:
  FirehoseApi(Broker* broker, const ApiOptions& options);

  // firehose_manage.cc
  void CreateDeliveryStream(Call& c);
  void DeleteDeliveryStream(Call& c);
  void DescribeDeliveryStream(Call& c);
  void UpdateDestination(Call& c);
  // firehose_tags.cc
  void TagDeliveryStream(Call& c);
  void UntagDeliveryStream(Call& c);
  void ListTagsForDeliveryStream(Call& c);
  // firehose_encryption.cc
  void StartDeliveryStreamEncryption(Call& c);
  void StopDeliveryStreamEncryption(Call& c);
  void ChangeEncryption(Call& c, bool start);
  // Fails the call with Firehose's answer to `st`, a failure to encrypt a delivery stream's
  // broker stream under `key_arn` ("" for AWS_OWNED_CMK).
  void FailEncryption(Call& c, const Status& st, std::string_view key_arn);
  // DeliveryStreamEncryptionConfiguration: what applies to the broker stream that holds the
  // records of `state`'s delivery stream (none of its own when `from_stream`).
  void WriteEncryption(Call& c, const FirehoseStreamState& state, bool from_stream);

  void ListDeliveryStreams(Call& c);

  // The stream named by the request (DeliveryStreamName) when it exists, with its stored state
  // (a fresh one when none is stored); records the error and returns false when it does not.
  bool Lookup(Call& c, std::string_view name, FirehoseStreamState* state);
  // The controller, or records InvalidArgumentException for `operation` and returns null.
  DeliveryController* Controller(Call& c, std::string_view operation);
  // Translates the destination of `destination` ({"<member>": {...}}) and applies `state` through
  // the controller; records the error and returns false when it fails.
  bool ApplyState(Call& c, const FirehoseStreamState& state, bool restart);
  void PutRecord(Call& c);
  void PutRecordBatch(Call& c);

  // The configured entry for `name`, or null.
  const FirehoseDelivery* Configured(std::string_view name) const;
  // The internal stream of DirectPut delivery `name`; records ResourceNotFoundException (or
  // InvalidArgumentException for a KinesisStreamAsSource one) and returns null when it fails.
  Stream* ResolveDirectPut(Call& c, std::string_view name);
  // Appends the decoded records of `data` (views into scratch_) and answers per record.
  void Append(Call& c, Stream* stream, bool batch);
  std::string Arn(std::string_view name) const;
  // Fails the call with AccessDeniedException unless `caller`'s policy allows
  // firehose:<operation> on the delivery stream the parsed request names.
  // *arn: the delivery stream's ARN ("" for none).
  bool Authorize(Call& c, std::string_view operation, const ApiCaller* caller, std::string* arn);

  Broker* broker_;
  ApiOptions options_;
  uint64_t key_counter_ = 0;  // spreads puts over the internal stream's shards
  // Scratch reused across requests.
  std::string scratch_, keys_;
  std::vector<size_t> ends_;
  std::vector<PutRecordIn> put_in_;
  std::vector<PutRecordOut> put_out_;
  std::unique_ptr<rapidjson::StringBuffer> out_;
};

}  // namespace sluice::broker::api
