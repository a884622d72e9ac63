#include "agent/tail/event_time.h"

#include <time.h>

#include <cctype>
#include <cstdint>
#include <cstring>

namespace sluice::agent {
namespace {

bool Digits(std::string_view s, size_t at, size_t n, int64_t* out) {
  if (at + n > s.size()) return false;
  int64_t v = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// A fraction's digits at `*at` as milliseconds (digits past the third are read and ignored).
int64_t Fraction(std::string_view s, size_t* at) {
  int64_t ms = 0;
  int n = 0;
  while (*at < s.size() && s[*at] >= '0' && s[*at] <= '9') {
    if (n < 3) ms = ms * 10 + (s[*at] - '0');
    ++n;
    ++*at;
  }
  for (; n < 3; ++n) ms *= 10;
  return ms;
}

std::string_view TrimBlanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// [+-]hh:mm, [+-]hhmm or [+-]hh at `*at`, as seconds east of UTC.
bool Zone(std::string_view s, size_t* at, int64_t* offset_s) {
  if (*at >= s.size() || (s[*at] != '+' && s[*at] != '-')) return false;
  const int sign = s[*at] == '-' ? -1 : 1;
  int64_t h = 0, m = 0;
  if (!Digits(s, *at + 1, 2, &h)) return false;
  size_t i = *at + 3;
  if (i < s.size() && s[i] == ':') ++i;
  if (i < s.size() && Digits(s, i, 2, &m)) i += 2;
  if (h > 23 || m > 59) return false;
  *offset_s = sign * (h * 3600 + m * 60);
  *at = i;
  return true;
}

}  // namespace

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

Result<EventTimeParser> EventTimeParser::Create(std::string_view format, int32_t utc_offset_s) {
  EventTimeParser p;
  p.utc_offset_s_ = utc_offset_s;
  if (format == "rfc3339" || format == "iso8601") {
    p.kind_ = Kind::kRfc3339;
  } else if (format == "epoch") {
    p.kind_ = Kind::kEpoch;
  } else if (format == "epoch_ms") {
    p.kind_ = Kind::kEpochMs;
  } else if (format == "epoch_us") {
    p.kind_ = Kind::kEpochUs;
  } else if (format == "epoch_ns") {
    p.kind_ = Kind::kEpochNs;
  } else if (format == "common_log") {
    p.kind_ = Kind::kCommonLog;  // read by hand: strptime costs more than the rest of a line
  } else {
    std::string f(format);
    if (f.find('%') == std::string::npos) {
      return InvalidArgument("time format \"" + f +
                             "\" is none of rfc3339, epoch, epoch_ms, epoch_us, epoch_ns, "
                             "common_log and has no strptime conversion (%Y, %H, ...)");
    }
    p.kind_ = Kind::kStrptime;
    size_t at = 0;
    while (true) {
      size_t l = f.find("%L", at);
      p.parts_.push_back(f.substr(at, l == std::string::npos ? std::string::npos : l - at));
      if (l == std::string::npos) break;
      at = l + 2;
    }
  }
  return p;
}

std::optional<int64_t> EventTimeParser::Parse(std::string_view text) const {
  std::string_view s = TrimBlanks(text);
  switch (kind_) {
    case Kind::kRfc3339: {
      // YYYY-MM-DD[T ]hh:mm[:ss[.fff]][Z|+hh:mm]
      int64_t y, mo, d, h, mi, sec = 0;
      if (!Digits(s, 0, 4, &y) || s.size() < 16 || s[4] != '-' || !Digits(s, 5, 2, &mo) ||
          s[7] != '-' || !Digits(s, 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
          !Digits(s, 11, 2, &h) || s[13] != ':' || !Digits(s, 14, 2, &mi)) {
        return std::nullopt;
      }
      size_t at = 16;
      if (at < s.size() && s[at] == ':') {
        if (!Digits(s, at + 1, 2, &sec)) return std::nullopt;
        at += 3;
      }
      int64_t ms = 0;
      if (at < s.size() && (s[at] == '.' || s[at] == ',')) {
        ++at;
        ms = Fraction(s, &at);
      }
      int64_t offset = utc_offset_s_;
      if (at < s.size() && (s[at] == 'Z' || s[at] == 'z')) {
        offset = 0;
        ++at;
      } else if (at < s.size() && !Zone(s, &at, &offset)) {
        return std::nullopt;
      }
      if (at != s.size() || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
        return std::nullopt;
      }
      const int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
      return ((days * 86400 + h * 3600 + mi * 60 + sec) - offset) * 1000 + ms;
    }
    case Kind::kEpoch:
    case Kind::kEpochMs:
    case Kind::kEpochUs:
    case Kind::kEpochNs: {
      bool neg = !s.empty() && s.front() == '-';
      if (neg) s.remove_prefix(1);
      if (s.empty() || s.size() > 20) return std::nullopt;
      int64_t whole = 0;
      size_t at = 0;
      while (at < s.size() && s[at] >= '0' && s[at] <= '9') {
        const int64_t digit = s[at++] - '0';
        if (whole > (INT64_MAX - digit) / 10) return std::nullopt;  // past int64: no time
        whole = whole * 10 + digit;
      }
      if (at == 0) return std::nullopt;
      int64_t ms = 0;
      if (kind_ == Kind::kEpoch) {
        if (at < s.size() && s[at] == '.') {
          ++at;
          ms = Fraction(s, &at);
        }
        if (whole > (int64_t{1} << 42)) return std::nullopt;
        ms += whole * 1000;
      } else {
        ms = kind_ == Kind::kEpochMs   ? whole
             : kind_ == Kind::kEpochUs ? whole / 1000
                                       : whole / 1000000;
      }
      if (at != s.size()) return std::nullopt;
      return neg ? -ms : ms;
    }
    case Kind::kCommonLog: {
      // DD/Mon/YYYY:hh:mm:ss +hhmm (the zone is required)
      static constexpr char kMonths[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
      int64_t d, y, h, mi, sec, offset = 0;
      if (s.size() < 26 || !Digits(s, 0, 2, &d) || s[2] != '/' || s[6] != '/' ||
          !Digits(s, 7, 4, &y) || s[11] != ':' || !Digits(s, 12, 2, &h) || s[14] != ':' ||
          !Digits(s, 15, 2, &mi) || s[17] != ':' || !Digits(s, 18, 2, &sec) || s[20] != ' ') {
        return std::nullopt;
      }
      unsigned mo = 0;
      for (unsigned m = 0; m < 12; ++m) {
        if (s.substr(3, 3) == std::string_view(kMonths + 3 * m, 3)) mo = m + 1;
      }
      size_t at = 21;
      if (mo == 0 || !Zone(s, &at, &offset) || at != s.size() || d < 1 || d > 31 || h > 23 ||
          mi > 59 || sec > 60) {
        return std::nullopt;
      }
      return ((DaysFromCivil(y, mo, static_cast<unsigned>(d)) * 86400 + h * 3600 + mi * 60 + sec) -
              offset) *
             1000;
    }
    case Kind::kStrptime:
      return ParseStrptime(s);
  }
  return std::nullopt;
}

std::optional<int64_t> EventTimeParser::ParseStrptime(std::string_view text) const {
  // strptime wants a NUL-terminated string; timestamps are short.
  char buf[128];
  if (text.size() >= sizeof(buf)) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  struct tm tm;
  std::memset(&tm, 0, sizeof(tm));
  tm.tm_mday = 1;
  tm.tm_gmtoff = utc_offset_s_;
  const char* at = buf;
  int64_t ms = 0;
  for (size_t i = 0; i < parts_.size(); ++i) {
    if (i > 0) {  // %L: the fraction's digits
      size_t pos = static_cast<size_t>(at - buf);
      ms = Fraction(std::string_view(buf, text.size()), &pos);
      at = buf + pos;
    }
    if (!parts_[i].empty()) {
      at = strptime(at, parts_[i].c_str(), &tm);
      if (at == nullptr) return std::nullopt;
    }
  }
  while (*at == ' ' || *at == '\t') ++at;
  if (*at != '\0') return std::nullopt;
  // A format without a year (syslog's "%b %d %H:%M:%S") leaves tm_year 0: 1900. Such times
  // are taken in the current year.
  int64_t year = tm.tm_year + 1900;
  if (tm.tm_year == 0 && parts_[0].find("%Y") == std::string::npos &&
      parts_[0].find("%y") == std::string::npos && parts_[0].find("%s") == std::string::npos) {
    time_t now = time(nullptr);
    struct tm g;
    gmtime_r(&now, &g);
    year = g.tm_year + 1900;
  }
  const int64_t days =
      DaysFromCivil(year, static_cast<unsigned>(tm.tm_mon + 1), static_cast<unsigned>(tm.tm_mday));
  const int64_t secs = days * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
  return (secs - tm.tm_gmtoff) * 1000 + ms;
}

}  // namespace sluice::agent
