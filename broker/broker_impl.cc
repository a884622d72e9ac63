// Broker::Open and the Broker implementation: the stream table, timers' entry points, the disk
// usage count and the iterator codec.
#include <algorithm>
#include <cstring>
#include <map>
#include <shared_mutex>

#include "broker/broker.h"
#include "broker/iterator.h"
#include "broker/stream_impl.h"
#include "core/log.h"

namespace sluice::broker {

size_t FormatSequenceNumber(uint32_t shard_index, uint64_t offset, char* out) {
  // Digits from the end of a stack buffer: 64-bit divisions in chunks of 19 digits (one number per
  // record in a PutRecords or GetRecords answer, so no printf and no allocation).
  constexpr uint64_t kChunk = 10000000000000000000ull;  // 10^19
  uint128 v = (static_cast<uint128>(kSequenceTag | shard_index) << 64) | offset;
  char buf[kMaxSequenceChars];
  char* end = buf + sizeof(buf);
  char* p = end;
  while (true) {
    uint64_t part = static_cast<uint64_t>(v % kChunk);
    v /= kChunk;
    char* chunk_end = p;
    do {
      *--p = static_cast<char>('0' + part % 10);
      part /= 10;
    } while (part != 0);
    if (v == 0) break;
    while (chunk_end - p < 19) *--p = '0';  // a middle chunk keeps its leading zeros
  }
  size_t n = static_cast<size_t>(end - p);
  std::memcpy(out, p, n);
  return n;
}

std::string SequenceNumber(uint32_t shard_index, uint64_t offset) {
  char buf[kMaxSequenceChars];
  return std::string(buf, FormatSequenceNumber(shard_index, offset, buf));
}

Result<ParsedSequence> ParseSequenceNumber(std::string_view seq) {
  auto v = ParseHashKey(seq);
  if (!v.ok()) {
    return InvalidArgument("sequence number \"" + std::string(seq) + "\": " + v.status().message());
  }
  uint64_t high = static_cast<uint64_t>(*v >> 64);
  ParsedSequence p;
  p.offset = static_cast<uint64_t>(*v);
  if ((high & ~uint64_t{0xFFFFFFFF}) == kSequenceTag) {
    p.shard = high & 0xFFFFFFFF;
  } else if (high <= 0xFFFFFFFF) {
    p.legacy = true;
    p.shard = high;
  } else {
    return InvalidArgument("sequence number \"" + std::string(seq) +
                           "\" was not issued by this broker");
  }
  return p;
}

namespace {

class BrokerImpl final : public Broker {
 public:
  BrokerImpl(const BrokerOptions& options, std::unique_ptr<IteratorCodec> codec)
      : options_(options), codec_(std::move(codec)) {}

  Status LoadAll() {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(StreamsDir(), ec)) {
      if (!entry.is_directory()) continue;
      if (!std::filesystem::exists(entry.path() / "stream.json")) {
        // Left by a CreateStream or DeleteStream that did not finish: nothing was acknowledged.
        std::filesystem::remove_all(entry.path(), ec);
        ec.clear();
        continue;
      }
      auto s = StreamImpl::Load(entry.path(), Context());
      if (!s.ok()) return s.status().Annotate("stream " + entry.path().filename().string());
      std::string name = (*s)->name();
      streams_.emplace(std::move(name), std::move(*s));
    }
    if (ec) return IoError("list " + StreamsDir().string() + ": " + ec.message());
    return Status::Ok();
  }

  std::filesystem::path StreamsDir() const { return options_.data_dir / "streams"; }

  StreamContext Context() {
    StreamContext c;
    c.clock = options_.clock;
    c.segment_bytes = options_.segment_bytes;
    c.disk_quota_bytes = options_.disk_quota_bytes;
    c.disk_usage = &usage_;
    c.keyring = options_.keyring;
    return c;
  }

  Result<Stream*> CreateStream(const StreamOptions& options) override {
    RETURN_IF_ERROR(ValidateName("stream", options.name));
    if (options.shards < 1 || options.shards > 10000) {
      return InvalidArgument("stream " + options.name + ": shards must be 1..10000");
    }
    if (options.retention_hours < 24 || options.retention_hours > 8760) {
      return InvalidArgument("stream " + options.name + ": retention must be 24..8760 hours");
    }
    std::unique_lock<std::shared_mutex> lock(mu_);
    if (streams_.find(options.name) != streams_.end()) {
      return AlreadyExists("stream " + options.name + " exists");
    }
    if (options.encryption.enabled) {
      if (!options_.keyring) {
        return InvalidArgument("stream " + options.name +
                               ": encryption needs a keyring (broker.encryption.keyring)");
      }
      if (options_.keyring->FindOrPrimary(options.encryption.key_id) == nullptr) {
        return NotFound("stream " + options.name + ": master key " + options.encryption.key_id +
                        " is not in the keyring");
      }
    }
    ASSIGN_OR_RETURN(auto s, StreamImpl::Create(StreamsDir() / options.name, options, Context()));
    Stream* raw = s.get();
    streams_.emplace(options.name, std::move(s));
    return raw;
  }

  Result<Stream*> GetStream(std::string_view name) override {
    std::shared_lock<std::shared_mutex> lock(mu_);
    auto it = streams_.find(name);
    if (it == streams_.end()) return NotFound("stream " + std::string(name) + " not found");
    return static_cast<Stream*>(it->second.get());
  }

  Status DeleteStream(std::string_view name) override {
    std::unique_lock<std::shared_mutex> lock(mu_);
    auto it = streams_.find(name);
    if (it == streams_.end()) return NotFound("stream " + std::string(name) + " not found");
    if (std::string holder = it->second->HeldBy(); !holder.empty()) {
      return AlreadyExists("stream " + std::string(name) + " is used by " + holder +
                           " of this daemon's configuration; remove it there first");
    }
    it->second->RemoveFiles();
    streams_.erase(it);
    return Status::Ok();
  }

  std::vector<std::string> ListStreams() const override {
    std::shared_lock<std::shared_mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& [name, s] : streams_) out.push_back(name);
    return out;
  }

  Status SyncDue() override {
    std::shared_lock<std::shared_mutex> lock(mu_);
    int64_t now = options_.clock->MonotonicMs();
    Status first;
    for (const auto& [name, s] : streams_) {
      if (!s->SyncIsDue(now)) continue;
      Status st = s->Sync();
      if (!st.ok() && first.ok()) first = st.Annotate("stream " + name);
    }
    return first;
  }

  Status EnforceRetention() override {
    std::shared_lock<std::shared_mutex> lock(mu_);
    Status first;
    for (const auto& [name, s] : streams_) {
      Status st = s->EnforceRetention();
      if (!st.ok() && first.ok()) first = st.Annotate("stream " + name);
    }
    return first;
  }

  uint64_t DiskUsageBytes() const override {
    return static_cast<uint64_t>(std::max<int64_t>(0, usage_.load()));
  }

  const IteratorCodec& iterators() const override { return *codec_; }

  Status SetKeyring(std::shared_ptr<const Keyring> keyring) override {
    std::unique_lock<std::shared_mutex> lock(mu_);
    for (const auto& [name, s] : streams_) RETURN_IF_ERROR(s->CheckKeyring(keyring));
    options_.keyring = keyring;
    for (const auto& [name, s] : streams_) s->SetKeyring(keyring);
    return Status::Ok();
  }

 private:
  BrokerOptions options_;
  std::unique_ptr<IteratorCodec> codec_;
  std::atomic<int64_t> usage_{0};
  mutable std::shared_mutex mu_;
  std::map<std::string, std::unique_ptr<StreamImpl>, std::less<>> streams_;
};

}  // namespace

Result<std::unique_ptr<Broker>> Broker::Open(const BrokerOptions& options) {
  if (options.data_dir.empty()) return InvalidArgument("broker: data_dir is empty");
  if (options.clock == nullptr) return InvalidArgument("broker: clock is null");
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir / "streams", ec);
  if (ec) return IoError("create " + options.data_dir.string() + ": " + ec.message());
  ASSIGN_OR_RETURN(auto codec,
                   IteratorCodec::Open(options.data_dir, options.clock, options.iterator_ttl));
  auto broker = std::make_unique<BrokerImpl>(options, std::move(codec));
  RETURN_IF_ERROR(broker->LoadAll());
  return std::unique_ptr<Broker>(std::move(broker));
}

}  // namespace sluice::broker
