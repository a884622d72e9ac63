// A KCL-compatible lease table in DynamoDB: the shards of a Kinesis stream shared among the
// instances (workers) reading it, as the Kinesis Client Library 2.x shares them, so sluice
// instances and KCL workers could read one stream through one table.
//
// One item per shard, hash key `leaseKey` (S) = the shard id, with KCL 2.x's attributes:
//   leaseOwner (S, absent when free), leaseCounter (N), ownerSwitchesSinceCheckpoint (N),
//   checkpoint (S: a sequence number, or TRIM_HORIZON, LATEST, AT_TIMESTAMP, SHARD_END),
//   checkpointSubSequenceNumber (N), pendingCheckpoint (S), pendingCheckpointSubSequenceNumber
//   (N), pendingCheckpointState (B), parentShardId (SS), childShardIds (SS).
// Every change is a conditional write on the counter (and owner) last seen, and moves the
// counter: a worker renews its leases by moving their counters; one whose counter stood still
// for the failover time is expired, and another worker may take it. Workers also take from the
// most loaded one to even out the count (LeasesToTake).
//
// The checkpoint is KCL's: the last record delivered, with its sub-sequence number (0 for a
// plain record, the user record's index inside a KPL aggregate); a reader resumes at that
// sequence number and skips what it names. sluice keeps a batch's plan (kinesis_source.h) as
// KCL's pending checkpoint: pendingCheckpoint is the batch's last record, pendingCheckpointState
// the plan (a JSON journal entry).
//
// THREADING: KinesisLeaseTable is used by one thread at a time (its HTTP client is its own);
// LeasesToTake is pure.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sluice::sink {
class AwsJsonClient;
}

namespace sluice::buffer {

inline constexpr std::string_view kShardEnd = "SHARD_END";
inline constexpr std::string_view kTrimHorizon = "TRIM_HORIZON";
inline constexpr std::string_view kLatest = "LATEST";
inline constexpr std::string_view kAtTimestamp = "AT_TIMESTAMP";

struct KinesisLease {
  std::string key;    // leaseKey: the shard id
  std::string owner;  // leaseOwner; "" when free
  int64_t counter = 0;
  int64_t owner_switches = 0;
  std::string checkpoint;  // a sequence number or one of the sentinels above
  int64_t sub = 0;         // checkpointSubSequenceNumber
  std::string pending;     // pendingCheckpoint; "" when none
  int64_t pending_sub = 0;
  std::string pending_state;  // pendingCheckpointState, decoded
  std::vector<std::string> parents, children;

  bool ended() const { return checkpoint == kShardEnd; }
};

struct LeaseTableConfig {
  std::string endpoint;  // DynamoDB's base URL; empty: https://dynamodb.<region>.amazonaws.com
  std::string region = "us-east-1";
  std::string table;
  std::string access_key_id, secret_access_key;  // empty: as the sinks find credentials
  std::string worker_id;
};

class KinesisLeaseTable {
 public:
  static Result<std::unique_ptr<KinesisLeaseTable>> Create(const LeaseTableConfig& config);
  ~KinesisLeaseTable();
  KinesisLeaseTable(const KinesisLeaseTable&) = delete;
  KinesisLeaseTable& operator=(const KinesisLeaseTable&) = delete;

  // Creates the table when it does not exist (on-demand capacity, as KCL 2.x does) and waits
  // until it is ACTIVE.
  Status EnsureTable();
  // Every lease, read consistently.
  Result<std::vector<KinesisLease>> List();
  // A new lease, unless one exists for the shard (kAlreadyExists).
  Status Create(const KinesisLease& lease);

  // The conditional writes. Each expects the counter in *lease (Take: also its owner), moves
  // the counter, and on success leaves the item as it now is in *lease. kCancelled: another
  // worker moved the lease first (the condition failed); another error: the call failed and may
  // be tried again.
  Status Take(KinesisLease* lease);
  Status Renew(KinesisLease* lease);
  // Writes checkpoint, checkpointSubSequenceNumber and the pending checkpoint as in *lease, and
  // zeroes ownerSwitchesSinceCheckpoint; only while this worker owns it.
  Status Checkpoint(KinesisLease* lease);
  // Gives the lease up (leaseOwner removed), so another worker takes it at once.
  Status Evict(KinesisLease* lease);

  const std::string& worker_id() const { return worker_id_; }
  const std::string& table() const { return table_; }
  std::string url() const;

 private:
  KinesisLeaseTable() = default;
  Result<std::string> Call(std::string_view op, std::string_view body);
  Status Update(KinesisLease* lease, std::string_view what, std::string_view set,
                std::string_view condition, std::string values);

  std::unique_ptr<sink::AwsJsonClient> client_;
  std::string table_, worker_id_;
};

// The leases `me` should take now, by KCL's rule: a fair share is ceil(active leases / workers),
// workers being the owners of leases not expired, and `me`; below it, take expired or free
// leases (`expired` tells which); when there are none, take one from the most loaded worker if
// it holds more than the fair share. Ended leases (SHARD_END) are not counted.
std::vector<const KinesisLease*> LeasesToTake(
    std::span<const KinesisLease> leases, std::string_view me,
    const std::function<bool(const KinesisLease&)>& expired);

}  // namespace sluice::buffer
