// Fuzz target: broker/api/cbor_transcode.h, the CBOR request bodies of the Kinesis API (the AWS
// SDK for Java's default wire format) as the JSON the operations take. Beyond "no crash": what is
// accepted is one JSON object (within the depth bound core/json.h enforces), at most 6 bytes of
// JSON per byte of CBOR; and that JSON written back as CBOR (as answers are) reads back to the
// same JSON, unless a "Data" member held text that is not base64 (answers never do).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "broker/api/cbor_transcode.h"
#include "core/json.h"

using sluice::broker::api::CborToJson;
using sluice::broker::api::JsonToCbor;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string json;
  if (!CborToJson(in, &json).ok()) return 0;
  if (json.size() > 6 * size + 16) std::abort();
  rapidjson::Document doc;
  if (!sluice::ParseJson(json, &doc).ok() || !doc.IsObject()) std::abort();
  std::string cbor;
  sluice::Status back = JsonToCbor(json, &cbor);
  if (!back.ok()) {
    if (back.message().find("blob") == std::string::npos) std::abort();
    return 0;
  }
  std::string again;
  if (!CborToJson(cbor, &again).ok() || again != json) std::abort();
  return 0;
}
