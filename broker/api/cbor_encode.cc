// JsonToCbor: an answer of the operations (JSON) in CBOR, as the AWS SDK for Java reads it.
//
// The JSON is read with RapidJSON's SAX reader (iterative, numbers as their text) and each event
// is written at once with libcbor's encoders: maps and arrays with indefinite lengths, so nothing
// is buffered or counted ahead; blobs decoded from base64 straight into the output.
#include <cbor.h>

#include <charconv>
#include <cmath>
#include <optional>

#include "broker/api/cbor_transcode.h"
#include "core/base64.h"
#include "core/json.h"

namespace sluice::broker::api {
namespace {

// JSON epoch seconds as milliseconds, truncated toward zero as the operations read them; decimal
// text ("1700000000.123") exactly, other forms (an exponent) through a double. Clamped to int64.
std::optional<int64_t> SecondsToMs(std::string_view text) {
  std::string_view t = text;
  bool negative = !t.empty() && t[0] == '-';
  if (negative) t.remove_prefix(1);
  size_t dot = t.find('.');
  std::string_view whole = t.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? "" : t.substr(dot + 1);
  auto digits = [](std::string_view d) {
    return d.find_first_not_of("0123456789") == std::string_view::npos;
  };
  if (!whole.empty() && digits(whole) && digits(frac)) {
    unsigned __int128 mag = 0;  // 20 digits of seconds at most: past int64 either way
    for (char ch : whole.substr(0, 20)) mag = mag * 10 + static_cast<unsigned>(ch - '0');
    mag *= 1000;
    for (size_t i = 0, scale = 100; i < 3; ++i, scale /= 10) {
      if (i < frac.size()) mag += static_cast<unsigned>(frac[i] - '0') * scale;
    }
    constexpr auto kMax = static_cast<unsigned __int128>(INT64_MAX);
    if (negative) return mag > kMax ? INT64_MIN : -static_cast<int64_t>(mag);
    return mag > kMax ? INT64_MAX : static_cast<int64_t>(mag);
  }
  double seconds = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (p != text.data() + text.size() ||
      (ec != std::errc() && ec != std::errc::result_out_of_range)) {
    return std::nullopt;
  }
  double ms = std::trunc(seconds * 1000.0);
  constexpr double kMax = 9.2e18;
  return ms >= kMax ? INT64_MAX : ms <= -kMax ? INT64_MIN : static_cast<int64_t>(ms);
}

class Encoder : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Encoder> {
 public:
  explicit Encoder(std::string* out) : out_(out) {}

  const std::string& error() const { return error_; }

  bool Null() {
    Value();
    return Put(cbor_encode_null(head_, sizeof(head_)));
  }
  bool Bool(bool b) {
    Value();
    return Put(cbor_encode_bool(b, head_, sizeof(head_)));
  }
  bool StartObject() {
    Value();
    return Put(cbor_encode_indef_map_start(head_, sizeof(head_)));
  }
  bool EndObject(rapidjson::SizeType) { return Put(cbor_encode_break(head_, sizeof(head_))); }
  bool StartArray() {
    Value();
    return Put(cbor_encode_indef_array_start(head_, sizeof(head_)));
  }
  bool EndArray(rapidjson::SizeType) { return Put(cbor_encode_break(head_, sizeof(head_))); }

  bool Key(const char* s, rapidjson::SizeType n, bool) {
    std::string_view key(s, n);
    blob_ = IsBlobMember(key);
    timestamp_ = IsTimestampMember(key);
    return Text(key);
  }

  bool String(const char* s, rapidjson::SizeType n, bool) {
    bool blob = blob_;
    Value();
    if (!blob) return Text(std::string_view(s, n));
    std::string_view b64(s, n);
    if (b64.size() % 4 != 0) return Fail("a blob member is not base64");
    size_t pad = b64.empty() ? 0 : b64.back() != '=' ? 0 : b64[b64.size() - 2] == '=' ? 2 : 1;
    size_t bytes = b64.size() / 4 * 3 - pad;
    if (!Put(cbor_encode_bytestring_start(bytes, head_, sizeof(head_)))) return false;
    size_t before = out_->size();
    Status st = Base64DecodeAppend(b64, out_);
    if (!st.ok() || out_->size() - before != bytes) return Fail("a blob member is not base64");
    return true;
  }

  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    bool timestamp = timestamp_;
    Value();
    const char* end = s + n;
    if (timestamp) {  // epoch seconds with milliseconds -> tag 1, integer epoch milliseconds
      std::optional<int64_t> ms = SecondsToMs(std::string_view(s, n));
      if (!ms) return Fail("a bad timestamp");
      if (!Put(cbor_encode_tag(1, head_, sizeof(head_)))) return false;
      return Integer(*ms);
    }
    bool integral = std::string_view(s, n).find_first_of(".eE") == std::string_view::npos;
    if (integral && *s == '-') {
      // CBOR's negative integers reach -2^64: the magnitude as uint64 after one is taken off.
      uint64_t m = 0;
      auto [p, ec] = std::from_chars(s + 1, end, m);
      if (ec == std::errc() && p == end && m != 0) {
        return Put(cbor_encode_negint(m - 1, head_, sizeof(head_)));
      }
      if (std::string_view(s, n) == "-18446744073709551616") {
        return Put(cbor_encode_negint(UINT64_MAX, head_, sizeof(head_)));
      }
      // -0 stays a float; anything further is a float too.
    } else if (integral) {
      uint64_t v = 0;
      auto [p, ec] = std::from_chars(s, end, v);
      if (ec == std::errc() && p == end) return Put(cbor_encode_uint(v, head_, sizeof(head_)));
    }
    double d = 0;
    auto [p, ec] = std::from_chars(s, end, d);
    if (ec != std::errc() && ec != std::errc::result_out_of_range) return Fail("a bad number");
    return Put(cbor_encode_double(d, head_, sizeof(head_)));
  }

 private:
  // A value takes the member flags of the key before it.
  void Value() { blob_ = timestamp_ = false; }

  bool Integer(int64_t v) {
    if (v >= 0) return Put(cbor_encode_uint(static_cast<uint64_t>(v), head_, sizeof(head_)));
    // -1 - n = v  <=>  n = -(v + 1), which fits in int64 for every v.
    return Put(cbor_encode_negint(static_cast<uint64_t>(-(v + 1)), head_, sizeof(head_)));
  }

  bool Text(std::string_view s) {
    if (!Put(cbor_encode_string_start(s.size(), head_, sizeof(head_)))) return false;
    out_->append(s);
    return true;
  }

  // Appends the `n` bytes of head_ the last encoder wrote (0: it did not fit, which the 9-byte
  // head_ rules out).
  bool Put(size_t n) {
    if (n == 0) return Fail("an item head did not fit");
    out_->append(reinterpret_cast<const char*>(head_), n);
    return true;
  }

  bool Fail(const char* what) {
    error_ = what;
    return false;
  }

  std::string* out_;
  unsigned char head_[9];  // the longest head: initial byte + 8-byte argument (or a double)
  bool blob_ = false;
  bool timestamp_ = false;
  std::string error_;
};

}  // namespace

Status JsonToCbor(std::string_view json, std::string* cbor) {
  if (json.empty()) return Status::Ok();
  // Blobs shrink by a quarter from their base64; the rest stays about as long.
  cbor->reserve(cbor->size() + json.size());
  Encoder encoder(cbor);
  // Parsed in place in a copy: RapidJSON's SSE4.2 string scan serves in-place parsing (long
  // base64 blobs), and reads whole 16-byte blocks up to 15 bytes past the terminator.
  std::string copy;
  copy.reserve(json.size() + 16);
  copy.assign(json);
  rapidjson::InsituStringStream is(copy.data());
  Status st =
      json_internal::Run<rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseInsituFlag>(
          is, &encoder, kMaxJsonDepth);
  if (!encoder.error().empty()) return InvalidArgument("JSON answer to CBOR: " + encoder.error());
  if (!st.ok()) return InvalidArgument("JSON answer to CBOR: " + st.message());
  return Status::Ok();
}

}  // namespace sluice::broker::api
