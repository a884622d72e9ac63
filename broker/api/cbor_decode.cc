// CborToJson: a CBOR request body as the JSON the operations take.
//
// libcbor's streaming decoder reads one item head per call (no recursion, no allocation; a
// string's bytes are handed over only once they are all in the buffer), and the callbacks below
// write JSON as the items come. Containers are tracked on a fixed stack of kMaxCborDepth frames;
// a definite container claiming more items than bytes remain is refused at once, so claimed
// lengths never size anything.
#include <cbor.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

#include "broker/api/cbor_transcode.h"
#include "core/base64.h"
#include "core/utf8.h"

namespace sluice::broker::api {
namespace {

bool IsValidUtf8(std::string_view s) {
  for (unsigned char ch : s) {
    if (ch >= 0x80) return ValidUtf8(s) == s;  // rare in API bodies: names and keys are ASCII
  }
  return true;
}

// `s` as a JSON string, quoted, escaping what JSON requires.
void AppendQuoted(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    auto ch = static_cast<unsigned char>(s[i]);
    if (ch >= 0x20 && ch != '"' && ch != '\\') continue;
    out->append(s.data() + run, i - run);
    run = i + 1;
    if (ch == '"' || ch == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(ch));
    } else {
      char esc[6] = {'\\', 'u', '0', '0', kHex[ch >> 4], kHex[ch & 0xf]};
      out->append(esc, sizeof(esc));
    }
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

// Epoch milliseconds as the JSON protocol's epoch seconds. A fourth decimal of 5 (half a
// millisecond away from zero) makes the operations' seconds * 1000, truncated, give back exactly
// `ms` whatever the rounding of the decimal to a double.
void AppendMsAsSeconds(int64_t ms, std::string* out) {
  uint64_t a = ms < 0 ? 0 - static_cast<uint64_t>(ms) : static_cast<uint64_t>(ms);
  char buf[40];
  int n = snprintf(buf, sizeof(buf), "%s%llu.%03u5", ms < 0 ? "-" : "",
                   static_cast<unsigned long long>(a / 1000), static_cast<unsigned>(a % 1000));
  out->append(buf, static_cast<size_t>(n));
}

struct Frame {
  bool map = false;
  bool indefinite = false;
  uint64_t remaining = 0;  // definite: items left (keys and values both count)
  uint64_t done = 0;       // items complete
};

class Decoder {
 public:
  explicit Decoder(std::string* out) : out_(out) {}

  Status Run(std::string_view in) {
    auto* data = reinterpret_cast<cbor_data>(in.data());
    data_ = in.data();
    size_ = in.size();
    if (size_ == 0) {
      out_->append("{}");
      return Status::Ok();
    }
    const cbor_callbacks callbacks = Callbacks();
    while (pos_ < size_ && !root_done_) {
      cbor_decoder_result r = cbor_stream_decode(data + pos_, size_ - pos_, &callbacks, this);
      if (!error_.empty()) return Error(error_);
      if (r.status == CBOR_DECODER_NEDATA) {
        return Error("the body ends inside an item (" + std::to_string(r.required) +
                     " bytes needed, " + std::to_string(size_ - pos_) + " left)");
      }
      if (r.status != CBOR_DECODER_FINISHED) {
        char what[64];
        snprintf(what, sizeof(what), "malformed or unsupported item (initial byte 0x%02x)",
                 static_cast<unsigned char>(in[pos_]));
        return Error(what);
      }
      pos_ += r.read;
    }
    if (!root_done_) return Error("the body ends before its map is complete");
    if (pos_ < size_) {
      return Error(std::to_string(size_ - pos_) + " bytes follow the body's map");
    }
    return Status::Ok();
  }

 private:
  enum class Kind { kScalar, kNumber, kText, kBytes, kContainer, kMap };
  enum class Chunks { kNone, kText, kBytes };

  Status Error(const std::string& what) const {
    return InvalidArgument("Malformed CBOR at byte " + std::to_string(pos_) + ": " + what);
  }
  void Fail(std::string what) {
    if (error_.empty()) error_ = std::move(what);
  }
  bool failed() const { return !error_.empty(); }
  // Bytes after the head of the item being decoded.
  size_t left() const {
    unsigned info = static_cast<unsigned char>(data_[pos_]) & 0x1f;
    size_t head = info < 24 ? 1 : info < 28 ? 1 + (size_t{1} << (info - 24)) : 1;
    return size_ - pos_ - std::min(head, size_ - pos_);
  }

  // Before a data item: the separator, and what may stand where. False (failed) if it may not.
  bool Begin(Kind kind) {
    if (chunks_ != Chunks::kNone) {
      Fail("a non-string item inside an indefinite string");
      return false;
    }
    has_tag_ = false;
    is_key_ = false;
    value_is_timestamp_ = false;
    if (depth_ == 0) {
      if (kind != Kind::kMap) Fail("the body must be a CBOR map");
      return !failed();
    }
    Frame& f = stack_[depth_ - 1];
    if (f.map && f.done % 2 == 0) {
      if (kind != Kind::kText) {
        Fail("a map key must be a text string");
        return false;
      }
      is_key_ = true;
      if (f.done > 0) out_->push_back(',');
    } else if (f.map) {
      value_is_timestamp_ = timestamp_member_;
    } else if (f.done > 0) {
      out_->push_back(',');
    }
    return true;
  }

  // After a complete item: counts it in its container, closing definite containers it fills.
  void End() {
    while (true) {
      if (depth_ == 0) {
        root_done_ = true;
        return;
      }
      Frame& f = stack_[depth_ - 1];
      ++f.done;
      if (f.map && f.done % 2 == 1) out_->push_back(':');
      if (f.indefinite || --f.remaining > 0) return;
      out_->push_back(f.map ? '}' : ']');
      --depth_;
    }
  }

  void Open(bool map, bool indefinite, uint64_t items) {
    if (!Begin(map ? Kind::kMap : Kind::kContainer)) return;
    if (depth_ == kMaxCborDepth) {
      Fail("containers nested deeper than " + std::to_string(kMaxCborDepth) + " levels");
      return;
    }
    // Every item takes at least a byte: a longer claim cannot be honest.
    if (!indefinite && items > left()) {
      Fail(std::string(map ? "a map of " : "an array of ") +
           std::to_string(map ? items / 2 : items) + (map ? " pairs" : " items") +
           " is longer than the rest of the body (" + std::to_string(left()) + " bytes)");
      return;
    }
    out_->push_back(map ? '{' : '[');
    stack_[depth_++] = Frame{map, indefinite, items, 0};
    if (!indefinite && items == 0) {
      out_->push_back(map ? '}' : ']');
      --depth_;
      End();
    }
  }

  void Text(std::string_view s) {
    if (chunks_ == Chunks::kText) {
      chunk_.append(s);
      return;
    }
    if (chunks_ == Chunks::kBytes) return Fail("a text chunk inside an indefinite byte string");
    if (!Begin(Kind::kText)) return;
    EmitText(s);
  }

  void EmitText(std::string_view s) {
    if (!IsValidUtf8(s)) return Fail("a text string is not valid UTF-8");
    if (is_key_) timestamp_member_ = IsTimestampMember(s);
    AppendQuoted(s, out_);
    End();
  }

  void Bytes(std::string_view b) {
    if (chunks_ == Chunks::kBytes) {
      chunk_.append(b);
      return;
    }
    if (chunks_ == Chunks::kText) return Fail("a byte chunk inside an indefinite text string");
    if (!Begin(Kind::kBytes)) return;
    EmitBytes(b);
  }

  void EmitBytes(std::string_view b) {
    out_->push_back('"');
    Base64Append(b, out_);
    out_->push_back('"');
    End();
  }

  void StartChunks(Chunks kind) {
    if (chunks_ != Chunks::kNone) return Fail("an indefinite string inside another");
    if (!Begin(kind == Chunks::kText ? Kind::kText : Kind::kBytes)) return;
    chunks_ = kind;
    chunk_.clear();
  }

  void Break() {
    if (has_tag_) return Fail("a tag with no item after it");
    if (chunks_ != Chunks::kNone) {
      Chunks kind = chunks_;
      chunks_ = Chunks::kNone;
      return kind == Chunks::kText ? EmitText(chunk_) : EmitBytes(chunk_);
    }
    if (depth_ == 0 || !stack_[depth_ - 1].indefinite) {
      return Fail("a break (0xff) outside an indefinite-length item");
    }
    Frame& f = stack_[depth_ - 1];
    if (f.map && f.done % 2 == 1) return Fail("a map key with no value");
    out_->push_back(f.map ? '}' : ']');
    --depth_;
    End();
  }

  // A scalar other than a string: `json` written as it is.
  void Scalar(std::string_view json) {
    if (!Begin(Kind::kScalar)) return;
    out_->append(json);
    End();
  }

  bool BeginNumber() { return Begin(Kind::kNumber); }
  bool timestamp() const { return value_is_timestamp_; }

  void Unsigned(uint64_t v) {
    if (!BeginNumber()) return;
    if (timestamp()) {
      AppendMsAsSeconds(static_cast<int64_t>(std::min<uint64_t>(v, INT64_MAX)), out_);
    } else {
      char buf[24];
      auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), v);
      out_->append(buf, p);
    }
    End();
  }

  // The CBOR negative integer -1 - n.
  void Negative(uint64_t n) {
    if (!BeginNumber()) return;
    if (timestamp()) {
      AppendMsAsSeconds(
          n >= static_cast<uint64_t>(INT64_MAX) ? INT64_MIN : -1 - static_cast<int64_t>(n), out_);
    } else if (n == UINT64_MAX) {
      out_->append("-18446744073709551616");
    } else {
      char buf[24];
      buf[0] = '-';
      auto [p, ec] = std::to_chars(buf + 1, buf + sizeof(buf), n + 1);
      out_->append(buf, p);
    }
    End();
  }

  void Float(double d) {
    if (!BeginNumber()) return;
    if (!std::isfinite(d)) return Fail("a NaN or infinite number (JSON has none)");
    if (timestamp()) {
      double ms = std::floor(d);
      constexpr double kMax = 9.2e18;
      AppendMsAsSeconds(ms >= kMax    ? INT64_MAX
                        : ms <= -kMax ? INT64_MIN
                                      : static_cast<int64_t>(ms),
                        out_);
    } else {
      char buf[32];
      auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), d);
      out_->append(buf, p);
    }
    End();
  }

  // Tags are skipped (timestamps are known by their member), but one must precede an item.
  void Tag() {
    if (chunks_ != Chunks::kNone) return Fail("a tag inside an indefinite string");
    has_tag_ = true;
  }

  static Decoder* D(void* ctx) { return static_cast<Decoder*>(ctx); }
  static cbor_callbacks Callbacks() {
    cbor_callbacks c = cbor_empty_callbacks;
    c.uint8 = [](void* x, uint8_t v) { D(x)->Unsigned(v); };
    c.uint16 = [](void* x, uint16_t v) { D(x)->Unsigned(v); };
    c.uint32 = [](void* x, uint32_t v) { D(x)->Unsigned(v); };
    c.uint64 = [](void* x, uint64_t v) { D(x)->Unsigned(v); };
    c.negint8 = [](void* x, uint8_t v) { D(x)->Negative(v); };
    c.negint16 = [](void* x, uint16_t v) { D(x)->Negative(v); };
    c.negint32 = [](void* x, uint32_t v) { D(x)->Negative(v); };
    c.negint64 = [](void* x, uint64_t v) { D(x)->Negative(v); };
    c.byte_string_start = [](void* x) { D(x)->StartChunks(Chunks::kBytes); };
    c.byte_string = [](void* x, cbor_data p, size_t n) {
      D(x)->Bytes(std::string_view(reinterpret_cast<const char*>(p), n));
    };
    c.string_start = [](void* x) { D(x)->StartChunks(Chunks::kText); };
    c.string = [](void* x, cbor_data p, size_t n) {
      D(x)->Text(std::string_view(reinterpret_cast<const char*>(p), n));
    };
    c.array_start = [](void* x, size_t n) { D(x)->Open(false, false, n); };
    c.indef_array_start = [](void* x) { D(x)->Open(false, true, 0); };
    // Pairs as items: a count past 2^63 pairs is refused as longer than the body anyway.
    c.map_start = [](void* x, size_t n) {
      D(x)->Open(true, false, n > UINT64_MAX / 2 ? UINT64_MAX : n * 2);
    };
    c.indef_map_start = [](void* x) { D(x)->Open(true, true, 0); };
    c.tag = [](void* x, uint64_t) { D(x)->Tag(); };
    c.float2 = [](void* x, float v) { D(x)->Float(v); };
    c.float4 = [](void* x, float v) { D(x)->Float(v); };
    c.float8 = [](void* x, double v) { D(x)->Float(v); };
    c.undefined = [](void* x) { D(x)->Scalar("null"); };
    c.null = [](void* x) { D(x)->Scalar("null"); };
    c.boolean = [](void* x, bool v) { D(x)->Scalar(v ? "true" : "false"); };
    c.indef_break = [](void* x) { D(x)->Break(); };
    return c;
  }

  std::string* out_;
  const char* data_ = nullptr;
  size_t size_ = 0;
  size_t pos_ = 0;  // offset of the item being decoded
  std::string error_;
  Frame stack_[kMaxCborDepth];
  int depth_ = 0;
  bool root_done_ = false;
  bool has_tag_ = false;
  bool is_key_ = false;              // the current item is a map key
  bool timestamp_member_ = false;    // the last key names a timestamp member
  bool value_is_timestamp_ = false;  // the current item is that member's value
  Chunks chunks_ = Chunks::kNone;    // inside an indefinite string
  std::string chunk_;
};

}  // namespace

bool IsCborContentType(std::string_view content_type) {
  std::string_view v = content_type.substr(0, kCborContentType.size());
  if (v.size() != kCborContentType.size()) return false;
  for (size_t i = 0; i < v.size(); ++i) {
    char ch = v[i] >= 'A' && v[i] <= 'Z' ? static_cast<char>(v[i] - 'A' + 'a') : v[i];
    if (ch != kCborContentType[i]) return false;
  }
  std::string_view rest = content_type.substr(kCborContentType.size());
  return rest.empty() || rest[0] == ';' || rest[0] == ' ';
}

bool IsTimestampMember(std::string_view m) {
  // Kinesis: GetShardIterator, ListShards' ShardFilter and SubscribeToShard's StartingPosition
  // (Timestamp); ListShards' request and the stream descriptions (StreamCreationTimestamp);
  // records (ApproximateArrivalTimestamp); consumers (ConsumerCreationTimestamp). Firehose's
  // descriptions: CreateTimestamp, LastUpdateTimestamp.
  return m == "Timestamp" || m == "ApproximateArrivalTimestamp" || m == "StreamCreationTimestamp" ||
         m == "ConsumerCreationTimestamp" || m == "CreateTimestamp" || m == "LastUpdateTimestamp";
}

bool IsBlobMember(std::string_view m) { return m == "Data"; }

Status CborToJson(std::string_view cbor, std::string* json) {
  // Most of a put is its records' bytes: base64 makes 4 of every 3.
  json->reserve(json->size() + cbor.size() / 3 * 4 + 64);
  Decoder d(json);
  return d.Run(cbor);
}

}  // namespace sluice::broker::api
