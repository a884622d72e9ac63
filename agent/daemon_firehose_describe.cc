// DestinationOfDelivery (daemon_firehose.h): a configured delivery's destination in the shape of
// a Firehose request, so DescribeDeliveryStream describes YAML-defined and API-created delivery
// streams alike.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "agent/daemon_firehose.h"

namespace sluice::agent {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void Pair(Writer& w, const char* key, std::string_view value) {
  w.Key(key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

// The sink option `key` as written (secrets never).
std::string Option(const buffer::SinkSection& sink, std::string_view key) {
  for (const buffer::SinkOption& o : sink.options) {
    if (o.key == key && !o.secret) return o.value;
  }
  return "";
}

void Buffering(Writer& w, const buffer::DeliveryOptions& d) {
  if (!d.buffer_size && !d.buffer_interval) return;
  w.Key("BufferingHints");
  w.StartObject();
  if (d.buffer_size) {
    w.Key("SizeInMBs");
    w.Uint64(std::max<uint64_t>(1, *d.buffer_size >> 20));
  }
  if (d.buffer_interval) {
    w.Key("IntervalInSeconds");
    w.Int64(d.buffer_interval->count() / 1000);
  }
  w.EndObject();
}

void Processing(Writer& w, const buffer::DeliveryOptions& d) {
  using Kind = buffer::TransformOptions::Kind;
  bool lambda = d.transform.kind == Kind::kHttp;
  if (!lambda && d.record_delimiter.empty() && d.partition_keys.empty()) return;
  auto processor = [&](const char* type, const char* param, std::string_view value) {
    w.StartObject();
    Pair(w, "Type", type);
    w.Key("Parameters");
    w.StartArray();
    w.StartObject();
    Pair(w, "ParameterName", param);
    Pair(w, "ParameterValue", value);
    w.EndObject();
    w.EndArray();
    w.EndObject();
  };
  w.Key("ProcessingConfiguration");
  w.StartObject();
  w.Key("Enabled");
  w.Bool(true);
  w.Key("Processors");
  w.StartArray();
  if (lambda) processor("Lambda", "LambdaArn", d.transform.url);
  if (!d.partition_keys.empty()) {
    std::string query = "{";
    for (const std::string& k : d.partition_keys) {  // name=.json.path
      size_t eq = k.find('=');
      query += (query.size() > 1 ? "," : "") + k.substr(0, eq) + ":" + k.substr(eq + 1);
    }
    processor("MetadataExtraction", "MetadataExtractionQuery", query + "}");
  }
  if (!d.record_delimiter.empty()) {
    processor("AppendDelimiterToRecord", "Delimiter", d.record_delimiter == "\n" ? "\\n" : "");
  }
  w.EndArray();
  w.EndObject();
}

const char* CompressionFormat(buffer::Compression c) {
  switch (c) {
    case buffer::Compression::kGzip:
      return "GZIP";
    case buffer::Compression::kZip:
      return "ZIP";
    case buffer::Compression::kSnappy:
      return "Snappy";
    case buffer::Compression::kHadoopSnappy:
      return "HADOOP_SNAPPY";
    case buffer::Compression::kNone:
      break;
  }
  return "UNCOMPRESSED";
}

}  // namespace

Result<std::string> DestinationOfDelivery(const buffer::DeliveryOptions& d) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  const std::string& type = d.sink.type;
  w.StartObject();
  if (type == "s3") {
    w.Key("ExtendedS3DestinationConfiguration");
    w.StartObject();
    Pair(w, "BucketARN", "arn:aws:s3:::" + Option(d.sink, "bucket"));
    if (std::string p = Option(d.sink, "prefix"); !p.empty()) Pair(w, "Prefix", p);
    if (std::string p = Option(d.sink, "error_prefix"); !p.empty()) {
      Pair(w, "ErrorOutputPrefix", p);
    }
    Buffering(w, d);
    Pair(w, "CompressionFormat", CompressionFormat(d.compression));
    Processing(w, d);
    w.Key("DynamicPartitioningConfiguration");
    w.StartObject();
    w.Key("Enabled");
    w.Bool(!d.partition_keys.empty());
    w.EndObject();
    Pair(w, "S3BackupMode", d.backup_sink ? "Enabled" : "Disabled");
    w.EndObject();
  } else if (type == "http") {
    w.Key("HttpEndpointDestinationConfiguration");
    w.StartObject();
    w.Key("EndpointConfiguration");
    w.StartObject();
    Pair(w, "Url", Option(d.sink, "url"));
    w.EndObject();
    Buffering(w, d);
    Processing(w, d);
    w.Key("RequestConfiguration");
    w.StartObject();
    Pair(w, "ContentEncoding", Option(d.sink, "content_encoding") == "gzip" ? "GZIP" : "NONE");
    w.EndObject();
    Pair(w, "S3BackupMode", d.backup_mode == "all" ? "AllData" : "FailedDataOnly");
    w.EndObject();
  } else if (type == "splunk") {
    w.Key("SplunkDestinationConfiguration");
    w.StartObject();
    Pair(w, "HECEndpoint", Option(d.sink, "endpoint"));
    Pair(w, "HECEndpointType", Option(d.sink, "endpoint_type") == "event" ? "Event" : "Raw");
    Buffering(w, d);
    Processing(w, d);
    Pair(w, "S3BackupMode", d.backup_mode == "all" ? "AllEvents" : "FailedEventsOnly");
    w.EndObject();
  } else if (type == "opensearch") {
    w.Key("AmazonopensearchserviceDestinationConfiguration");
    w.StartObject();
    Pair(w, "ClusterEndpoint", Option(d.sink, "endpoint"));
    Pair(w, "IndexName", Option(d.sink, "index"));
    std::string rotation = Option(d.sink, "index_rotation");
    Pair(w, "IndexRotationPeriod", rotation.empty() ? "NoRotation" : rotation);
    Buffering(w, d);
    Processing(w, d);
    Pair(w, "S3BackupMode", d.backup_mode == "all" ? "AllDocuments" : "FailedDocumentsOnly");
    w.EndObject();
  } else if (type == "redshift") {
    w.Key("RedshiftDestinationConfiguration");
    w.StartObject();
    w.Key("CopyCommand");
    w.StartObject();
    Pair(w, "DataTableName", Option(d.sink, "table"));
    if (std::string c = Option(d.sink, "columns"); !c.empty()) Pair(w, "DataTableColumns", c);
    w.EndObject();
    Buffering(w, d);
    Processing(w, d);
    w.EndObject();
  } else {
    return NotFound("sink type " + type + " has no Firehose destination");
  }
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace sluice::agent
