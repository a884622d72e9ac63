#include "broker/api/event_stream.h"

#include <zlib.h>

namespace sluice::broker::api {
namespace {

constexpr uint8_t kTypeString = 7;

void PutU32(uint32_t v, std::string* out) {
  out->push_back(static_cast<char>(v >> 24));
  out->push_back(static_cast<char>(v >> 16));
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}

uint32_t GetU32(const char* p) {
  auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
}

uint32_t Crc(const char* p, size_t n) {
  return static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(p), static_cast<uInt>(n)));
}

}  // namespace

void AppendEventStreamMessage(const EventStreamMessage& m, std::string* out) {
  size_t headers_len = 0;
  for (const auto& [k, v] : m.headers) headers_len += 1 + k.size() + 1 + 2 + v.size();
  size_t total = 12 + headers_len + m.payload.size() + 4;
  size_t start = out->size();
  out->reserve(start + total);
  PutU32(static_cast<uint32_t>(total), out);
  PutU32(static_cast<uint32_t>(headers_len), out);
  PutU32(Crc(out->data() + start, 8), out);
  for (const auto& [k, v] : m.headers) {
    out->push_back(static_cast<char>(k.size()));
    out->append(k);
    out->push_back(static_cast<char>(kTypeString));
    out->push_back(static_cast<char>(v.size() >> 8));
    out->push_back(static_cast<char>(v.size() & 0xff));
    out->append(v);
  }
  out->append(m.payload);
  PutU32(Crc(out->data() + start, out->size() - start), out);
}

Result<EventStreamMessage> DecodeEventStreamMessage(std::string_view in, size_t* consumed) {
  if (in.size() < 16) return InvalidArgument("event stream: short prelude");
  uint32_t total = GetU32(in.data());
  uint32_t headers_len = GetU32(in.data() + 4);
  if (GetU32(in.data() + 8) != Crc(in.data(), 8)) {
    return InvalidArgument("event stream: prelude CRC mismatch");
  }
  if (total < 16 || headers_len > total - 16 || in.size() < total) {
    return InvalidArgument("event stream: bad or incomplete message length");
  }
  if (GetU32(in.data() + total - 4) != Crc(in.data(), total - 4)) {
    return InvalidArgument("event stream: message CRC mismatch");
  }
  EventStreamMessage m;
  size_t pos = 12;
  size_t end = 12 + headers_len;
  while (pos < end) {
    size_t nlen = static_cast<unsigned char>(in[pos++]);
    if (pos + nlen + 3 > end) return InvalidArgument("event stream: truncated header");
    std::string name(in.substr(pos, nlen));
    pos += nlen;
    if (static_cast<unsigned char>(in[pos++]) != kTypeString) {
      return InvalidArgument("event stream: header " + name + " is not a string");
    }
    size_t vlen = (static_cast<size_t>(static_cast<unsigned char>(in[pos])) << 8) |
                  static_cast<unsigned char>(in[pos + 1]);
    pos += 2;
    if (pos + vlen > end) return InvalidArgument("event stream: truncated header value");
    m.headers.emplace_back(std::move(name), std::string(in.substr(pos, vlen)));
    pos += vlen;
  }
  m.payload.assign(in.substr(end, total - 4 - end));
  *consumed = total;
  return m;
}

}  // namespace sluice::broker::api
