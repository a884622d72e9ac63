// The daemon's side of the Firehose API's management operations: FirehoseDeliveries runs the
// delivery streams created with CreateDeliveryStream and keeps what the API records about every
// delivery stream (destination, VersionId, tags, encryption state) in
// <data_dir>/firehose_api/<name>.json, written atomically, so they survive a restart.
//
// A request's destination becomes the `deliveries:` entry firehose_destinations.h translates it
// to, under the `firehose_api:` defaults of its sink type, and is loaded and checked exactly as a
// configured entry is (config::LoadConfigText with Daemon::CheckDeliveries): a bad request is
// refused with the loader's message, and nothing changes. A running delivery is replaced as a
// reload replaces a changed one: the new version is created first, then the old one stops
// (flushing and checkpointing) and the new one starts where it stopped.
//
// THREADING: the loop thread (the API listener's handler and Daemon::Start). OWNERSHIP: holds a
// pointer to the daemon's state, which outlives it.
#pragma once

#include <map>
#include <string>

#include "agent/daemon_state.h"
#include "broker/api/firehose_controller.h"

namespace sluice::agent {

class FirehoseDeliveries final : public broker::api::DeliveryController {
 public:
  explicit FirehoseDeliveries(Daemon::State* state) : s_(state) {}

  // Reads the stored states and starts the API-created deliveries among them. One that cannot
  // start is logged and listed in State::not_running (unhealthy); the others run. A DirectPut
  // delivery stream whose state asks for server-side encryption that its broker stream lacks
  // gets it (or an error logged).
  void StartStored();

  // The `deliveries:` options the state's destination makes (defaults applied, checked).
  Result<buffer::DeliveryOptions> Plan(const broker::api::FirehoseStreamState& state) const;

  // Whether `name` is a delivery stream created through the API with a destination: its
  // delivery runs here, and a `deliveries:` entry of that name must not start beside it.
  bool RunsDelivery(std::string_view name) const;

  Status Apply(const broker::api::FirehoseStreamState& state, bool restart) override;
  Status Remove(std::string_view name) override;
  std::optional<broker::api::FirehoseStreamState> Get(std::string_view name) override;
  Result<std::string> ConfiguredDestination(std::string_view name) override;

 private:
  std::filesystem::path Dir() const;
  // Stops the running delivery `name`, if any (not a configured one).
  void Stop(std::string_view name);

  Daemon::State* s_;
  std::map<std::string, broker::api::FirehoseStreamState, std::less<>> states_;
};

// The destination of a configured delivery in the request's form (its sink type's Firehose
// configuration member), for DescribeDeliveryStream; NotFound for a sink Firehose has no
// destination for (file, kinesis, ...).
Result<std::string> DestinationOfDelivery(const buffer::DeliveryOptions& d);

}  // namespace sluice::agent
