// The `kafka` sink's configuration and pure decisions (see kafka_config.h).
#include "plugins/kafka/kafka_config.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "core/json.h"
#include "core/secret_key.h"
#include "plugins/common/sink_util.h"

namespace sluice::kafka {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Properties the sink sets from its own options; setting them twice would be ambiguous.
constexpr std::string_view kOwned[] = {
    "bootstrap.servers",
    "metadata.broker.list",
    "compression.codec",
    "compression.type",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "request.timeout.ms",
    "dr_msg_cb",
    "dr_cb",
};

}  // namespace

Status ParseKeyOption(std::string_view text, KeyMode* mode, std::string* field) {
  if (text.empty() || text == "source") {
    *mode = KeyMode::kSource;
  } else if (text == "none") {
    *mode = KeyMode::kNone;
  } else if (text.rfind("field:", 0) == 0 && text.size() > 6) {
    std::string_view path = text.substr(6);
    if (path.front() == '.' || path.back() == '.' || path.find("..") != std::string_view::npos) {
      return InvalidArgument("key: \"" + std::string(path) + "\" is not a path a.b.c");
    }
    *mode = KeyMode::kField;
    field->assign(path);
  } else {
    return InvalidArgument("key must be source, none or field:<path>, not \"" + std::string(text) +
                           "\"");
  }
  return Status::Ok();
}

Status CheckProperty(std::string_view name, std::string_view value) {
  const std::string n = Lower(name);
  const std::string v = Lower(value);
  if (n.empty()) return InvalidArgument("properties: a property has no name");
  for (std::string_view owned : kOwned) {
    if (n == owned) {
      return InvalidArgument("properties: " + n +
                             " is set by the sink itself (brokers, compression, message_timeout, "
                             "request_timeout)");
    }
  }
  if (n == "enable.idempotence" && v != "true") {
    return InvalidArgument(
        "properties: enable.idempotence must stay true (the sink never loses or reorders a "
        "record it reported delivered)");
  }
  if ((n == "acks" || n == "request.required.acks") && v != "all" && v != "-1") {
    return InvalidArgument("properties: " + n +
                           " must be all or -1 (a record is delivered once every in-sync replica "
                           "has it), not \"" +
                           std::string(value) + "\"");
  }
  if (n == "max.in.flight.requests.per.connection" || n == "max.in.flight") {
    char* end = nullptr;
    std::string s(value);
    long k = std::strtol(s.c_str(), &end, 10);
    if (end == s.c_str() || *end != '\0' || k < 1 || k > 5) {
      return InvalidArgument("properties: " + n + " must be 1..5 with idempotence");
    }
  }
  return Status::Ok();
}

std::string PropertyForLog(std::string_view name, std::string_view value) {
  // core/secret_key's one list decides, on the name in lower case (librdkafka's are).
  return std::string(name) + "=" +
         (IsSecretKey(Lower(name)) ? std::string("<redacted>") : std::string(value));
}

std::string_view KeyOf(const KafkaConfig& c, std::string_view data, std::string_view source_key,
                       std::string* scratch, bool* found, bool* fallback) {
  *found = true;
  *fallback = false;
  switch (c.key_mode) {
    case KeyMode::kNone:
      *found = false;
      return {};
    case KeyMode::kField:
      if (sink::JsonFieldText(data, c.key_field, scratch)) return *scratch;
      *fallback = true;
      return source_key;
    case KeyMode::kSource:
      return source_key;
  }
  return source_key;
}

Verdict ClassifyDeliveryError(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
      return Verdict::kOk;
    // The record itself cannot be taken: retrying sends the same bytes again.
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
      return Verdict::kReject;
    default:
      // Timeouts, leaders moving, brokers down, authorisation (our configuration: the data must
      // not spill for it), an unknown topic: retried, and spilled after retry_duration.
      return Verdict::kRetry;
  }
}

}  // namespace sluice::kafka
