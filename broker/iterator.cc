#include "broker/iterator.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include "broker/file_util.h"
#include "broker/format.h"
#include "broker/metadata.h"
#include "core/base64.h"

namespace sluice::broker {

namespace {
constexpr size_t kKeyBytes = 32;
constexpr size_t kMacBytes = 16;
constexpr size_t kFixed = 1 + 4 + 8 + 8;
constexpr uint8_t kTokenVersion = 1;
}  // namespace

Result<IteratorType> ParseIteratorType(std::string_view name) {
  if (name == "TRIM_HORIZON") return IteratorType::kTrimHorizon;
  if (name == "LATEST") return IteratorType::kLatest;
  if (name == "AT_SEQUENCE_NUMBER") return IteratorType::kAtSequenceNumber;
  if (name == "AFTER_SEQUENCE_NUMBER") return IteratorType::kAfterSequenceNumber;
  if (name == "AT_TIMESTAMP") return IteratorType::kAtTimestamp;
  return InvalidArgument("ShardIteratorType: unknown value \"" + std::string(name) + "\"");
}

Result<std::unique_ptr<IteratorCodec>> IteratorCodec::Open(const std::filesystem::path& data_dir,
                                                           const Clock* clock,
                                                           std::chrono::milliseconds ttl) {
  std::filesystem::path path = data_dir / "iterator.key";
  auto existing = ReadWholeFile(path);
  std::string key;
  if (existing.ok() && existing->size() == kKeyBytes) {
    key = std::move(*existing);
  } else if (existing.ok() || existing.status().code() == Code::kNotFound) {
    key.resize(kKeyBytes);
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), kKeyBytes) != 1) {
      return Internal("RAND_bytes failed for the iterator key");
    }
    RETURN_IF_ERROR(WriteFileAtomically(path, key));
    ::chmod(path.c_str(), 0600);
  } else {
    return existing.status();
  }
  return std::make_unique<IteratorCodec>(std::move(key), clock, ttl);
}

IteratorCodec::IteratorCodec(std::string key, const Clock* clock, std::chrono::milliseconds ttl)
    : key_(std::move(key)), clock_(clock), ttl_(ttl) {}

static void Mac(const std::string& key, std::string_view payload, unsigned char* out) {
  unsigned char full[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), full, &len);
  std::memcpy(out, full, kMacBytes);
}

std::string IteratorCodec::Encode(std::string_view stream, uint32_t shard_index,
                                  uint64_t offset) const {
  std::string raw(kFixed + stream.size() + kMacBytes, '\0');
  raw[0] = static_cast<char>(kTokenVersion);
  format::Put32(raw.data() + 1, shard_index);
  format::Put64(raw.data() + 5, offset);
  format::Put64(raw.data() + 13, static_cast<uint64_t>(clock_->NowMs()));
  std::memcpy(raw.data() + kFixed, stream.data(), stream.size());
  Mac(key_, std::string_view(raw.data(), kFixed + stream.size()),
      reinterpret_cast<unsigned char*>(raw.data() + kFixed + stream.size()));
  return Base64Encode(raw);
}

Result<IteratorPosition> IteratorCodec::Decode(std::string_view token) const {
  auto raw = Base64Decode(token);
  if (!raw.ok() || raw->size() < kFixed + kMacBytes || (*raw)[0] != char(kTokenVersion)) {
    return InvalidArgument("ShardIterator: malformed token");
  }
  size_t payload = raw->size() - kMacBytes;
  unsigned char mac[kMacBytes];
  Mac(key_, std::string_view(raw->data(), payload), mac);
  if (CRYPTO_memcmp(mac, raw->data() + payload, kMacBytes) != 0) {
    return InvalidArgument("ShardIterator: invalid token");
  }
  IteratorPosition pos;
  pos.shard_index = format::Get32(raw->data() + 1);
  pos.offset = format::Get64(raw->data() + 5);
  pos.issued_ms = static_cast<int64_t>(format::Get64(raw->data() + 13));
  pos.stream.assign(raw->data() + kFixed, payload - kFixed);
  if (clock_->NowMs() - pos.issued_ms > ttl_.count()) {
    return Expired("ShardIterator: expired " +
                   std::to_string(clock_->NowMs() - pos.issued_ms - ttl_.count()) + " ms ago");
  }
  return pos;
}

Result<uint64_t> IteratorStartOffset(const Stream& stream, uint32_t shard_index, IteratorType type,
                                     std::string_view sequence_number, int64_t timestamp_ms) {
  ASSIGN_OR_RETURN(ShardInfo info, stream.GetShard(shard_index));
  switch (type) {
    case IteratorType::kTrimHorizon:
      return uint64_t{0};  // reads clamp to the oldest retained record
    case IteratorType::kLatest:
      return stream.EndOffset(shard_index);
    case IteratorType::kAtTimestamp:
      return stream.OffsetAtTimestamp(shard_index, timestamp_ms);
    case IteratorType::kAtSequenceNumber:
    case IteratorType::kAfterSequenceNumber: {
      auto parsed = ParseSequenceNumber(sequence_number);
      if (!parsed.ok()) {
        return InvalidArgument("Invalid StartingSequenceNumber for " + info.shard_id + ": " +
                               parsed.status().message());
      }
      // A number of the older form names its shard by epoch, which shards of one generation
      // share: it is taken for any shard of that epoch (clients' checkpoints from before).
      bool mine = parsed->legacy ? parsed->shard == stream.ShardEpoch(shard_index)
                                 : parsed->shard == shard_index;
      if (!mine && !parsed->legacy) {
        // As Kinesis words it.
        return InvalidArgument("Invalid StartingSequenceNumber. It encodes " +
                               ShardId(static_cast<uint32_t>(parsed->shard)) +
                               ", while it was used in a call to a shard with " + info.shard_id);
      }
      if (!mine) {
        return InvalidArgument("Invalid StartingSequenceNumber. " + std::string(sequence_number) +
                               " does not belong to " + info.shard_id);
      }
      return parsed->offset + (type == IteratorType::kAfterSequenceNumber ? 1 : 0);
    }
  }
  return Internal("unknown iterator type");
}

Result<std::string> GetShardIterator(const IteratorCodec& codec, const Stream& stream,
                                     uint32_t shard_index, IteratorType type,
                                     std::string_view sequence_number, int64_t timestamp_ms) {
  ASSIGN_OR_RETURN(uint64_t offset,
                   IteratorStartOffset(stream, shard_index, type, sequence_number, timestamp_ms));
  return codec.Encode(stream.name(), shard_index, offset);
}

}  // namespace sluice::broker
