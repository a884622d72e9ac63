// The `kafka` sink's configuration, read from its options, and the pure decisions of the sink:
// which key a record is produced with, which librdkafka properties are allowed, which of them
// may be logged, and what a delivery report's error means for its record.
//
// The producer is always idempotent with acks=all: a property that would weaken that
// (enable.idempotence=false, acks other than all / -1) is refused, as are the properties the
// sink sets itself (bootstrap.servers, compression, the timeouts).
//
// THREADING: pure functions and a plain value type.
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace sluice::kafka {

enum class KeyMode { kSource, kNone, kField };

struct KafkaConfig {
  std::string brokers;
  std::string topic;
  KeyMode key_mode = KeyMode::kSource;
  std::string key_field;  // kField: a.b.c
  std::string compression = "none";
  int64_t message_timeout_ms = 300000;
  int64_t request_timeout_ms = 30000;
  std::vector<std::pair<std::string, std::string>> properties;  // extra, validated
};

// Reads the `key` option: source | none | field:<path>.
Status ParseKeyOption(std::string_view text, KeyMode* mode, std::string* field);

// Checks one extra librdkafka property against the sink's guarantees.
Status CheckProperty(std::string_view name, std::string_view value);

// "name=value", or "name=<redacted>" when the name says the value is a secret (core/secret_key's
// IsSecretKey on the name in lower case: passwords, secrets, every sasl.* property).
std::string PropertyForLog(std::string_view name, std::string_view value);

// The key a record is produced with. `found` is false (and `out` untouched) for KeyMode::kNone.
// kField falls back to the source key when the record is not JSON or lacks the field; *fallback
// tells so. `scratch` holds a key made here.
std::string_view KeyOf(const KafkaConfig& c, std::string_view data, std::string_view source_key,
                       std::string* scratch, bool* found, bool* fallback);

// What a delivery report error means for its record.
enum class Verdict { kOk, kRetry, kReject };
Verdict ClassifyDeliveryError(rd_kafka_resp_err_t err);

}  // namespace sluice::kafka
