// Container runtimes' log lines, parsed so that the Framer can join a line the runtime split:
// Docker's json-file driver ({"log":"text\n","stream":"stdout","time":"..."}, a line longer than
// 16 KiB written as several objects whose "log" does not end in "\n" but the last's) and the CRI
// format of containerd and CRI-O ("<RFC 3339 time> <stdout|stderr> <P|F> <content>", parts
// tagged P up to the one tagged F). Also the JSON text of a joined record.
//
// THREADING: DockerLineParser is not thread-safe (it reuses its buffers and parser); one per
// Framer, on the loop thread. The free functions are pure.
// OWNERSHIP: views returned by a parser point into the parser or into the parsed line, and are
// valid until its next Parse.
#pragma once

#include <rapidjson/reader.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "agent/tail/json_text.h"

namespace sluice::agent {

// Index of a container stream: the Framer keeps one pending record per stream.
inline constexpr int kStdout = 0;
inline constexpr int kStderr = 1;
std::string_view ContainerStreamName(int stream);

struct CriLine {
  std::string_view time;
  int stream = kStdout;
  bool partial = false;  // tag P; F, or any other tag, is a full line (as the kubelet reads it)
  std::string_view content;
};

// "<time> <stdout|stderr> <tag>[ <content>]": the time is a non-empty token starting with a
// digit; the tag's first ':'-separated field is "P" for a partial line. False for anything else.
bool ParseCriLine(std::string_view line, CriLine* out);

class DockerLineParser final {
 public:
  DockerLineParser() = default;
  DockerLineParser(const DockerLineParser&) = delete;
  DockerLineParser& operator=(const DockerLineParser&) = delete;

  // True when `line` is one JSON object with a string "log" and a "stream" of "stdout" or
  // "stderr" (the json-file driver's shape; other members are kept).
  bool Parse(std::string_view line);

  std::string_view log() const { return log_; }  // decoded
  int stream() const { return stream_; }
  // The members other than "log", in their order, as JSON text without the braces:
  // "\"stream\":\"stdout\",\"time\":\"2024-01-02T03:04:05.000000001Z\"". Strings with invalid
  // UTF-8 are repaired (json_text.h); numbers keep their text.
  std::string_view others() const;

  // SAX events (rapidjson::Reader's handler concept).
  using Ch = char;
  bool Null();
  bool Bool(bool b);
  bool Int(int) { return false; }  // numbers come as RawNumber (kParseNumbersAsStringsFlag)
  bool Uint(unsigned) { return false; }
  bool Int64(int64_t) { return false; }
  bool Uint64(uint64_t) { return false; }
  bool Double(double) { return false; }
  bool RawNumber(const Ch* s, rapidjson::SizeType n, bool copy);
  bool String(const Ch* s, rapidjson::SizeType n, bool copy);
  bool Key(const Ch* s, rapidjson::SizeType n, bool copy);
  bool StartObject();
  bool EndObject(rapidjson::SizeType members);
  bool StartArray();
  bool EndArray(rapidjson::SizeType elements);

 private:
  enum class Member { kLog, kStream, kOther };

  rapidjson::Reader reader_;  // kept: its stack is reused from line to line
  std::string others_;        // "{...}" of the other members
  StringOutput out_{&others_};
  JsonWriter writer_{out_};
  std::string log_;
  std::string scratch_;
  int depth_ = 0;
  Member member_ = Member::kOther;
  bool has_log_ = false;
  int stream_ = -1;
};

// Writes the record `head` + `log` as a JSON string + `tail` into *out, at most `limit` bytes:
// when `overflow` (the log was cut already) or the whole is longer, `log` is cut at a UTF-8
// character boundary and `terminator` appended to it, so the record stays valid JSON; returns
// true then. (If even an empty log does not fit, the text itself is cut.) `scratch` and
// `scratch2` are working buffers.
bool BuildJsonRecord(std::string_view head, std::string_view log, bool overflow,
                     std::string_view tail, size_t limit, std::string_view terminator,
                     std::string* out, std::string* scratch, std::string* scratch2);

// Appends `s` as a JSON string (invalid UTF-8 repaired, json_text.h) to *out.
void AppendJsonText(std::string_view s, std::string* out, std::string* scratch);

}  // namespace sluice::agent
