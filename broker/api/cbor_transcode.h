// The Kinesis API in CBOR (Content-Type application/x-amz-cbor-1.1), the wire format the AWS SDK
// for Java (v1 and v2, so KCL) uses for Kinesis by default: the same X-Amz-Target RPC as
// awsJson1.1, with bodies in CBOR (RFC 8949). It is served by transcoding at the transport
// boundary: a CBOR request becomes the JSON the operations take, and their JSON answer (an
// error document too) becomes CBOR.
//
// What differs from the JSON protocol, from the AWS SDK for Java v2 (core/protocols/
// aws-cbor-protocol: AwsCborProtocolFactory, SdkCborGenerator; protocol-core StringToInstant;
// utils DateUtils):
// - Blobs (Data) are CBOR byte strings, not base64 text.
// - Timestamps are epoch MILLISECONDS as an integer, behind tag 1 (SdkCborGenerator writes
//   writeTag(1) + writeNumber(instant.toEpochMilli())). Tag 1 is epoch seconds in RFC 8949; the
//   SDK uses it for milliseconds. The SDK reads a timestamp with the protocol's default format
//   for the payload, UNIX_TIMESTAMP_MILLIS: Long.parseLong of the number's text, so an answer's
//   timestamp must be an integer (a float such as 1.7e12 fails to parse). Its reader ignores tags.
// - Errors: the same {"__type", "message"} document, in CBOR, with the x-amzn-ErrorType header.
// Maps and arrays of answers are written with indefinite lengths (as Jackson's CBOR generator
// writes objects); requests may use either form.
//
// THREADING: pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice::broker::api {

inline constexpr std::string_view kCborContentType = "application/x-amz-cbor-1.1";

// Containers nested deeper than this are refused (Kinesis's shapes nest 4 deep).
inline constexpr int kMaxCborDepth = 64;

// Whether a Content-Type header value names the CBOR protocol.
bool IsCborContentType(std::string_view content_type);

// Appends to *json the JSON the operations take for the CBOR request `cbor`, which must be one
// map (an empty body is `{}`). Byte strings become base64 strings; a number in a timestamp member
// (Timestamp, *CreationTimestamp, ...; tag 1 or not) is epoch milliseconds and becomes epoch
// seconds. Tags are otherwise skipped, as the SDK's own reader skips them: which members are
// timestamps is the model's fixed table, both ways. The JSON is at most 6 times the size of `cbor`
// plus a constant. Malformed input (a truncated item, a length past the end, a break outside an
// indefinite item, a key that is not text, invalid UTF-8, nesting past kMaxCborDepth, bytes after
// the map) is kInvalidArgument with a SerializationException message naming the offset and what is
// wrong (*json then holds a partial document); nothing is allocated in proportion to a length
// the input claims.
Status CborToJson(std::string_view cbor, std::string* json);

// Appends to *cbor the CBOR form of the answer `json` (written by this API: valid JSON). Blob
// members (Data) are base64-decoded into byte strings; timestamp members (epoch seconds in JSON)
// become tag 1 with integer epoch milliseconds. An empty `json` gives an empty body.
// kInvalidArgument if `json` is not valid JSON or a blob member is not valid base64.
Status JsonToCbor(std::string_view json, std::string* cbor);

// Whether `member` holds a timestamp / a blob in the Kinesis (and Firehose) model.
bool IsTimestampMember(std::string_view member);
bool IsBlobMember(std::string_view member);

}  // namespace sluice::broker::api
