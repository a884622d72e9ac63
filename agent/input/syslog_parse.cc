#include "agent/input/syslog_parse.h"

#include <cstring>

#include "agent/tail/json_text.h"

namespace sluice::agent {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// `<PRI>`: 1 to 3 digits, 0..191. Advances `*p` past it.
bool ParsePri(std::string_view s, size_t* p, int* pri) {
  if (s.size() < 3 || s[0] != '<') return false;
  size_t i = 1;
  int v = 0;
  while (i < s.size() && i <= 3 && IsDigit(s[i])) v = v * 10 + (s[i++] - '0');
  if (i == 1 || i >= s.size() || s[i] != '>' || v > 191) return false;
  *p = i + 1;
  *pri = v;
  return true;
}

// The token from `*p` up to the next space (or the end); advances past the space.
std::string_view Token(std::string_view s, size_t* p) {
  size_t end = s.find(' ', *p);
  if (end == std::string_view::npos) end = s.size();
  std::string_view t = s.substr(*p, end - *p);
  *p = end < s.size() ? end + 1 : end;
  return t;
}

class Fields {
 public:
  explicit Fields(std::string* out) : os_(out), w_(os_) { w_.StartObject(); }
  void Number(const char* key, int v) {
    w_.Key(key);
    w_.Int(v);
  }
  void Str(const char* key, std::string_view v) {
    w_.Key(key);
    WriteString(&w_, v, &scratch_);
  }
  // A 5424 field: left out when NILVALUE.
  void Nil(const char* key, std::string_view v) {
    if (v != "-") Str(key, v);
  }
  void End() { w_.EndObject(); }

 private:
  StringOutput os_;
  JsonWriter w_;
  std::string scratch_;
};

void Pri(Fields* f, int pri) {
  f->Number("pri", pri);
  f->Number("facility", pri / 8);
  f->Number("severity", pri % 8);
}

// STRUCTURED-DATA: "-" or one or more [ID PARAM="value" ...], `\"`, `\\` and `\]` escaped in
// values. Advances `*p` past it.
bool StructuredData(std::string_view s, size_t* p) {
  size_t i = *p;
  if (i < s.size() && s[i] == '-') {
    *p = i + 1;
    return true;
  }
  if (i >= s.size() || s[i] != '[') return false;
  while (i < s.size() && s[i] == '[') {
    bool quoted = false;
    for (++i;; ++i) {
      if (i >= s.size()) return false;
      char c = s[i];
      if (quoted && c == '\\') {
        ++i;
      } else if (c == '"') {
        quoted = !quoted;
      } else if (!quoted && c == ']') {
        ++i;
        break;
      }
    }
  }
  *p = i;
  return true;
}

bool Rfc5424(std::string_view s, std::string* out) {
  size_t p = 0;
  int pri = 0;
  if (!ParsePri(s, &p, &pri)) return false;
  std::string_view version = Token(s, &p);
  if (version.empty() || version.size() > 2 || version[0] == '0' || !IsDigit(version[0]) ||
      (version.size() == 2 && !IsDigit(version[1]))) {
    return false;
  }
  std::string_view time = Token(s, &p), host = Token(s, &p), app = Token(s, &p),
                   procid = Token(s, &p), msgid = Token(s, &p);
  if (time.empty() || host.empty() || app.empty() || procid.empty() || msgid.empty()) return false;
  size_t sd_begin = p;
  if (!StructuredData(s, &p)) return false;
  std::string_view sd = s.substr(sd_begin, p - sd_begin);
  std::string_view msg;
  if (p < s.size()) {
    if (s[p] != ' ') return false;
    msg = s.substr(p + 1);
    if (msg.starts_with("\xEF\xBB\xBF")) msg.remove_prefix(3);  // the UTF-8 BOM
  }
  Fields f(out);
  Pri(&f, pri);
  f.Nil("time", time);
  f.Nil("host", host);
  f.Nil("ident", app);
  f.Nil("pid", procid);
  f.Nil("msgid", msgid);
  f.Nil("extradata", sd);
  if (p < s.size()) f.Str("message", msg);
  f.End();
  return true;
}

bool IsMonth(std::string_view m) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (const char* k : kMonths) {
    if (m == k) return true;
  }
  return false;
}

bool IsClock(std::string_view t) {  // hh:mm:ss, optionally .fraction
  if (t.size() < 8 || t[2] != ':' || t[5] != ':') return false;
  for (size_t i : {0, 1, 3, 4, 6, 7}) {
    if (!IsDigit(t[i])) return false;
  }
  return t.size() == 8 || t[8] == '.';
}

// The 3164 timestamp at `*p`: "Mmm dd hh:mm:ss", "Mmm dd yyyy hh:mm:ss" or an RFC 3339 one
// (rsyslog's high-precision format). Advances past it and the space after.
bool Timestamp3164(std::string_view s, size_t* p, std::string_view* time) {
  size_t begin = *p;
  if (begin < s.size() && IsDigit(s[begin])) {  // 2023-10-11T22:14:15.003Z
    std::string_view t = Token(s, p);
    if (t.size() < 19 || t[4] != '-' || t[10] != 'T') return false;
    *time = t;
    return true;
  }
  if (s.size() < begin + 15 || !IsMonth(s.substr(begin, 3)) || s[begin + 3] != ' ') return false;
  size_t i = begin + 4;
  if (s[i] == ' ') ++i;  // "Oct  5"
  size_t day = i;
  while (i < s.size() && IsDigit(s[i])) ++i;
  if (i == day || i - day > 2 || i >= s.size() || s[i] != ' ') return false;
  ++i;
  size_t year = i;
  while (i < s.size() && IsDigit(s[i])) ++i;
  if (i - year == 4 && i < s.size() && s[i] == ' ') {
    ++i;
  } else {
    i = year;
  }
  size_t clock_end = s.find(' ', i);
  if (clock_end == std::string_view::npos) clock_end = s.size();
  if (!IsClock(s.substr(i, clock_end - i))) return false;
  *time = s.substr(begin, clock_end - begin);
  *p = clock_end < s.size() ? clock_end + 1 : clock_end;
  return true;
}

bool IsTagChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c) || c == '_' || c == '-' ||
         c == '.' || c == '/';
}

bool Rfc3164(std::string_view s, std::string* out) {
  size_t p = 0;
  int pri = 0;
  std::string_view time;
  if (!ParsePri(s, &p, &pri) || !Timestamp3164(s, &p, &time)) return false;
  // HOSTNAME, unless the next token is already the tag ("prog:" or "prog[12]:", as local
  // senders write it).
  std::string_view host;
  size_t q = p;
  std::string_view next = Token(s, &q);
  if (!next.empty() && next.back() != ':' && next.find('[') == std::string_view::npos) {
    host = next;
    p = q;
  }
  size_t tag_begin = p;
  while (p < s.size() && IsTagChar(s[p])) ++p;
  std::string_view ident = s.substr(tag_begin, p - tag_begin);
  std::string_view pid;
  if (p < s.size() && s[p] == '[') {
    size_t close = s.find(']', p);
    if (close == std::string_view::npos) return false;
    pid = s.substr(p + 1, close - p - 1);
    p = close + 1;
  }
  if (p < s.size() && s[p] == ':') ++p;
  while (p < s.size() && s[p] == ' ') ++p;
  if (ident.empty() && host.empty()) return false;
  Fields f(out);
  Pri(&f, pri);
  f.Str("time", time);
  if (!host.empty()) f.Str("host", host);
  if (!ident.empty()) f.Str("ident", ident);
  if (!pid.empty()) f.Str("pid", pid);
  f.Str("message", s.substr(p));
  f.End();
  return true;
}

}  // namespace

bool SyslogToJson(std::string_view msg, SyslogOptions::Format format, std::string* out) {
  const size_t size = out->size();
  bool ok = false;
  switch (format) {
    case SyslogOptions::Format::kRaw:
      return false;
    case SyslogOptions::Format::kRfc3164:
      ok = Rfc3164(msg, out);
      break;
    case SyslogOptions::Format::kRfc5424:
      ok = Rfc5424(msg, out);
      break;
    case SyslogOptions::Format::kAuto: {
      size_t p = 0;
      int pri = 0;
      // 5424 has a VERSION (1 or 2 digits) after the priority; 3164 a month or a year.
      bool v5424 = ParsePri(msg, &p, &pri);
      size_t sp = msg.find(' ', p);
      v5424 = v5424 && sp != std::string_view::npos && sp > p && sp - p <= 2;
      for (size_t i = p; v5424 && i < sp; ++i) v5424 = IsDigit(msg[i]);
      ok = v5424 ? Rfc5424(msg, out) : Rfc3164(msg, out);
      break;
    }
  }
  if (!ok) out->resize(size);
  return ok;
}

void SyslogFramer::Deliver(const Emit& emit) {
  std::string_view m = msg_;
  if (!m.empty() && m.back() == '\r' && state_ == State::kLine) m.remove_suffix(1);
  emit(m, truncated_);
  msg_.clear();
  truncated_ = false;
}

void SyslogFramer::Feed(std::string_view data, const Emit& emit) {
  size_t i = 0;
  while (i < data.size()) {
    switch (state_) {
      case State::kStart: {
        char c = data[i];
        if (c == '\n' || c == '\r' || c == '\0') {
          ++i;  // between messages
        } else if (IsDigit(c)) {
          state_ = State::kLength;
        } else {
          state_ = State::kLine;
        }
        break;
      }
      case State::kLength: {
        char c = data[i];
        if (IsDigit(c) && digits_.size() < 10) {
          digits_ += c;
          ++i;
        } else if (c == ' ' && !digits_.empty()) {
          ++i;
          remaining_ = std::stoull(digits_);
          digits_.clear();
          state_ = remaining_ == 0 ? State::kStart : State::kOctets;
        } else {
          // Not an octet count after all: the digits begin a newline-framed message.
          msg_ = digits_;
          digits_.clear();
          state_ = State::kLine;
        }
        break;
      }
      case State::kOctets:
      case State::kSkipOctets: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, data.size() - i));
        if (state_ == State::kOctets) {
          size_t room = static_cast<size_t>(max_ - std::min<uint64_t>(max_, msg_.size()));
          msg_.append(data.substr(i, std::min(n, room)));
          if (n > room) truncated_ = true;
        }
        i += n;
        remaining_ -= n;
        if (remaining_ == 0) {
          if (state_ == State::kOctets) Deliver(emit);
          state_ = State::kStart;
        }
        break;
      }
      case State::kLine:
      case State::kSkipLine: {
        const char* nl =
            static_cast<const char*>(std::memchr(data.data() + i, '\n', data.size() - i));
        size_t end = nl != nullptr ? static_cast<size_t>(nl - data.data()) : data.size();
        if (state_ == State::kLine) {
          size_t room = static_cast<size_t>(max_ - std::min<uint64_t>(max_, msg_.size()));
          msg_.append(data.substr(i, std::min(end - i, room)));
          if (end - i > room) truncated_ = true;
        }
        i = end;
        if (nl != nullptr) {
          ++i;
          if (state_ == State::kLine) Deliver(emit);
          truncated_ = false;
          state_ = State::kStart;
        } else if (truncated_ && state_ == State::kLine) {
          // Deliver what fits now, drop the rest of the line as it comes.
          Deliver(emit);
          state_ = State::kSkipLine;
        }
        break;
      }
    }
  }
  // A truncated octet-counted message goes out as soon as its kept part is complete.
  if (state_ == State::kOctets && truncated_) {
    Deliver(emit);
    state_ = State::kSkipOctets;
  }
}

bool SyslogFramer::Finish(const Emit& emit) {
  bool dropped = false;
  if (state_ == State::kLine && !msg_.empty()) {
    Deliver(emit);
  } else if (state_ == State::kLength && !digits_.empty()) {
    msg_ = digits_;
    state_ = State::kLine;
    Deliver(emit);
  } else if (state_ == State::kOctets) {
    dropped = true;
  }
  msg_.clear();
  digits_.clear();
  truncated_ = false;
  state_ = State::kStart;
  return dropped;
}

}  // namespace sluice::agent
