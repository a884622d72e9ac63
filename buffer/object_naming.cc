#include "buffer/object_naming.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "core/hash_key.h"

namespace sluice::buffer {
namespace {

// The namespace of Firehose's own template expressions (!{firehose:random-string},
// !{firehose:error-output-type}): a part of the prefix language, not a sink.
constexpr std::string_view kFirehoseNamespace = "firehose";

constexpr size_t kMaxPrefix = 512;
constexpr std::string_view kDefaultTimestamp = "yyyy/MM/dd/HH/";

bool IsLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Appends one run of `count` letters `c`; false if the letter is unsupported.
bool AppendField(char c, size_t count, const struct tm& t, int millis, std::string* out) {
  char buf[16];
  int value;
  switch (c) {
    case 'y':
    case 'u':
      value = t.tm_year + 1900;
      if (count == 2) value %= 100;
      break;
    case 'M':
      value = t.tm_mon + 1;
      break;
    case 'd':
      value = t.tm_mday;
      break;
    case 'H':
      value = t.tm_hour;
      break;
    case 'm':
      value = t.tm_min;
      break;
    case 's':
      value = t.tm_sec;
      break;
    case 'S':
      value = millis;
      break;
    case 'D':
      value = t.tm_yday + 1;
      break;
    default:
      return false;
  }
  if (c == 'S') {  // fraction of second: leading digits of the millis
    std::snprintf(buf, sizeof(buf), "%03d", value);
    std::string digits(buf);
    digits.resize(count, '0');
    out->append(digits);
    return true;
  }
  std::snprintf(buf, sizeof(buf), "%0*d", static_cast<int>(count), value);
  out->append(buf);
  return true;
}

}  // namespace

Result<std::string> FormatTimestamp(std::string_view pattern, int64_t ts_ms) {
  int64_t secs = ts_ms >= 0 ? ts_ms / 1000 : (ts_ms - 999) / 1000;
  int millis = static_cast<int>(ts_ms - secs * 1000);
  time_t tt = static_cast<time_t>(secs);
  struct tm t;
  gmtime_r(&tt, &t);
  std::string out;
  for (size_t i = 0; i < pattern.size();) {
    char c = pattern[i];
    if (c == '\'') {
      size_t end = pattern.find('\'', i + 1);
      if (end == std::string_view::npos) {
        return InvalidArgument("unterminated quote in timestamp pattern \"" + std::string(pattern) +
                               "\"");
      }
      if (end == i + 1) out.push_back('\'');  // '' is a quote
      out.append(pattern.substr(i + 1, end - i - 1));
      i = end + 1;
    } else if (IsLetter(c)) {
      size_t j = i;
      while (j < pattern.size() && pattern[j] == c) ++j;
      if (!AppendField(c, j - i, t, millis, &out)) {
        return InvalidArgument(std::string("unsupported letter '") + c +
                               "' in timestamp pattern \"" + std::string(pattern) +
                               "\" (use y M d H m s S, quote literals)");
      }
      i = j;
    } else {
      out.push_back(c);
      ++i;
    }
  }
  return out;
}

Result<PrefixTemplate> PrefixTemplate::Parse(std::string_view text, Kind kind) {
  PrefixTemplate t;
  std::string source(text);
  if (source.empty() && kind == Kind::kErrorPrefix) source = "!{firehose:error-output-type}/";
  t.text_ = source;
  bool has_timestamp = false, has_error_type = false;
  std::string_view s = source;
  std::string literal;
  auto bad = [&](std::string msg) {
    return InvalidArgument(std::string(kind == Kind::kPrefix ? "prefix" : "error_prefix") + " \"" +
                           std::string(text) + "\": " + msg);
  };
  for (size_t i = 0; i < s.size();) {
    if (s.compare(i, 2, "!{") != 0) {
      literal.push_back(s[i++]);
      continue;
    }
    size_t end = s.find('}', i);
    if (end == std::string_view::npos)
      return bad("unterminated expression at column " + std::to_string(i + 1));
    std::string_view expr = s.substr(i + 2, end - i - 2);
    if (expr.find("!{") != std::string_view::npos) return bad("'!{' inside an expression");
    size_t colon = expr.find(':');
    if (colon == std::string_view::npos)
      return bad("expression !{" + std::string(expr) + "} has no namespace");
    std::string_view ns = expr.substr(0, colon), value = expr.substr(colon + 1);
    if (!literal.empty())
      t.parts_.push_back({PartKind::kLiteral, std::move(literal)}), literal.clear();
    if (ns == "timestamp") {
      auto probe = FormatTimestamp(value, 0);
      if (!probe.ok()) return bad(probe.status().message());
      t.parts_.push_back({PartKind::kTimestamp, std::string(value)});
      has_timestamp = true;
    } else if (ns == kFirehoseNamespace && value == "random-string") {
      t.parts_.push_back({PartKind::kRandom, ""});
    } else if (ns == kFirehoseNamespace && value == "error-output-type") {
      if (kind != Kind::kErrorPrefix)
        return bad("!{firehose:error-output-type} is allowed only in error_prefix");
      t.parts_.push_back({PartKind::kErrorType, ""});
      has_error_type = true;
    } else if (ns == "partitionKeyFromQuery" || ns == "partitionKeyFromLambda") {
      if (kind != Kind::kPrefix)
        return bad("!{" + std::string(ns) + ":...} is not allowed in error_prefix");
      if (value.empty()) return bad("!{" + std::string(ns) + ":} needs a key name");
      t.parts_.push_back(
          {ns == "partitionKeyFromQuery" ? PartKind::kKeyFromQuery : PartKind::kKeyFromLambda,
           std::string(value)});
    } else {
      return bad("unknown expression !{" + std::string(expr) +
                 "} (timestamp, firehose:random-string, firehose:error-output-type, "
                 "partitionKeyFromQuery, partitionKeyFromLambda)");
    }
    i = end + 1;
  }
  if (!literal.empty()) t.parts_.push_back({PartKind::kLiteral, std::move(literal)});
  if (kind == Kind::kErrorPrefix && !has_error_type) {
    return bad("an error prefix must contain !{firehose:error-output-type}");
  }
  if (!has_timestamp) t.parts_.push_back({PartKind::kTimestamp, std::string(kDefaultTimestamp)});
  return t;
}

bool PrefixTemplate::Keyed() const {
  for (const Part& p : parts_) {
    if (p.kind == PartKind::kKeyFromQuery || p.kind == PartKind::kKeyFromLambda) return true;
  }
  return false;
}

Status PrefixTemplate::CheckKeys(const std::vector<std::string>& query_keys,
                                 bool lambda_keys) const {
  bool keyed = false;
  for (const Part& p : parts_) {
    if (p.kind == PartKind::kKeyFromQuery) {
      keyed = true;
      if (query_keys.empty()) {
        return InvalidArgument("!{partitionKeyFromQuery:" + p.text +
                               "} needs dynamic partitioning: add partitioning.keys with a key "
                               "named \"" +
                               p.text + "\"");
      }
      if (std::find(query_keys.begin(), query_keys.end(), p.text) == query_keys.end()) {
        std::string known;
        for (const std::string& k : query_keys) known += (known.empty() ? "" : ", ") + k;
        return InvalidArgument("!{partitionKeyFromQuery:" + p.text +
                               "} names no partitioning key (" + known + ")");
      }
    } else if (p.kind == PartKind::kKeyFromLambda) {
      keyed = true;
      if (!lambda_keys) {
        return InvalidArgument("!{partitionKeyFromLambda:" + p.text +
                               "} needs a transform that answers metadata.partitionKeys");
      }
    }
  }
  if (!keyed) {
    std::mt19937_64 rng(1);
    auto probe = Render(0, "AmazonS3Failed", &rng);
    if (!probe.ok()) return probe.status();
  }
  return Status::Ok();
}

bool PrefixTemplate::Timed() const {
  for (const Part& p : parts_) {
    if (p.kind == PartKind::kTimestamp) return true;
  }
  return false;
}

std::string PrefixTemplate::TimeBucket(int64_t ts_ms) const {
  std::string out;
  for (const Part& p : parts_) {
    if (p.kind != PartKind::kTimestamp) continue;
    auto ts = FormatTimestamp(p.text, ts_ms);
    if (ts.ok()) out += *ts;
    out.push_back('\x1f');
  }
  return out;
}

Result<std::string> PrefixTemplate::Render(
    int64_t ts_ms, std::string_view error_output_type, std::mt19937_64* rng,
    const std::map<std::string, std::string>* partition_keys) const {
  static constexpr char kAlphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string out;
  for (const Part& p : parts_) {
    switch (p.kind) {
      case PartKind::kLiteral:
        out += p.text;
        break;
      case PartKind::kTimestamp: {
        ASSIGN_OR_RETURN(std::string ts, FormatTimestamp(p.text, ts_ms));
        out += ts;
        break;
      }
      case PartKind::kRandom:
        for (int i = 0; i < 11; ++i) out.push_back(kAlphabet[(*rng)() % 62]);
        break;
      case PartKind::kErrorType:
        out += error_output_type;
        break;
      case PartKind::kKeyFromQuery:
      case PartKind::kKeyFromLambda: {
        auto missing = InvalidArgument(
            std::string("partition key \"").append(p.text).append("\" has no value"));
        if (!partition_keys) return missing;
        auto it = partition_keys->find(p.text);
        if (it == partition_keys->end()) return missing;
        out += it->second;
        break;
      }
    }
  }
  if (out.size() > kMaxPrefix) {
    return InvalidArgument("evaluated prefix is " + std::to_string(out.size()) +
                           " characters; the limit is 512");
  }
  return out;
}

std::string ObjectName(std::string_view delivery, int version, int64_t ts_ms, std::string_view id) {
  auto ts = FormatTimestamp("yyyy-MM-dd-HH-mm-ss", ts_ms);
  std::string out(delivery);
  out.push_back('-');
  out.append(std::to_string(version));
  out.push_back('-');
  out.append(*ts);
  out.push_back('-');
  out.append(id);
  return out;
}

std::string StableId(std::string_view seed) {
  uint128 h = HashKeyOf(seed);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out.push_back('-');
    out.push_back(kHex[static_cast<int>((h >> (124 - 4 * i)) & 0xf)]);
  }
  return out;
}

}  // namespace sluice::buffer
