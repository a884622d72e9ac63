// StreamImpl: resharding, retention, consumers and checkpoints.
#include <algorithm>

#include "broker/stream_impl.h"
#include "core/log.h"

namespace sluice::broker {

Status StreamImpl::CloseLocked(Shard* s) {
  s->meta.end_offset = s->log->Close();
  s->meta.open = false;
  s->meta.closed_ms = ctx_.clock->NowMs();
  return Status::Ok();
}

Status StreamImpl::AddChildLocked(uint128 start, uint128 end, int64_t parent, int64_t adjacent,
                                  uint64_t epoch) {
  auto shard = std::make_unique<Shard>();
  shard->meta.index = static_cast<uint32_t>(shards_.size());
  shard->meta.start = start;
  shard->meta.end = end;
  shard->meta.parent = parent;
  shard->meta.adjacent = adjacent;
  shard->meta.epoch = epoch;
  shard->meta.created_ms = ctx_.clock->NowMs();
  RETURN_IF_ERROR(OpenShardLog(shard.get(), 0));
  shards_.push_back(std::move(shard));
  return Status::Ok();
}

Status StreamImpl::SplitLocked(uint32_t index, uint128 key) {
  if (index >= shards_.size() || !shards_[index]->meta.open) {
    return InvalidArgument("SplitShard: " + ShardId(index) + " is not an open shard of " + name_);
  }
  Shard* parent = shards_[index].get();
  if (key <= parent->meta.start || key > parent->meta.end) {
    return InvalidArgument("SplitShard: NewStartingHashKey " + HashKeyToString(key) +
                           " is not inside the range of " + ShardId(index));
  }
  uint128 start = parent->meta.start;
  uint128 end = parent->meta.end;
  uint64_t epoch = parent->meta.epoch + 1;
  RETURN_IF_ERROR(CloseLocked(parent));
  RETURN_IF_ERROR(AddChildLocked(start, key - 1, index, -1, epoch));
  return AddChildLocked(key, end, index, -1, epoch);
}

Status StreamImpl::MergeLocked(uint32_t a, uint32_t b) {
  if (a >= shards_.size() || !shards_[a]->meta.open || b >= shards_.size() ||
      !shards_[b]->meta.open || a == b) {
    return InvalidArgument("MergeShards: " + ShardId(a) + " and " + ShardId(b) +
                           " must be two open shards of " + name_);
  }
  Shard* sa = shards_[a].get();
  Shard* sb = shards_[b].get();
  bool adjacent = (sa->meta.end != kMaxHashKey && sa->meta.end + 1 == sb->meta.start) ||
                  (sb->meta.end != kMaxHashKey && sb->meta.end + 1 == sa->meta.start);
  if (!adjacent) {
    return InvalidArgument("MergeShards: " + ShardId(a) + " and " + ShardId(b) +
                           " are not adjacent");
  }
  uint128 start = std::min(sa->meta.start, sb->meta.start);
  uint128 end = std::max(sa->meta.end, sb->meta.end);
  uint64_t epoch = std::max(sa->meta.epoch, sb->meta.epoch) + 1;
  RETURN_IF_ERROR(CloseLocked(sa));
  RETURN_IF_ERROR(CloseLocked(sb));
  return AddChildLocked(start, end, a, b, epoch);
}

Status StreamImpl::SplitShard(uint32_t shard_index, uint128 new_starting_hash_key) {
  std::unique_lock<std::shared_mutex> topo(topo_mu_);
  std::lock_guard<std::mutex> lock(meta_mu_);
  Status st = SplitLocked(shard_index, new_starting_hash_key);
  RebuildRoutesLocked();
  if (!st.ok()) return st;
  return SaveMetaLocked();
}

Status StreamImpl::MergeShards(uint32_t shard_index, uint32_t adjacent_shard_index) {
  std::unique_lock<std::shared_mutex> topo(topo_mu_);
  std::lock_guard<std::mutex> lock(meta_mu_);
  Status st = MergeLocked(shard_index, adjacent_shard_index);
  RebuildRoutesLocked();
  if (!st.ok()) return st;
  return SaveMetaLocked();
}

// Uniform scaling as a sequence of splits and merges, so that every new shard has at most two
// parents: first split open shards at each even boundary of the target, then merge the shards
// inside each target range pairwise.
Status StreamImpl::UpdateShardCount(int target) {
  std::unique_lock<std::shared_mutex> topo(topo_mu_);
  std::lock_guard<std::mutex> lock(meta_mu_);
  int open = static_cast<int>(routes_.size());
  if (target < 1 || target > 10000 || target > 2 * open || target < (open + 1) / 2) {
    return InvalidArgument("UpdateShardCount: TargetShardCount " + std::to_string(target) +
                           " must be between half and double the " + std::to_string(open) +
                           " open shards");
  }
  Status st;
  for (int i = 1; i < target && st.ok(); ++i) {
    uint128 b = EvenRange(i, target).first;
    auto it = std::upper_bound(routes_.begin(), routes_.end(), b,
                               [](uint128 k, const Route& r) { return k < r.start; });
    const Route& r = *std::prev(it);
    if (r.start != b) {
      st = SplitLocked(r.index, b);
      RebuildRoutesLocked();
    }
  }
  for (int i = 0; i < target && st.ok(); ++i) {
    auto [lo, hi] = EvenRange(i, target);
    while (st.ok()) {
      std::vector<uint32_t> inside;
      for (const Route& r : routes_) {
        if (r.start >= lo && r.end <= hi) inside.push_back(r.index);
      }
      if (inside.size() < 2) break;
      st = MergeLocked(inside[0], inside[1]);
      RebuildRoutesLocked();
    }
  }
  Status saved = SaveMetaLocked();
  return st.ok() ? saved : st;
}

Status StreamImpl::SetRetentionHours(int64_t hours) {
  if (hours < 24 || hours > 8760) {
    return InvalidArgument("retention must be 24..8760 hours, got " + std::to_string(hours));
  }
  std::shared_lock<std::shared_mutex> topo(topo_mu_);
  std::lock_guard<std::mutex> lock(meta_mu_);
  meta_.options.retention_hours = hours;
  return SaveMetaLocked();
}

// Whether `keyring` holds the master key `encryption` names.
static Status CheckMasterKey(const std::string& stream, const StreamEncryption& encryption,
                             const std::shared_ptr<const Keyring>& keyring) {
  if (!encryption.enabled) return Status::Ok();
  if (!keyring) {
    return InvalidArgument("stream " + stream +
                           ": encryption needs a keyring (broker.encryption.keyring)");
  }
  if (keyring->FindOrPrimary(encryption.key_id) == nullptr) {
    return NotFound("stream " + stream + ": master key " + encryption.key_id +
                    " is not in the keyring");
  }
  return Status::Ok();
}

Status StreamImpl::SetEncryption(const StreamEncryption& encryption) {
  std::shared_lock<std::shared_mutex> topo(topo_mu_);
  std::lock_guard<std::mutex> lock(meta_mu_);
  RETURN_IF_ERROR(CheckMasterKey(name_, encryption, keyring_));
  StreamEncryption before = meta_.options.encryption;
  meta_.options.encryption = encryption;
  Status saved = SaveMetaLocked();
  if (!saved.ok()) {
    meta_.options.encryption = before;  // what is on disk stays what applies
    return saved;
  }
  for (auto& s : shards_) {
    if (s->log) s->log->SetSealing(keyring_, encryption);
  }
  return Status::Ok();
}

Status StreamImpl::CheckKeyring(const std::shared_ptr<const Keyring>& keyring) const {
  std::shared_lock<std::shared_mutex> topo(topo_mu_);
  std::lock_guard<std::mutex> lock(meta_mu_);
  RETURN_IF_ERROR(CheckMasterKey(name_, meta_.options.encryption, keyring));
  // Retired keys still wrap the data keys of segments kept: without them the next start could
  // not open those segments.
  for (const auto& s : shards_) {
    if (!s->log) continue;
    for (const std::string& id : s->log->MasterKeysInUse()) {
      if (!keyring || keyring->Find(id) == nullptr) {
        return NotFound("stream " + name_ + " holds segments sealed under master key " + id +
                        ", which the new keyring does not hold (keep retired keys until "
                        "retention removes their segments)");
      }
    }
  }
  return Status::Ok();
}

void StreamImpl::SetKeyring(std::shared_ptr<const Keyring> keyring) {
  std::shared_lock<std::shared_mutex> topo(topo_mu_);
  std::lock_guard<std::mutex> lock(meta_mu_);
  keyring_ = std::move(keyring);
  for (auto& s : shards_) {
    if (s->log) s->log->SetSealing(keyring_, meta_.options.encryption);
  }
}

Status StreamImpl::SetCapacityMode(CapacityMode mode) {
  std::shared_lock<std::shared_mutex> topo(topo_mu_);
  std::lock_guard<std::mutex> lock(meta_mu_);
  if (meta_.options.mode == mode) return Status::Ok();
  CapacityMode before = meta_.options.mode;
  meta_.options.mode = mode;
  Status saved = SaveMetaLocked();
  if (!saved.ok()) {
    meta_.options.mode = before;  // what is on disk stays what applies
    return saved;
  }
  for (auto& s : shards_) {
    if (s->log) s->log->SetProvisioned(mode == CapacityMode::kProvisioned);
  }
  return Status::Ok();
}

Status StreamImpl::EnforceRetention() {
  std::unique_lock<std::shared_mutex> topo(topo_mu_);
  std::lock_guard<std::mutex> lock(meta_mu_);
  int64_t cutoff = ctx_.clock->NowMs() - meta_.options.retention_hours * 3600 * 1000;
  bool changed = false;
  for (auto& s : shards_) {
    if (s->meta.expired) continue;
    s->log->DropExpired(cutoff);
    if (!s->meta.open && s->meta.closed_ms < cutoff) {
      s->log->RemoveAll();
      s->log.reset();
      s->meta.expired = true;
      changed = true;
    }
  }
  if (!changed) return Status::Ok();
  SLUICE_LOG(Info, "closed shards expired").With("stream", name_);
  return SaveMetaLocked();
}

Status StreamImpl::RegisterConsumer(std::string_view consumer) {
  RETURN_IF_ERROR(ValidateName("consumer", consumer));
  std::shared_lock<std::shared_mutex> topo(topo_mu_);
  std::lock_guard<std::mutex> lock(meta_mu_);
  if (meta_.consumers.find(consumer) != meta_.consumers.end()) {
    return AlreadyExists("consumer " + std::string(consumer) + " exists on stream " + name_);
  }
  meta_.consumers.emplace(std::string(consumer), std::map<uint32_t, uint64_t>{});
  meta_.consumer_created_ms[std::string(consumer)] = ctx_.clock->NowMs();
  return SaveMetaLocked();
}

Status StreamImpl::DeregisterConsumer(std::string_view consumer) {
  std::shared_lock<std::shared_mutex> topo(topo_mu_);
  std::lock_guard<std::mutex> lock(meta_mu_);
  auto it = meta_.consumers.find(consumer);
  if (it == meta_.consumers.end()) {
    return NotFound("no consumer " + std::string(consumer) + " on stream " + name_);
  }
  for (const auto& [id, h] : holds_) {
    if (h.consumer == consumer) {
      return AlreadyExists("consumer " + std::string(consumer) + " of stream " + name_ +
                           " is read by " + h.holder +
                           " of this daemon's configuration; remove it there first");
    }
  }
  meta_.consumers.erase(it);
  meta_.consumer_created_ms.erase(std::string(consumer));
  return SaveMetaLocked();
}

uint64_t StreamImpl::Hold(std::string holder, std::string consumer) {
  std::lock_guard<std::mutex> lock(meta_mu_);
  uint64_t id = next_hold_++;
  holds_.emplace(id, HoldEntry{std::move(holder), std::move(consumer)});
  return id;
}

void StreamImpl::Release(uint64_t hold) {
  std::lock_guard<std::mutex> lock(meta_mu_);
  holds_.erase(hold);
}

std::string StreamImpl::HeldBy() const {
  std::lock_guard<std::mutex> lock(meta_mu_);
  return holds_.empty() ? std::string() : holds_.begin()->second.holder;
}

int64_t StreamImpl::ConsumerCreatedMs(std::string_view consumer) const {
  std::lock_guard<std::mutex> lock(meta_mu_);
  auto it = meta_.consumer_created_ms.find(consumer);
  return it == meta_.consumer_created_ms.end() ? 0 : it->second;
}

std::vector<std::string> StreamImpl::ListConsumers() const {
  std::lock_guard<std::mutex> lock(meta_mu_);
  std::vector<std::string> out;
  for (const auto& [name, cps] : meta_.consumers) out.push_back(name);
  return out;
}

Status StreamImpl::Checkpoint(std::string_view consumer,
                              std::span<const ShardPosition> next_offsets) {
  std::shared_lock<std::shared_mutex> topo(topo_mu_);
  for (const ShardPosition& p : next_offsets) {
    const Shard* s = ShardLocked(p.shard_index);
    if (!s) return NotFound("stream " + name_ + " has no shard " + ShardId(p.shard_index));
    uint64_t end = s->log->EndOffset();
    if (p.next_offset > end) {
      return InvalidArgument("checkpoint " + std::to_string(p.next_offset) + " is past the end (" +
                             std::to_string(end) + ") of " + ShardId(p.shard_index));
    }
  }
  std::lock_guard<std::mutex> lock(meta_mu_);
  auto it = meta_.consumers.find(consumer);
  if (it == meta_.consumers.end()) {
    return NotFound("no consumer " + std::string(consumer) + " on stream " + name_);
  }
  for (const ShardPosition& p : next_offsets) it->second[p.shard_index] = p.next_offset;
  return SaveMetaLocked();
}

Result<uint64_t> StreamImpl::GetCheckpoint(std::string_view consumer, uint32_t shard_index) const {
  std::lock_guard<std::mutex> lock(meta_mu_);
  auto it = meta_.consumers.find(consumer);
  if (it == meta_.consumers.end()) {
    return NotFound("no consumer " + std::string(consumer) + " on stream " + name_);
  }
  auto cp = it->second.find(shard_index);
  if (cp == it->second.end()) {
    return NotFound("consumer " + std::string(consumer) + " has no checkpoint for " +
                    ShardId(shard_index));
  }
  return cp->second;
}

bool StreamImpl::FinishedLocked(const std::map<uint32_t, uint64_t>& cps, const Shard& s) const {
  if (s.meta.expired) return true;
  if (s.meta.open) return false;
  auto it = cps.find(s.meta.index);
  uint64_t at = it != cps.end() ? it->second : s.log->StartOffset();
  return at >= s.meta.end_offset;
}

std::vector<uint32_t> StreamImpl::ReadableShards(std::string_view consumer) const {
  std::shared_lock<std::shared_mutex> topo(topo_mu_);
  std::lock_guard<std::mutex> lock(meta_mu_);
  std::vector<uint32_t> out;
  auto c = meta_.consumers.find(consumer);
  if (c == meta_.consumers.end()) return out;
  for (const auto& s : shards_) {
    if (s->meta.expired || FinishedLocked(c->second, *s)) continue;
    bool parents_done = true;
    for (int64_t p : {s->meta.parent, s->meta.adjacent}) {
      if (p >= 0 && static_cast<size_t>(p) < shards_.size() &&
          !FinishedLocked(c->second, *shards_[static_cast<size_t>(p)])) {
        parents_done = false;
      }
    }
    if (parents_done) out.push_back(s->meta.index);
  }
  return out;
}

}  // namespace sluice::broker
