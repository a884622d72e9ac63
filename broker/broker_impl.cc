// Broker::Open and the Broker implementation: the stream table, timers' entry points, the disk
// usage count and the iterator codec.
#include <algorithm>
#include <map>
#include <shared_mutex>

#include "broker/broker.h"
#include "broker/iterator.h"
#include "broker/stream_impl.h"
#include "core/log.h"

namespace sluice::broker {

std::string SequenceNumber(uint64_t epoch, uint64_t offset) {
  return HashKeyToString((static_cast<uint128>(epoch) << 64) | offset);
}

Result<std::pair<uint64_t, uint64_t>> ParseSequenceNumber(std::string_view seq) {
  auto v = ParseHashKey(seq);
  if (!v.ok()) {
    return InvalidArgument("sequence number \"" + std::string(seq) + "\": " + v.status().message());
  }
  return std::pair<uint64_t, uint64_t>{static_cast<uint64_t>(*v >> 64), static_cast<uint64_t>(*v)};
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
