#include "agent/cli_keys.h"

#include <openssl/rand.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "broker/format.h"
#include "broker/segment.h"
#include "buffer/envelope.h"
#include "core/base64.h"
#include "core/json.h"
#include "core/utf8.h"

namespace sluice::agent {

int Keygen(const std::string& id) {
  unsigned char key[32];
  unsigned char tag[2];
  if (RAND_bytes(key, sizeof key) != 1 || RAND_bytes(tag, sizeof tag) != 1) {
    std::fprintf(stderr, "sluice keygen: no randomness from OpenSSL\n");
    return 1;
  }
  std::string name = id;
  if (name.empty()) {
    std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    char buf[32];
    std::snprintf(buf, sizeof buf, "k-%04d%02d%02d-%02x%02x", utc.tm_year + 1900, utc.tm_mon + 1,
                  utc.tm_mday, tag[0], tag[1]);
    name = buf;
  }
  for (char c : name) {
    if (c <= ' ' || c == '#' || c > '~') {
      std::fprintf(stderr, "sluice keygen: a key id is printable ASCII without spaces or '#'\n");
      return 1;
    }
  }
  if (name.size() > 255) {
    std::fprintf(stderr, "sluice keygen: a key id is at most 255 characters\n");
    return 1;
  }
  std::string line =
      name + " " + Base64Encode(std::string_view(reinterpret_cast<const char*>(key), sizeof key));
  std::printf("%s\n", line.c_str());
  OPENSSL_cleanse(key, sizeof key);
  return 0;
}

namespace {

// A broker segment file starts with the magic "SLSG"; an encrypted object with "SLUICEE1".
bool IsSegment(std::string_view bytes) {
  return bytes.size() >= 4 && broker::format::Get32(bytes.data()) == broker::format::kSegmentMagic;
}

// One JSON line per record of a plain segment: offset, arrival, partition key, data (text, or
// base64 when it is not UTF-8), event time when it has one.
Status PrintRecords(std::string_view segment) {
  std::string buf(segment);
  size_t pos = broker::format::kSegmentHeaderSize;
  rapidjson::StringBuffer sb;
  while (pos < buf.size()) {
    broker::Frame f;
    if (broker::DecodeFrame(buf.data() + pos, buf.size() - pos, &f) != broker::FrameCheck::kOk) {
      return Corruption("frame at position " + std::to_string(pos) + " does not decode");
    }
    sb.Clear();
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    w.Key("offset");
    w.Uint64(f.offset);
    w.Key("arrival_ms");
    w.Int64(f.arrival_ms);
    if (f.event_ms != broker::kNoEventTime) {
      w.Key("event_ms");
      w.Int64(f.event_ms);
    }
    w.Key("partition_key");
    w.String(f.key.data(), static_cast<rapidjson::SizeType>(f.key.size()));
    if (ValidUtf8(f.data) == f.data) {
      w.Key("data");
      w.String(f.data.data(), static_cast<rapidjson::SizeType>(f.data.size()));
    } else {
      w.Key("data_base64");
      w.String(Base64Encode(f.data));
    }
    w.EndObject();
    std::fwrite(sb.GetString(), 1, sb.GetSize(), stdout);
    std::fputc('\n', stdout);
    pos += f.size;
  }
  return Status::Ok();
}

}  // namespace

int Decrypt(const std::string& keyring_path, const std::vector<std::string>& files, bool records) {
  auto keyring = buffer::Keyring::Load(keyring_path);
  if (!keyring.ok()) {
    std::fprintf(stderr, "sluice decrypt: %s\n", keyring.status().message().c_str());
    return 1;
  }
  std::vector<std::string> inputs = files.empty() ? std::vector<std::string>{"-"} : files;
  int rc = 0;
  for (const std::string& f : inputs) {
    std::string object;
    if (f == "-") {
      object.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
      std::ifstream in(f, std::ios::binary);
      if (!in) {
        std::fprintf(stderr, "sluice decrypt: %s: cannot read\n", f.c_str());
        rc = 1;
        continue;
      }
      std::ostringstream ss;
      ss << in.rdbuf();
      object = std::move(ss).str();
    }
    const char* name = f == "-" ? "<stdin>" : f.c_str();
    if (IsSegment(object)) {
      uint64_t torn = 0;
      auto plain = broker::DecryptSegment(*keyring, object, &torn);
      Status st = plain.status();
      if (plain.ok() && torn > 0) {
        std::fprintf(stderr, "sluice decrypt: %s: the last %llu bytes are a chunk cut short\n",
                     name, static_cast<unsigned long long>(torn));
      }
      if (plain.ok() && records) st = PrintRecords(*plain);
      if (plain.ok() && !records) std::fwrite(plain->data(), 1, plain->size(), stdout);
      if (!st.ok()) {
        std::fprintf(stderr, "sluice decrypt: %s: %s\n", name, st.message().c_str());
        rc = 1;
      }
      continue;
    }
    if (records) {
      std::fprintf(stderr, "sluice decrypt: %s: --records takes broker segments only\n", name);
      rc = 1;
      continue;
    }
    auto plain = buffer::DecryptObject(*keyring, object);
    if (!plain.ok()) {
      std::fprintf(stderr, "sluice decrypt: %s: %s\n", name, plain.status().message().c_str());
      rc = 1;
      continue;
    }
    std::fwrite(plain->data(), 1, plain->size(), stdout);
  }
  std::fflush(stdout);
  return rc;
}

}  // namespace sluice::agent
