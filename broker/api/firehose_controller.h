// What the Firehose API asks of the daemon that runs delivery streams: DeliveryController starts,
// replaces and stops the deliveries created through the API, and persists what the API keeps about
// every delivery stream (FirehoseStreamState: destination, version, tags, encryption state).
//
// The broker does not know how a delivery runs (that is buffer/ and agent/): the daemon implements
// the interface and hands it to the API in ApiOptions::delivery_controller. The API validates the
// request's shape (ValidationException) and translates the destination (firehose_destinations.h);
// the controller validates the resulting delivery as a configured one is validated.
//
// THREADING: called on the API listener's loop thread only (never from put workers).
// OWNERSHIP: the controller outlives every FirehoseApi given it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sluice::broker::api {

// What the API keeps about one delivery stream, across restarts.
struct FirehoseStreamState {
  std::string name;
  // The request's destination: a JSON object with one member, e.g.
  // {"ExtendedS3DestinationConfiguration": {...}}. Empty: none (a configured delivery, whose
  // destination is its YAML, or an API-created stream without a destination).
  std::string destination;
  bool api_created = true;  // false: a `deliveries:` entry (only tags and encryption are kept)
  int64_t version = 1;      // VersionId
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  std::map<std::string, std::string> tags;
  // Server-side encryption asked for (CreateDeliveryStream, Start/StopDeliveryStreamEncryption).
  // What applies is the encryption of the delivery stream's broker stream, written first; the
  // daemon gives that stream this encryption at start should it lack it.
  bool encrypted = false;
  std::string key_arn;  // CUSTOMER_MANAGED_CMK: the KeyARN given; empty: AWS_OWNED_CMK
};

// The state as the JSON document the daemon stores, and back.
std::string SerializeStreamState(const FirehoseStreamState& state);
Result<FirehoseStreamState> ParseStreamState(std::string_view json);

class DeliveryController {
 public:
  virtual ~DeliveryController() = default;

  // Persists `state` and, when `restart` is set, (re)starts its delivery from state.destination
  // (stopping the running version first). A destination that does not make a valid delivery is
  // kInvalidArgument with the message naming the problem, and nothing changes.
  virtual Status Apply(const FirehoseStreamState& state, bool restart) = 0;
  // Stops the API-created delivery `name` (flushing what it buffered) and forgets its state.
  virtual Status Remove(std::string_view name) = 0;
  // The stored state of `name`, if any.
  virtual std::optional<FirehoseStreamState> Get(std::string_view name) = 0;
  // The destination of the configured (`deliveries:`) delivery `name` in the request's form
  // ({"ExtendedS3DestinationConfiguration": {...}}); NotFound when it is not configured.
  virtual Result<std::string> ConfiguredDestination(std::string_view name) = 0;
};

}  // namespace sluice::broker::api
