// Parsing JSON that came from outside (API bodies, log lines, records, plugin and endpoint answers)
// without letting its shape decide how deep our stack goes; and the one way JSON strings are
// written where a writer is not already at hand (AppendJsonString, JsonEscape).
//
// RapidJSON's default reader recurses once per nesting level, so a few hundred kilobytes of '['
// overflow the stack of whichever thread parses them. Every parse of bytes we did not write goes
// through ParseJson: the reader runs iteratively (its kParseIterativeFlag keeps the state on the
// heap) and a handler refuses containers nested deeper than `max_depth`, so that what callers do
// afterwards with the value (walk it, write it back out, copy it: all recursive in RapidJSON)
// stays bounded too.
//
// Header-only: callers already link RapidJSON through the sluice_json interface target.
// Thread-safe: no shared state.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice {

// Deepest nesting accepted. Jackson's default read constraint is 1,000 levels as well; real
// documents stay far below it, and 1,000 frames of RapidJSON's recursive writer or copier use
// well under a megabyte of stack.
inline constexpr unsigned kMaxJsonDepth = 1000;

// Forwards SAX events to `Inner` and stops the parse when containers nest deeper than `max_depth`.
//
// With exact_numbers (what kParseFullPrecisionFlag asks for: see Run below), numbers arrive as
// text (kParseNumbersAsStringsFlag) and are converted here with std::from_chars, correctly
// rounded, into the events RapidJSON itself would send (Uint/Int/Uint64/Int64 for integers that
// fit, else Double). RapidJSON 1.1's own full-precision conversion is not used: on a zero past its
// fast path ("0E221") it calls __builtin_clzll(0), and on integers of hundreds of digits it reads
// past its table of powers of ten (both found by fuzz_processing).
template <typename Inner>
class DepthLimitedHandler {
 public:
  using Ch = char;
  DepthLimitedHandler(Inner* inner, unsigned max_depth, bool exact_numbers = false)
      : inner_(inner), max_depth_(max_depth), exact_numbers_(exact_numbers) {}

  bool too_deep() const { return too_deep_; }
  bool number_too_big() const { return number_too_big_; }

  bool Null() { return inner_->Null(); }
  bool Bool(bool b) { return inner_->Bool(b); }
  bool Int(int i) { return inner_->Int(i); }
  bool Uint(unsigned u) { return inner_->Uint(u); }
  bool Int64(int64_t i) { return inner_->Int64(i); }
  bool Uint64(uint64_t u) { return inner_->Uint64(u); }
  bool Double(double d) { return inner_->Double(d); }
  bool RawNumber(const Ch* s, rapidjson::SizeType n, bool copy) {
    if (!exact_numbers_) return inner_->RawNumber(s, n, copy);
    return Number(s, s + n);
  }
  bool String(const Ch* s, rapidjson::SizeType n, bool copy) { return inner_->String(s, n, copy); }
  bool Key(const Ch* s, rapidjson::SizeType n, bool copy) { return inner_->Key(s, n, copy); }
  bool StartObject() { return Enter() && inner_->StartObject(); }
  bool EndObject(rapidjson::SizeType members) {
    --depth_;
    return inner_->EndObject(members);
  }
  bool StartArray() { return Enter() && inner_->StartArray(); }
  bool EndArray(rapidjson::SizeType elements) {
    --depth_;
    return inner_->EndArray(elements);
  }

 private:
  bool Enter() {
    if (++depth_ <= max_depth_) return true;
    too_deep_ = true;
    return false;
  }

  // `text` is a number the reader has validated as JSON.
  bool Number(const char* begin, const char* end) {
    if (std::string_view(begin, static_cast<size_t>(end - begin)).find_first_of(".eE") ==
        std::string_view::npos) {
      if (*begin == '-') {
        int64_t v = 0;
        auto r = std::from_chars(begin, end, v);
        if (r.ec == std::errc() && r.ptr == end) {
          return v >= std::numeric_limits<int>::min() ? inner_->Int(static_cast<int>(v))
                                                      : inner_->Int64(v);
        }
      } else {
        uint64_t v = 0;
        auto r = std::from_chars(begin, end, v);
        if (r.ec == std::errc() && r.ptr == end) {
          return v <= std::numeric_limits<unsigned>::max() ? inner_->Uint(static_cast<unsigned>(v))
                                                           : inner_->Uint64(v);
        }
      }
    }
    double d = 0;
    auto r = std::from_chars(begin, end, d);
    if (r.ec == std::errc::result_out_of_range) {
      // Past the double range either way: strtod tells overflow (inf) from underflow (0).
      std::string copy(begin, end);
      d = std::strtod(copy.c_str(), nullptr);
      if (std::isinf(d)) {
        number_too_big_ = true;  // as RapidJSON refuses it
        return false;
      }
    } else if (r.ec != std::errc() || r.ptr != end) {
      return false;
    }
    return inner_->Double(d);
  }

  Inner* inner_;
  unsigned max_depth_;
  bool exact_numbers_;
  unsigned depth_ = 0;
  bool too_deep_ = false;
  bool number_too_big_ = false;
};

namespace json_internal {

// The stream Document::Parse(str, length) reads through: its SSE4.2 whitespace scan stops at the
// end of the bytes (the NUL-terminated streams' scan reads whole 16-byte blocks past it).
using BoundedStream = rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream>;

inline Status ParseError(const rapidjson::ParseResult& r, bool too_deep, unsigned max_depth,
                         bool number_too_big = false) {
  std::string where = "at offset " + std::to_string(r.Offset()) + ": ";
  if (too_deep) {
    return InvalidArgument(where + "nested deeper than " + std::to_string(max_depth) + " levels");
  }
  if (number_too_big) return InvalidArgument(where + "Number too big to be stored in double.");
  return InvalidArgument(where + rapidjson::GetParseError_En(r.Code()));
}

// The reader's flags for `kFlags`: kParseFullPrecisionFlag becomes numbers as text, converted
// exactly by DepthLimitedHandler (see there).
constexpr unsigned ReaderFlags(unsigned flags) {
  return (flags & rapidjson::kParseFullPrecisionFlag)
             ? ((flags & ~rapidjson::kParseFullPrecisionFlag) |
                rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseIterativeFlag)
             : (flags | rapidjson::kParseIterativeFlag);
}

template <unsigned kFlags, typename Stream, typename Handler>
Status Run(Stream& is, Handler* handler, unsigned max_depth) {
  DepthLimitedHandler<Handler> limited(handler, max_depth,
                                       (kFlags & rapidjson::kParseFullPrecisionFlag) != 0);
  rapidjson::Reader reader;
  rapidjson::ParseResult r = reader.Parse<ReaderFlags(kFlags)>(is, limited);
  if (r.IsError()) {
    return ParseError(r, limited.too_deep(), max_depth, limited.number_too_big());
  }
  return Status::Ok();
}

// Builds `doc` from the stream; on error `doc` is left null.
template <unsigned kFlags, typename Stream>
Status IntoDocument(Stream& is, rapidjson::Document* doc, unsigned max_depth) {
  Status st;
  auto generate = [&](rapidjson::Document& handler) {
    st = Run<kFlags>(is, &handler, max_depth);
    return st.ok();
  };
  doc->SetNull();
  doc->Populate(generate);
  if (!st.ok()) doc->SetNull();
  return st;
}

}  // namespace json_internal

// Parses `text` into *doc. The error names the byte offset and what was wrong ("at offset 12:
// Missing a comma or ']' after an array element."); on error *doc is null. Strings are copied
// into the document, so `text` need not outlive it.
template <unsigned kFlags = rapidjson::kParseDefaultFlags>
[[nodiscard]] Status ParseJson(std::string_view text, rapidjson::Document* doc,
                               unsigned max_depth = kMaxJsonDepth) {
  rapidjson::MemoryStream ms(text.data(), text.size());
  json_internal::BoundedStream is(ms);
  return json_internal::IntoDocument<kFlags>(is, doc, max_depth);
}

// As ParseJson, parsing in place: `text` must be NUL-terminated, is modified, and must outlive
// *doc, whose strings point into it.
template <unsigned kFlags = rapidjson::kParseDefaultFlags>
[[nodiscard]] Status ParseJsonInsitu(char* text, rapidjson::Document* doc,
                                     unsigned max_depth = kMaxJsonDepth) {
  rapidjson::InsituStringStream is(text);
  return json_internal::IntoDocument<kFlags | rapidjson::kParseInsituFlag>(is, doc, max_depth);
}

// Validates `text` as JSON without building a value. With kParseStopWhenDoneFlag, *end (when
// given) receives the offset just past the first complete value.
template <unsigned kFlags = rapidjson::kParseDefaultFlags>
[[nodiscard]] Status ValidateJson(std::string_view text, size_t* end = nullptr,
                                  unsigned max_depth = kMaxJsonDepth) {
  rapidjson::MemoryStream ms(text.data(), text.size());
  json_internal::BoundedStream is(ms);
  rapidjson::BaseReaderHandler<> sink;
  Status st = json_internal::Run<kFlags>(is, &sink, max_depth);
  if (end != nullptr) *end = is.Tell();
  return st;
}

// A Document for parsing one record after another on a hot path: its values live in a buffer
// kept between parses, so a record that fits takes no allocation for its values. Fresh() clears
// what the previous parse left and returns the Document to parse into; the previous Document's
// values die there. One per thread; not copyable.
class JsonArena {
 public:
  JsonArena() : pool_(buffer_, sizeof(buffer_)), doc_(&pool_) {}
  JsonArena(const JsonArena&) = delete;
  JsonArena& operator=(const JsonArena&) = delete;

  // The document of the last Fresh().
  rapidjson::Document& doc() { return doc_; }

  rapidjson::Document& Fresh() {
    doc_.SetNull();
    pool_.Clear();  // frees chunks beyond the buffer; the buffer is reused from its start
    return doc_;
  }

 private:
  alignas(16) char buffer_[16 * 1024];
  rapidjson::MemoryPoolAllocator<> pool_;
  rapidjson::Document doc_;
};

// Appends `s` as a JSON string (quoted; escaped by RapidJSON's writer: ", \\, control bytes) to
// *out. Bytes are copied as they are: the caller owns their encoding.
inline void AppendJsonString(std::string_view s, std::string* out) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  out->append(sb.GetString(), sb.GetSize());
}

// `s` escaped for the inside of a JSON string (without the quotes).
inline std::string JsonEscape(std::string_view s) {
  std::string quoted;
  AppendJsonString(s, &quoted);
  return quoted.substr(1, quoted.size() - 2);
}

}  // namespace sluice
