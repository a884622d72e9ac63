#include "agent/tail/partition_key.h"

#include <rapidjson/document.h>

#include <array>
#include <charconv>
#include <cstring>

#include "core/hash_key.h"
#include "core/json.h"

namespace sluice::agent {
namespace {

void AppendBounded(std::string_view key, std::string* out) {
  out->append(key.substr(0, kMaxPartitionKey));
}

}  // namespace

PartitionKeyer::~PartitionKeyer() = default;

Result<std::unique_ptr<PartitionKeyer>> PartitionKeyer::Create(PartitionKeyKind kind,
                                                               const std::string& arg,
                                                               uint64_t seed) {
  std::unique_ptr<PartitionKeyer> k(new PartitionKeyer());
  k->kind_ = kind;
  k->rng_ = seed | 1;
  if (kind == PartitionKeyKind::kField) {
    std::string_view p = arg;
    // "user.id", jq's ".user.id" (as partitioning keys are written) or JSONPath's "$.user.id".
    if (p.starts_with("$.")) {
      p.remove_prefix(2);
    } else if (p.starts_with(".")) {
      p.remove_prefix(1);
    }
    size_t i = 0;
    while (i <= p.size()) {
      size_t j = p.find('.', i);
      if (j == std::string_view::npos) j = p.size();
      if (j == i) return InvalidArgument("partition_key: field path \"" + arg + "\" is empty");
      k->path_.emplace_back(p.substr(i, j - i));
      i = j + 1;
    }
  } else if (kind == PartitionKeyKind::kRegex) {
    auto re = Regex::Compile(arg);
    if (!re.ok()) return re.status().Annotate("partition_key");
    if ((*re)->capture_count() < 1) {
      return InvalidArgument("partition_key: regex \"" + arg + "\" needs one capture group");
    }
    k->re_ = std::move(*re);
  }
  return k;
}

void PartitionKeyer::AppendDeterministic(std::string_view data, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  uint128 h = HashKeyOf(data);
  char buf[32];
  for (int i = 31; i >= 0; --i) {
    buf[i] = kHex[static_cast<unsigned>(h & 0xF)];
    h >>= 4;
  }
  out->append(buf, 32);
}

bool PartitionKeyer::AppendField(std::string_view data, std::string* out) {
  // Iterative and depth-bounded: a log line is whatever anyone wrote into the file.
  rapidjson::Document& doc = arena_.Fresh();
  if (!ParseJson(data, &doc).ok() || !doc.IsObject()) return false;
  const rapidjson::Value* v = &doc;
  for (const std::string& part : path_) {
    if (!v->IsObject()) return false;
    auto it = v->FindMember(rapidjson::StringRef(part.data(), part.size()));
    if (it == v->MemberEnd()) return false;
    v = &it->value;
  }
  char buf[32];
  if (v->IsString()) {
    if (v->GetStringLength() == 0) return false;
    AppendBounded(std::string_view(v->GetString(), v->GetStringLength()), out);
  } else if (v->IsInt64()) {
    auto r = std::to_chars(buf, buf + sizeof(buf), v->GetInt64());
    out->append(buf, r.ptr);
  } else if (v->IsUint64()) {
    auto r = std::to_chars(buf, buf + sizeof(buf), v->GetUint64());
    out->append(buf, r.ptr);
  } else if (v->IsBool()) {
    out->append(v->GetBool() ? "true" : "false");
  } else {
    return false;
  }
  return true;
}

bool PartitionKeyer::AppendKey(std::string_view data, std::string_view file, std::string* out,
                               uint128* hash_key) {
  switch (kind_) {
    case PartitionKeyKind::kRandom: {
      // xorshift64*. The key's text is the hash key's high word in hex (16 characters, no
      // division per digit as decimal would need); the low word is one more draw.
      auto next = [this] {
        rng_ ^= rng_ >> 12;
        rng_ ^= rng_ << 25;
        rng_ ^= rng_ >> 27;
        return rng_ * 0x2545F4914F6CDD1Dull;
      };
      const uint64_t hi = next();
      // Two digits per table entry: eight lookups, no division.
      static constexpr auto kPairs = [] {
        std::array<char, 512> t{};
        constexpr char kHex[] = "0123456789abcdef";
        for (int b = 0; b < 256; ++b) {
          t[2 * b] = kHex[b >> 4];
          t[2 * b + 1] = kHex[b & 15];
        }
        return t;
      }();
      char buf[16];
      for (int i = 0; i < 8; ++i) {
        std::memcpy(buf + 2 * i, &kPairs[2 * ((hi >> (56 - 8 * i)) & 0xff)], 2);
      }
      out->append(buf, sizeof(buf));
      if (hash_key == nullptr) return false;
      *hash_key = (static_cast<uint128>(hi) << 64) | next();
      return true;
    }
    case PartitionKeyKind::kDeterministic:
      AppendDeterministic(data, out);
      return false;
    case PartitionKeyKind::kFile:
      if (file.empty()) break;
      // The end of a long path tells files apart better than its start.
      out->append(file.size() > kMaxPartitionKey ? file.substr(file.size() - kMaxPartitionKey)
                                                 : file);
      return false;
    case PartitionKeyKind::kField:
      if (AppendField(data, out)) return false;
      break;
    case PartitionKeyKind::kRegex:
      if (re_->Capture(data, &groups_) && !groups_[0].empty()) {
        AppendBounded(groups_[0], out);
        return false;
      }
      break;
  }
  ++fallbacks_;
  AppendDeterministic(data, out);
  return false;
}

}  // namespace sluice::agent
