// Firehose destination configurations, translated into the `deliveries:` entry that runs them and
// rendered back as DescribeDeliveryStream's destination descriptions.
//
// A CreateDeliveryStream or UpdateDestination request names one destination member
// (ExtendedS3DestinationConfiguration, S3DestinationConfiguration,
// HttpEndpointDestinationConfiguration, AmazonopensearchserviceDestinationConfiguration,
// SplunkDestinationConfiguration, RedshiftDestinationConfiguration). TranslateDestination turns it
// into the JSON of a `deliveries:` entry (direct_put: true, sink: {type: s3|http|opensearch|
// splunk|redshift, ...}); the daemon adds its `firehose_api:` defaults and validates the entry as
// it validates a configured one.
//
// THREADING: pure functions; thread-safe.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <span>
#include <string>
#include <string_view>

namespace sluice::broker::api {

// A refusal, as the API answers it.
struct FirehoseError {
  std::string type;  // ValidationException, InvalidArgumentException
  std::string message;
};

// The destination members a request may hold, and the sink each one runs on.
struct DestinationKind {
  std::string_view member;       // "ExtendedS3DestinationConfiguration"
  std::string_view update;       // "ExtendedS3DestinationUpdate"
  std::string_view description;  // "ExtendedS3DestinationDescription"
  std::string_view sink;         // "s3"
};

// Every destination kind the daemon runs.
std::span<const DestinationKind> DestinationKinds();

// The kind whose configuration member `request` holds, or null (none). Sets *error when the
// request holds more than one or an unsupported one (Snowflake, Iceberg, ...).
const DestinationKind* FindDestination(const rapidjson::Value& request, FirehoseError* error);
// The kind whose update member (UpdateDestination) `request` holds; as FindDestination.
const DestinationKind* FindDestinationUpdate(const rapidjson::Value& request, FirehoseError* error);

// The `deliveries:` entry (a JSON object) for the destination `config` of `kind`, for delivery
// stream `name`. False with *error naming the request member when the configuration is malformed
// or asks for what the daemon cannot do.
bool TranslateDestination(std::string_view name, const DestinationKind& kind,
                          const rapidjson::Value& config, std::string* entry, FirehoseError* error);

// Writes the description of the stored destination `destination` ({"<member>": {...}}) as the
// members of a Destinations[] element (after DestinationId): secrets (AccessKey, HECToken,
// Password) left out, unset buffering hints and options given their Firehose defaults.
void WriteDestinationDescription(const rapidjson::Value& destination,
                                 rapidjson::Writer<rapidjson::StringBuffer>* w);

// Merges `update` (an UpdateDestination member) into `config` (the stored configuration): objects
// member by member, anything else replaced.
void MergeDestinationUpdate(const rapidjson::Value& update, rapidjson::Value* config,
                            rapidjson::Document::AllocatorType& allocator);

}  // namespace sluice::broker::api
