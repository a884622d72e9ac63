// Fuzz target: syslog over TCP: the framer (octet counting and newlines, mixed, fed in pieces
// the first input byte sizes) and each message parsed as RFC 3164, RFC 5424 and auto. Every
// message emitted is at most the limit, and every parse that succeeds is one valid JSON object.
#include <rapidjson/document.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "agent/input/syslog_parse.h"

using sluice::agent::SyslogFramer;
using sluice::agent::SyslogOptions;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 64;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  constexpr uint64_t kMax = 512;
  SyslogFramer framer(kMax);
  std::string out;
  auto emit = [&](std::string_view msg, bool) {
    if (msg.size() > kMax) std::abort();
    for (auto f : {SyslogOptions::Format::kRfc3164, SyslogOptions::Format::kRfc5424,
                   SyslogOptions::Format::kAuto}) {
      out.clear();
      if (!sluice::agent::SyslogToJson(msg, f, &out)) continue;
      rapidjson::Document doc;
      doc.Parse(out.data(), out.size());
      if (doc.HasParseError() || !doc.IsObject()) std::abort();
    }
  };
  for (size_t at = 0; at < in.size(); at += piece) framer.Feed(in.substr(at, piece), emit);
  framer.Finish(emit);
  return 0;
}
