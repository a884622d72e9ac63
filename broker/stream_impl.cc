#include "broker/stream_impl.h"

#include <algorithm>

#include "broker/file_util.h"
#include "broker/format.h"
#include "core/log.h"
#include "core/utf8.h"

namespace sluice::broker {

namespace {
constexpr size_t kMaxBatchRecords = 500;
constexpr size_t kMaxBatchBytes = 5u << 20;
constexpr size_t kMaxKeyChars = 256;
}  // namespace

std::pair<uint128, uint128> EvenRange(int i, int n) {
  // floor(2^128 / n) computed without 2^128: (2^128 - 1) / n, plus one when n divides 2^128.
  uint128 step = kMaxHashKey / static_cast<uint128>(n);
  if ((kMaxHashKey % static_cast<uint128>(n)) + 1 == static_cast<uint128>(n)) ++step;
  uint128 start = step * static_cast<uint128>(i);
  uint128 end = i + 1 == n ? kMaxHashKey : step * static_cast<uint128>(i + 1) - 1;
  return {start, end};
}

Status ValidateName(std::string_view what, std::string_view name) {
  if (name.empty() || name.size() > 128) {
    return InvalidArgument(std::string(what) + " name must be 1..128 characters");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) {
      return InvalidArgument(std::string(what) + " name \"" + std::string(name) +
                             "\" may hold only [a-zA-Z0-9_.-]");
    }
  }
  if (name == "." || name == "..") return InvalidArgument(std::string(what) + " name is reserved");
  return Status::Ok();
}

StreamImpl::StreamImpl(std::filesystem::path dir, StreamMeta meta, const StreamContext& ctx)
    : dir_(std::move(dir)),
      name_(meta.options.name),
      ctx_(ctx),
      meta_(std::move(meta)),
      keyring_(ctx.keyring) {
  last_sync_mono_ = ctx_.clock->MonotonicMs();
}

Status StreamImpl::OpenShardLog(Shard* shard, uint64_t min_next_offset) {
  ShardLogOptions o;
  o.segment_bytes = ctx_.segment_bytes;
  o.sync_on_roll = meta_.options.fsync != FsyncPolicy::kNever;
  o.provisioned = meta_.options.mode == CapacityMode::kProvisioned;
  o.clock = ctx_.clock;
  o.disk_usage = ctx_.disk_usage;
  o.keyring = keyring_;
  o.encryption = meta_.options.encryption;
  ASSIGN_OR_RETURN(shard->log,
                   ShardLog::Open(dir_ / ShardId(shard->meta.index), o, min_next_offset));
  if (!shard->meta.open) shard->log->Close();
  return Status::Ok();
}

Result<std::unique_ptr<StreamImpl>> StreamImpl::Create(const std::filesystem::path& dir,
                                                       const StreamOptions& options,
                                                       const StreamContext& ctx) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError("create " + dir.string() + ": " + ec.message());
  StreamMeta meta;
  meta.options = options;
  std::unique_ptr<StreamImpl> s(new StreamImpl(dir, std::move(meta), ctx));
  int64_t now = ctx.clock->NowMs();
  for (int i = 0; i < options.shards; ++i) {
    auto shard = std::make_unique<Shard>();
    shard->meta.index = static_cast<uint32_t>(i);
    std::tie(shard->meta.start, shard->meta.end) = EvenRange(i, options.shards);
    shard->meta.created_ms = now;
    RETURN_IF_ERROR(s->OpenShardLog(shard.get(), 0));
    s->shards_.push_back(std::move(shard));
  }
  s->RebuildRoutesLocked();
  std::lock_guard<std::mutex> lock(s->meta_mu_);
  RETURN_IF_ERROR(s->SaveMetaLocked());
  RETURN_IF_ERROR(FsyncDir(dir.parent_path()));  // the stream's own directory entry
  return s;
}

Result<std::unique_ptr<StreamImpl>> StreamImpl::Load(const std::filesystem::path& dir,
                                                     const StreamContext& ctx) {
  std::filesystem::path path = dir / "stream.json";
  ASSIGN_OR_RETURN(std::string json, ReadWholeFile(path));
  ASSIGN_OR_RETURN(StreamMeta meta, DecodeStreamMeta(json, path.string()));
  std::vector<ShardMeta> shard_metas = meta.shards;
  std::unique_ptr<StreamImpl> s(new StreamImpl(dir, std::move(meta), ctx));
  // An encrypted stream never appends plain records for want of its key: it does not open.
  RETURN_IF_ERROR(s->CheckKeyring(ctx.keyring));
  for (const ShardMeta& m : shard_metas) {
    auto shard = std::make_unique<Shard>();
    shard->meta = m;
    if (!m.expired) {
      // Offsets never go back below what a consumer or the shard's close has seen.
      uint64_t min_next = m.open ? 0 : m.end_offset;
      for (const auto& [name, cps] : s->meta_.consumers) {
        auto it = cps.find(m.index);
        if (it != cps.end()) min_next = std::max(min_next, it->second);
      }
      RETURN_IF_ERROR(s->OpenShardLog(shard.get(), min_next));
    }
    s->shards_.push_back(std::move(shard));
  }
  s->RebuildRoutesLocked();
  return s;
}

StreamOptions StreamImpl::options() const {
  std::shared_lock<std::shared_mutex> topo(topo_mu_);
  std::lock_guard<std::mutex> lock(meta_mu_);
  StreamOptions o = meta_.options;
  o.shards = static_cast<int>(routes_.size());
  return o;
}

Status StreamImpl::SaveMetaLocked() {
  meta_.shards.clear();
  for (const auto& s : shards_) meta_.shards.push_back(s->meta);
  meta_.options.shards = static_cast<int>(routes_.size());
  return WriteFileAtomically(dir_ / "stream.json", EncodeStreamMeta(meta_));
}

void StreamImpl::RebuildRoutesLocked() {
  routes_.clear();
  for (const auto& s : shards_) {
    if (s->meta.open && !s->meta.expired)
      routes_.push_back({s->meta.start, s->meta.end, s->meta.index});
  }
  std::sort(routes_.begin(), routes_.end(),
            [](const Route& a, const Route& b) { return a.start < b.start; });
}

Status StreamImpl::PutBatch(std::span<const PutRecordIn> records, std::vector<PutRecordOut>* out,
                            PutTag* tag) {
  if (tag != nullptr) {
    tag->written = false;
    if (tag->bytes.empty() || tag->bytes.size() > format::kMaxTagBytes) {
      return InvalidArgument("PutRecords: a tag holds 1.." + std::to_string(format::kMaxTagBytes) +
                             " bytes, got " + std::to_string(tag->bytes.size()));
    }
  }
  if (records.empty() || records.size() > kMaxBatchRecords) {
    return InvalidArgument("PutRecords: a batch holds 1..500 records, got " +
                           std::to_string(records.size()));
  }
  size_t total = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const PutRecordIn& r = records[i];
    size_t chars = Utf8Chars(r.partition_key);
    if (chars == 0 || chars > kMaxKeyChars || r.partition_key.size() > format::kMaxKeyBytes) {
      return InvalidArgument("record " + std::to_string(i) +
                             ": partition key must be 1..256 characters");
    }
    if (r.data.size() > format::kMaxDataBytes) {
      return InvalidArgument("record " + std::to_string(i) + ": data exceeds 1 MiB");
    }
    total += r.data.size() + r.partition_key.size();
  }
  if (total > kMaxBatchBytes) {
    return InvalidArgument("PutRecords: batch of " + std::to_string(total) +
                           " bytes exceeds 5 MiB");
  }
  // Every outcome ok to start with; a caller's vector reused batch after batch holds ok ones.
  out->resize(records.size());
  for (PutRecordOut& o : *out) {
    if (!o.status.ok()) o.status = Status::Ok();
  }
  if (ctx_.disk_quota_bytes > 0) {
    uint64_t framed = total + records.size() * format::kFrameHeaderSize;
    if (static_cast<uint64_t>(std::max<int64_t>(0, ctx_.disk_usage->load())) + framed >
        ctx_.disk_quota_bytes) {
      for (auto& o : *out) o.status = ResourceExhausted("disk quota of the data directory reached");
      return Status::Ok();
    }
  }
  // Route: a counting sort of record indices by open shard; scratch reused per thread.
  thread_local std::vector<uint32_t> route_of;
  thread_local std::vector<uint32_t> order;
  thread_local std::vector<uint32_t> starts;
  std::shared_lock<std::shared_mutex> topo(topo_mu_);
  route_of.resize(records.size());
  starts.assign(routes_.size() + 1, 0);
  for (size_t i = 0; i < records.size(); ++i) {
    uint32_t r = 0;
    if (routes_.size() > 1) {  // one open shard takes every key: no hash needed
      uint128 key = records[i].explicit_hash_key ? *records[i].explicit_hash_key
                                                 : HashKeyOf(records[i].partition_key);
      auto it = std::upper_bound(routes_.begin(), routes_.end(), key,
                                 [](uint128 k, const Route& r) { return k < r.start; });
      r = static_cast<uint32_t>(it - routes_.begin()) - 1;
    }
    route_of[i] = r;
    ++starts[r + 1];
  }
  for (size_t r = 0; r < routes_.size(); ++r) starts[r + 1] += starts[r];
  order.resize(records.size());
  {
    thread_local std::vector<uint32_t> fill;
    fill.assign(starts.begin(), starts.end() - 1);
    for (size_t i = 0; i < records.size(); ++i)
      order[fill[route_of[i]]++] = static_cast<uint32_t>(i);
  }
  int64_t arrival = ctx_.clock->NowMs();
  // The tag rides on the last record of the last shard appended to: appends run in this order,
  // so once its write is in the file, every earlier shard's is too (a kill -9 cannot undo a
  // finished write; a power cut is what fsync is for).
  size_t last_route = routes_.size();
  for (size_t r = routes_.size(); r-- > 0;) {
    if (starts[r] != starts[r + 1]) {
      last_route = r;
      break;
    }
  }
  bool all_ok = true;
  for (size_t r = 0; r < routes_.size(); ++r) {
    if (starts[r] == starts[r + 1]) continue;
    uint32_t index = routes_[r].index;
    std::span<const uint32_t> which(order.data() + starts[r], starts[r + 1] - starts[r]);
    const bool tagged = tag != nullptr && r == last_route && all_ok;
    shards_[index]->log->Append(records, which, arrival, index, out,
                                tagged ? tag->bytes : std::string_view());
    for (uint32_t i : which) all_ok = all_ok && (*out)[i].status.ok();
    if (tagged && all_ok) {
      tag->written = true;
      tag->shard_index = index;
      tag->offset = (*out)[which.back()].offset;
    }
  }
  topo.unlock();
  write_gen_.fetch_add(1, std::memory_order_acq_rel);
  if (meta_.options.fsync == FsyncPolicy::kAlways) {
    Status st = Sync();
    if (!st.ok()) {
      for (auto& o : *out) {
        if (o.status.ok()) o.status = st;
      }
    }
  }
  return Status::Ok();
}

uint64_t StreamImpl::WriteGeneration() const { return write_gen_.load(std::memory_order_acquire); }

uint64_t StreamImpl::DurableGeneration() const {
  if (meta_.options.fsync == FsyncPolicy::kNever) return WriteGeneration();
  return durable_gen_.load(std::memory_order_acquire);
}

Status StreamImpl::Sync() {
  std::lock_guard<std::mutex> sync_lock(sync_mu_);
  uint64_t gen = write_gen_.load(std::memory_order_acquire);
  {
    std::shared_lock<std::shared_mutex> topo(topo_mu_);
    for (const auto& s : shards_) {
      if (s->log) RETURN_IF_ERROR(s->log->Sync());
    }
  }
  if (gen > durable_gen_.load()) durable_gen_.store(gen, std::memory_order_release);
  last_sync_mono_ = ctx_.clock->MonotonicMs();
  return Status::Ok();
}

bool StreamImpl::SyncIsDue(int64_t now_mono_ms) const {
  if (meta_.options.fsync != FsyncPolicy::kInterval) return false;
  if (durable_gen_.load() >= write_gen_.load()) return false;
  return now_mono_ms - last_sync_mono_.load() >= meta_.options.fsync_interval.count();
}

const StreamImpl::Shard* StreamImpl::ShardLocked(uint32_t index) const {
  if (index >= shards_.size() || shards_[index]->meta.expired) return nullptr;
  return shards_[index].get();
}

ShardInfo StreamImpl::InfoLocked(const Shard& s) const {
  ShardInfo info;
  info.shard_id = ShardId(s.meta.index);
  info.index = s.meta.index;
  info.starting_hash_key = s.meta.start;
  info.ending_hash_key = s.meta.end;
  if (s.meta.parent >= 0) info.parent_shard_id = ShardId(static_cast<uint32_t>(s.meta.parent));
  if (s.meta.adjacent >= 0) {
    info.adjacent_parent_shard_id = ShardId(static_cast<uint32_t>(s.meta.adjacent));
  }
  info.starting_sequence_number = SequenceNumber(s.meta.index, 0);
  info.open = s.meta.open;
  info.created_ms = s.meta.created_ms;
  if (!s.meta.open) {
    info.ending_sequence_number =
        SequenceNumber(s.meta.index, s.meta.end_offset > 0 ? s.meta.end_offset - 1 : 0);
  }
  return info;
}

std::vector<ShardInfo> StreamImpl::ListShards() const {
  std::shared_lock<std::shared_mutex> topo(topo_mu_);
  std::vector<ShardInfo> out;
  for (const auto& s : shards_) {
    if (!s->meta.expired) out.push_back(InfoLocked(*s));
  }
  return out;
}

Result<ShardInfo> StreamImpl::GetShard(uint32_t index) const {
  std::shared_lock<std::shared_mutex> topo(topo_mu_);
  const Shard* s = ShardLocked(index);
  if (!s) return NotFound("stream " + name_ + " has no shard " + ShardId(index));
  return InfoLocked(*s);
}

uint64_t StreamImpl::ShardEpoch(uint32_t index) const {
  std::shared_lock<std::shared_mutex> topo(topo_mu_);
  return index < shards_.size() ? shards_[index]->meta.epoch : 0;
}

Status StreamImpl::Read(uint32_t shard_index, uint64_t from_offset, const ReadLimits& limits,
                        ReadBatch* out) {
  ShardLog* log;
  {
    std::shared_lock<std::shared_mutex> topo(topo_mu_);
    const Shard* s = ShardLocked(shard_index);
    if (!s) return NotFound("stream " + name_ + " has no shard " + ShardId(shard_index));
    log = s->log.get();
    // Logs are destroyed only under the exclusive lock, when a shard expires; hold ours.
    return log->Read(from_offset, limits, out);
  }
}

Result<uint64_t> StreamImpl::EndOffset(uint32_t shard_index) const {
  std::shared_lock<std::shared_mutex> topo(topo_mu_);
  const Shard* s = ShardLocked(shard_index);
  if (!s) return NotFound("stream " + name_ + " has no shard " + ShardId(shard_index));
  return s->log->EndOffset();
}

Result<uint64_t> StreamImpl::OffsetAtTimestamp(uint32_t shard_index, int64_t ts_ms) const {
  std::shared_lock<std::shared_mutex> topo(topo_mu_);
  const Shard* s = ShardLocked(shard_index);
  if (!s) return NotFound("stream " + name_ + " has no shard " + ShardId(shard_index));
  return s->log->OffsetAtTimestamp(ts_ms);
}

bool StreamImpl::WaitForData(uint32_t shard_index, uint64_t offset,
                             std::chrono::milliseconds timeout) {
  std::shared_lock<std::shared_mutex> topo(topo_mu_);
  const Shard* s = ShardLocked(shard_index);
  if (!s) return false;
  ShardLog* log = s->log.get();
  // Waiting under the shared lock would stall resharding; the log outlives the wait because
  // logs are destroyed only when a closed shard expires, and a closed shard never waits.
  topo.unlock();
  return log->WaitForData(offset, timeout);
}

void StreamImpl::RemoveFiles() {
  std::unique_lock<std::shared_mutex> topo(topo_mu_);
  // The metadata goes first, so a crash half-way leaves a directory the next start ignores
  // rather than a stream with missing shards.
  std::error_code rm_ec;
  std::filesystem::remove(dir_ / "stream.json", rm_ec);
  if (!rm_ec) (void)FsyncDir(dir_);
  for (auto& s : shards_) {
    if (s->log) s->log->RemoveAll();
    s->log.reset();
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace sluice::broker
