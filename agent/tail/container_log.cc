#include "agent/tail/container_log.h"

#include <rapidjson/encodedstream.h>
#include <rapidjson/memorystream.h>

#include "core/json.h"

namespace sluice::agent {

std::string_view ContainerStreamName(int stream) { return stream == kStderr ? "stderr" : "stdout"; }

bool ParseCriLine(std::string_view line, CriLine* out) {
  size_t space = line.find(' ');
  if (space == std::string_view::npos || line.front() < '0' || line.front() > '9') return false;
  out->time = line.substr(0, space);
  std::string_view rest = line.substr(space + 1);
  if (rest.starts_with("stdout ")) {
    out->stream = kStdout;
  } else if (rest.starts_with("stderr ")) {
    out->stream = kStderr;
  } else {
    return false;
  }
  rest.remove_prefix(7);
  space = rest.find(' ');
  std::string_view tag = rest.substr(0, space);
  if (tag.empty()) return false;
  out->content = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
  out->partial = tag.substr(0, tag.find(':')) == "P";
  return true;
}

bool DockerLineParser::Parse(std::string_view line) {
  if (line.empty() || line.front() != '{') return false;
  log_.clear();
  others_.clear();
  writer_.Reset(out_);
  has_log_ = false;
  stream_ = -1;
  depth_ = 0;
  member_ = Member::kOther;
  rapidjson::MemoryStream ms(line.data(), line.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> is(ms);
  DepthLimitedHandler<DockerLineParser> limited(this, kMaxJsonDepth);
  rapidjson::ParseResult r =
      reader_.Parse<rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseIterativeFlag>(
          is, limited);
  return !r.IsError() && has_log_ && stream_ >= 0;
}

std::string_view DockerLineParser::others() const {
  std::string_view s = others_;
  return s.size() >= 2 ? s.substr(1, s.size() - 2) : std::string_view();
}

// A value of "log" or "stream" must be a string; any other member's value is copied.
bool DockerLineParser::Null() {
  if (depth_ == 1 && member_ != Member::kOther) return false;
  return writer_.Null();
}

bool DockerLineParser::Bool(bool b) {
  if (depth_ == 1 && member_ != Member::kOther) return false;
  return writer_.Bool(b);
}

bool DockerLineParser::RawNumber(const Ch* s, rapidjson::SizeType n, bool) {
  if (depth_ == 1 && member_ != Member::kOther) return false;
  return writer_.RawValue(s, n, rapidjson::kNumberType);
}

bool DockerLineParser::String(const Ch* s, rapidjson::SizeType n, bool) {
  std::string_view v(s, n);
  if (depth_ == 1 && member_ == Member::kLog) {
    log_.assign(v);
    has_log_ = true;
    return true;
  }
  if (depth_ == 1 && member_ == Member::kStream) {
    stream_ = v == "stdout" ? kStdout : v == "stderr" ? kStderr : -1;
  }
  WriteString(&writer_, v, &scratch_);
  return true;
}

bool DockerLineParser::Key(const Ch* s, rapidjson::SizeType n, bool) {
  std::string_view k(s, n);
  if (depth_ == 1) {
    member_ = k == "log" ? Member::kLog : k == "stream" ? Member::kStream : Member::kOther;
    if (member_ == Member::kLog) return true;  // written by the Framer, joined
  }
  WriteString(&writer_, k, &scratch_);
  return true;
}

bool DockerLineParser::StartObject() {
  if (depth_ == 1 && member_ != Member::kOther) return false;
  ++depth_;
  return writer_.StartObject();
}

bool DockerLineParser::EndObject(rapidjson::SizeType) {
  --depth_;
  return writer_.EndObject();
}

bool DockerLineParser::StartArray() {
  if (depth_ == 0 || (depth_ == 1 && member_ != Member::kOther)) return false;
  ++depth_;
  return writer_.StartArray();
}

bool DockerLineParser::EndArray(rapidjson::SizeType) {
  --depth_;
  return writer_.EndArray();
}

namespace {

// Length of the valid UTF-8 sequence starting with lead byte `c` at s[i], or 0.
size_t Utf8Sequence(std::string_view s, size_t i, unsigned char c) {
  size_t n = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  return n != 0 && i + n <= s.size() && IsValidUtf8(s.substr(i, n)) ? n : 0;
}

}  // namespace

void AppendJsonText(std::string_view s, std::string* out, std::string* scratch) {
  // Runs of bytes that need no escape are appended whole: the writer's Put per byte costs about
  // as much as the rest of a container line's handling. Escapes are the writer's own.
  static constexpr char kHex[] = "0123456789ABCDEF";
  const size_t start = out->size();
  out->push_back('"');
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) continue;
    if (c >= 0x80) {
      size_t n = Utf8Sequence(s, i, c);
      if (n == 0) {  // invalid UTF-8: the repairing writer does it all
        out->resize(start);
        StringOutput os(out);
        JsonWriter w(os);
        WriteString(&w, s, scratch);
        return;
      }
      i += n - 1;
      continue;
    }
    out->append(s.data() + run, i - run);
    run = i + 1;
    out->push_back('\\');
    switch (c) {
      case '"':
      case '\\':
        out->push_back(static_cast<char>(c));
        break;
      case '\b':
        out->push_back('b');
        break;
      case '\t':
        out->push_back('t');
        break;
      case '\n':
        out->push_back('n');
        break;
      case '\f':
        out->push_back('f');
        break;
      case '\r':
        out->push_back('r');
        break;
      default:
        out->append("u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 0xF]);
    }
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

namespace {

// Bytes of `s[i..]`'s first character as WriteString writes it, and its size in `s`.
size_t EncodedChar(std::string_view s, size_t i, size_t* raw) {
  auto c = static_cast<unsigned char>(s[i]);
  *raw = 1;
  if (c == '"' || c == '\\') return 2;
  if (c < 0x20) return c == '\b' || c == '\t' || c == '\n' || c == '\f' || c == '\r' ? 2 : 6;
  if (c < 0x80) return 1;
  size_t n = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (n == 0 || i + n > s.size() || !IsValidUtf8(s.substr(i, n))) return 2;  // repaired: U+0080..
  *raw = n;
  return n;
}

// The longest prefix of `s`, ending at a character boundary, whose JSON text (quotes aside)
// takes at most `budget` bytes.
size_t FittingPrefix(std::string_view s, size_t budget) {
  size_t i = 0, used = 0;
  while (i < s.size()) {
    size_t raw;
    size_t enc = EncodedChar(s, i, &raw);
    if (used + enc > budget) break;
    used += enc;
    i += raw;
  }
  return i;
}

size_t EncodedSize(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0, raw; i < s.size(); i += raw) n += EncodedChar(s, i, &raw);
  return n;
}

}  // namespace

bool BuildJsonRecord(std::string_view head, std::string_view log, bool overflow,
                     std::string_view tail, size_t limit, std::string_view terminator,
                     std::string* out, std::string* scratch, std::string* scratch2) {
  out->assign(head);
  AppendJsonText(log, out, scratch);
  out->append(tail);
  if (!overflow && out->size() <= limit) return false;
  const size_t fixed = head.size() + tail.size() + 2 + EncodedSize(terminator);
  if (fixed <= limit) {
    scratch2->assign(log.substr(0, FittingPrefix(log, limit - fixed)));
    scratch2->append(terminator);
    out->assign(head);
    AppendJsonText(*scratch2, out, scratch);
    out->append(tail);
    return true;
  }
  // Not even an empty log fits: cut the text as a plain record is cut.
  size_t cut = limit > terminator.size() ? limit - terminator.size() : 0;
  out->resize(cut);
  out->append(terminator);
  return true;
}

}  // namespace sluice::agent
