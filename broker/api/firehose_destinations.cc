#include "broker/api/firehose_destinations.h"

#include <cctype>
#include <span>
#include <string>
#include <vector>

namespace sluice::broker::api {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;
using rapidjson::Value;

constexpr DestinationKind kKinds[] = {
    {"ExtendedS3DestinationConfiguration", "ExtendedS3DestinationUpdate",
     "ExtendedS3DestinationDescription", "s3"},
    {"S3DestinationConfiguration", "S3DestinationUpdate", "S3DestinationDescription", "s3"},
    {"HttpEndpointDestinationConfiguration", "HttpEndpointDestinationUpdate",
     "HttpEndpointDestinationDescription", "http"},
    {"AmazonopensearchserviceDestinationConfiguration", "AmazonopensearchserviceDestinationUpdate",
     "AmazonopensearchserviceDestinationDescription", "opensearch"},
    {"SplunkDestinationConfiguration", "SplunkDestinationUpdate", "SplunkDestinationDescription",
     "splunk"},
    {"RedshiftDestinationConfiguration", "RedshiftDestinationUpdate",
     "RedshiftDestinationDescription", "redshift"},
};

// Destinations Firehose has and the daemon does not run.
constexpr std::string_view kUnsupported[] = {
    "ElasticsearchDestinationConfiguration", "AmazonOpenSearchServerlessDestinationConfiguration",
    "SnowflakeDestinationConfiguration",     "IcebergDestinationConfiguration",
    "DatabaseSourceConfiguration",           "MSKSourceConfiguration",
    "KinesisStreamSourceConfiguration"};

// "ExtendedS3DestinationConfiguration" -> "extendedS3DestinationConfiguration" (AWS's paths).
std::string Lower(std::string_view member) {
  std::string s(member);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

const DestinationKind* Find(const Value& request, FirehoseError* error, bool update) {
  const DestinationKind* found = nullptr;
  if (!request.IsObject()) return nullptr;
  for (const DestinationKind& k : kKinds) {
    auto it = request.FindMember(Value(rapidjson::StringRef(
        update ? k.update.data() : k.member.data(),
        static_cast<rapidjson::SizeType>(update ? k.update.size() : k.member.size()))));
    if (it == request.MemberEnd() || it->value.IsNull()) continue;
    if (found != nullptr) {
      *error = {"InvalidArgumentException", "Give only one destination configuration."};
      return nullptr;
    }
    found = &k;
  }
  for (std::string_view u : kUnsupported) {
    std::string name(u);
    if (update) name.replace(name.find("Configuration"), 13, "Update");
    auto it = request.FindMember(name.c_str());
    if (it != request.MemberEnd() && !it->value.IsNull()) {
      *error = {"InvalidArgumentException",
                name +
                    " is not supported: the destinations are ExtendedS3, S3, HttpEndpoint, "
                    "Amazonopensearchservice, Splunk and Redshift."};
      return nullptr;
    }
  }
  return found;
}

// Builds one `deliveries:` entry. The first problem found is kept.
class Translator {
 public:
  struct Opt {
    std::string key, value;
    bool json = false;  // `value` is JSON text (a map), written as is
  };

  Translator(const DestinationKind& kind, FirehoseError* error) : kind_(kind), error_(error) {}

  bool failed() const { return failed_; }

  void Invalid(std::string message) {
    if (failed_) return;
    failed_ = true;
    *error_ = {"InvalidArgumentException", std::move(message)};
  }
  void Violation(const std::string& path, std::string_view value, std::string constraint) {
    if (failed_) return;
    failed_ = true;
    std::string shown = value.empty() ? "null" : "'" + std::string(value) + "'";
    *error_ = {"ValidationException",
               "1 validation error detected: Value " + shown + " at '" + path +
                   "' failed to satisfy constraint: " + std::move(constraint)};
  }

  const Value* Get(const Value& o, const char* key) {
    if (!o.IsObject()) return nullptr;
    auto it = o.FindMember(key);
    if (it == o.MemberEnd() || it->value.IsNull()) return nullptr;
    return &it->value;
  }
  std::string Str(const Value& o, const char* key, const std::string& path) {
    const Value* v = Get(o, key);
    if (v == nullptr) return "";
    if (!v->IsString()) {
      Violation(path + "." + Lower(key), "", "Member must be a string");
      return "";
    }
    return std::string(v->GetString(), v->GetStringLength());
  }
  // An integer member within [min, max]; -1 when absent.
  int64_t Int(const Value& o, const char* key, const std::string& path, int64_t min, int64_t max) {
    const Value* v = Get(o, key);
    if (v == nullptr) return -1;
    std::string p = path + "." + Lower(key);
    if (!v->IsInt64()) {
      Violation(p, "", "Member must be an integer");
      return -1;
    }
    int64_t n = v->GetInt64();
    if (n < min || n > max) {
      Violation(p, std::to_string(n),
                "Member must have value " +
                    std::string(n < min ? "greater than or equal to " + std::to_string(min)
                                        : "less than or equal to " + std::to_string(max)));
      return -1;
    }
    return n;
  }

  // The bucket of arn:aws:s3:::bucket.
  std::string Bucket(const Value& s3, const std::string& path, bool required = true) {
    std::string arn = Str(s3, "BucketARN", path);
    if (arn.empty()) {
      if (required) Violation(path + ".bucketARN", "", "Member must not be null");
      return "";
    }
    size_t at = arn.find(":s3:::");
    if (arn.rfind("arn:", 0) != 0 || at == std::string::npos || at + 6 == arn.size() ||
        arn.find('/', at) != std::string::npos) {
      Violation(path + ".bucketARN", arn,
                "Member must satisfy regular expression pattern: arn:.*:s3:::[\\w\\.\\-]{1,255}");
      return "";
    }
    return arn.substr(at + 6);
  }

  void Buffering(const Value& config, const std::string& path) {
    const Value* hints = Get(config, "BufferingHints");
    if (hints == nullptr) return;
    std::string p = path + ".bufferingHints";
    int64_t mb = Int(*hints, "SizeInMBs", p, 1, 128);
    int64_t s = Int(*hints, "IntervalInSeconds", p, 0, 900);
    if (mb >= 0) buffer_size_ = std::to_string(mb) + "MiB";
    if (s >= 0) buffer_interval_ = std::to_string(s) + "s";
  }

  void Compression(const Value& config, const std::string& path) {
    std::string f = Str(config, "CompressionFormat", path);
    if (f.empty() || f == "UNCOMPRESSED") return;
    if (f == "GZIP") compression_ = "gzip";
    if (f == "ZIP") compression_ = "zip";
    if (f == "Snappy") compression_ = "snappy";
    if (f == "HADOOP_SNAPPY") compression_ = "hadoop_snappy";
    if (compression_.empty()) {
      Violation(path + ".compressionFormat", f,
                "Member must satisfy enum value set: [UNCOMPRESSED, GZIP, ZIP, Snappy, "
                "HADOOP_SNAPPY]");
    }
  }

  void Retry(const Value& config, const std::string& path) {
    const Value* r = Get(config, "RetryOptions");
    if (r == nullptr) return;
    int64_t s = Int(*r, "DurationInSeconds", path + ".retryOptions", 0, 7200);
    if (s >= 0) retry_ = std::to_string(s) + "s";
  }

  // ProcessingConfiguration: the processors the daemon has an equivalent of.
  void Processing(const Value& config, const std::string& path) {
    const Value* pc = Get(config, "ProcessingConfiguration");
    if (pc == nullptr) return;
    const Value* enabled = Get(*pc, "Enabled");
    if (enabled != nullptr && enabled->IsBool() && !enabled->GetBool()) return;
    const Value* procs = Get(*pc, "Processors");
    if (procs == nullptr || !procs->IsArray()) return;
    for (rapidjson::SizeType i = 0; i < procs->Size(); ++i) {
      const Value& p = (*procs)[i];
      std::string where = "ProcessingConfiguration.Processors[" + std::to_string(i) + "]";
      std::string type = Str(p, "Type", path);
      std::vector<std::pair<std::string, std::string>> params;
      if (const Value* ps = Get(p, "Parameters"); ps != nullptr && ps->IsArray()) {
        for (const Value& kv : ps->GetArray()) {
          params.emplace_back(Str(kv, "ParameterName", path), Str(kv, "ParameterValue", path));
        }
      }
      auto param = [&](std::string_view n) -> std::string {
        for (const auto& [k, v] : params) {
          if (k == n) return v;
        }
        return "";
      };
      if (type == "Lambda") {
        std::string arn = param("LambdaArn");
        if (arn.rfind("http://", 0) != 0 && arn.rfind("https://", 0) != 0) {
          Invalid(where + " (Lambda): LambdaArn '" + arn +
                  "' cannot be invoked here; give the http(s) URL of an endpoint that speaks the "
                  "Lambda transform contract (a delivery's transform.http)");
          return;
        }
        transform_url_ = arn;
        transform_retries_ = param("NumberOfRetries");
        transform_mb_ = param("BufferSizeInMBs");
      } else if (type == "AppendDelimiterToRecord") {
        std::string d = param("Delimiter");
        delimiter_ = d.empty() || d == "\\n" ? "\n" : d;
      } else if (type == "MetadataExtraction") {
        ParseQuery(param("MetadataExtractionQuery"), where);
      } else {
        Invalid(where + ": processor type '" + type +
                "' is not supported; the supported ones are Lambda (an http(s) URL), "
                "AppendDelimiterToRecord and MetadataExtraction ({key: .json.path, ...})");
        return;
      }
    }
  }

  // ExtendedS3 members the daemon has no equivalent of, when they ask for something.
  void Unsupported(const Value& config, const std::string& path) {
    if (const Value* conv = Get(config, "DataFormatConversionConfiguration")) {
      const Value* on = Get(*conv, "Enabled");
      if (on == nullptr || !on->IsBool() || on->GetBool()) {
        return Invalid(
            "DataFormatConversionConfiguration: record format conversion (Parquet, ORC) is not "
            "supported");
      }
    }
    if (!Str(config, "FileExtension", path).empty()) {
      return Invalid("FileExtension: object names end in the compression's extension");
    }
    std::string tz = Str(config, "CustomTimeZone", path);
    if (!tz.empty() && tz != "UTC") {
      Invalid("CustomTimeZone: prefixes are evaluated in UTC only");
    }
  }

  // A MetadataExtractionQuery of the form {k1: .a.b, k2: .c} (the jq the daemon's partitioning
  // keys express).
  void ParseQuery(std::string_view q, const std::string& where) {
    auto bad = [&] {
      Invalid(where + " (MetadataExtraction): MetadataExtractionQuery '" + std::string(q) +
              "' is not of the form {key: .json.path, ...}, the only jq the daemon evaluates");
    };
    auto trim = [](std::string_view s) {
      while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
      while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
      return s;
    };
    std::string_view s = trim(q);
    if (s.size() < 2 || s.front() != '{' || s.back() != '}') return bad();
    s = s.substr(1, s.size() - 2);
    while (!s.empty()) {
      size_t comma = s.find(',');
      std::string_view pair = trim(s.substr(0, comma));
      s = comma == std::string_view::npos ? std::string_view() : s.substr(comma + 1);
      size_t colon = pair.find(':');
      if (colon == std::string_view::npos) return bad();
      std::string_view key = trim(pair.substr(0, colon));
      std::string_view jpath = trim(pair.substr(colon + 1));
      if (key.size() >= 2 && key.front() == '"' && key.back() == '"') {
        key = key.substr(1, key.size() - 2);
      }
      if (key.empty() || jpath.size() < 2 || jpath[0] != '.') return bad();
      for (char c : jpath) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_') return bad();
      }
      keys_.emplace_back(key, jpath);
    }
  }

  // S3-shaped options of an S3 destination (or the S3 part of another one) into `sink`.
  void S3Sink(const Value& s3, const std::string& path, std::vector<Opt>* sink) {
    std::string bucket = Bucket(s3, path);
    sink->push_back({"bucket", bucket});
    if (std::string p = Str(s3, "Prefix", path); !p.empty()) sink->push_back({"prefix", p});
    if (std::string p = Str(s3, "ErrorOutputPrefix", path); !p.empty()) {
      sink->push_back({"error_prefix", p});
    }
    if (const Value* enc = Get(s3, "EncryptionConfiguration")) {
      if (const Value* kms = Get(*enc, "KMSEncryptionConfig")) {
        sink->push_back({"server_side_encryption", "aws:kms"});
        sink->push_back({"kms_key_id", Str(*kms, "AWSKMSKeyARN", path)});
      }
    }
  }

  std::string Entry(std::string_view name, const Value& config) {
    std::string path = Lower(kind_.member);
    std::vector<Opt> sink{{"type", std::string(kind_.sink)}};
    const Value* backup = nullptr;
    std::string backup_mode;
    Buffering(config, path);
    Retry(config, path);
    Processing(config, path);
    if (kind_.sink == "s3") {
      S3Sink(config, path, &sink);
      Compression(config, path);
      Unsupported(config, path);
      if (Str(config, "S3BackupMode", path) == "Enabled") {
        backup = Get(config, "S3BackupConfiguration");
        backup_mode = "all";
        if (backup == nullptr) {
          Invalid("S3BackupConfiguration: required when S3BackupMode is Enabled");
        }
      }
      if (const Value* dp = Get(config, "DynamicPartitioningConfiguration")) {
        const Value* on = Get(*dp, "Enabled");
        dynamic_ = on != nullptr && on->IsBool() && on->GetBool();
        if (const Value* r = Get(*dp, "RetryOptions")) {
          int64_t s =
              Int(*r, "DurationInSeconds", path + ".dynamicPartitioningConfiguration", 0, 7200);
          if (s >= 0) retry_ = std::to_string(s) + "s";
        }
      }
      if (dynamic_ && keys_.empty()) {
        Invalid(
            "DynamicPartitioningConfiguration: Enabled needs a MetadataExtraction processor that "
            "names the partition keys");
      }
      if (!dynamic_ && !keys_.empty()) {
        Invalid(
            "ProcessingConfiguration: MetadataExtraction needs "
            "DynamicPartitioningConfiguration.Enabled");
      }
    } else {
      OtherSink(config, path, &sink, &backup_mode);
      backup = Get(config, "S3Configuration");
      if (backup == nullptr) backup_mode.clear();
    }
    if (failed_) return "";

    rapidjson::StringBuffer sb;
    Writer w(sb);
    w.StartObject();
    Pair(w, "name", name);
    w.Key("direct_put");
    w.Bool(true);
    if (!buffer_size_.empty() || !buffer_interval_.empty()) {
      w.Key("buffer");
      w.StartObject();
      if (!buffer_size_.empty()) Pair(w, "size", buffer_size_);
      if (!buffer_interval_.empty()) Pair(w, "interval", buffer_interval_);
      w.EndObject();
    }
    if (!compression_.empty()) Pair(w, "compression", compression_);
    if (!delimiter_.empty()) Pair(w, "record_delimiter", delimiter_);
    if (!retry_.empty()) Pair(w, "retry_duration", retry_);
    if (!transform_url_.empty()) {
      w.Key("transform");
      w.StartObject();
      Pair(w, "http", transform_url_);
      if (!transform_retries_.empty()) Pair(w, "retries", transform_retries_);
      if (!transform_mb_.empty()) {
        w.Key("buffer");
        w.StartObject();
        Pair(w, "size", transform_mb_ + "MB");
        w.EndObject();
      }
      w.EndObject();
    }
    if (!keys_.empty()) {
      w.Key("partitioning");
      w.StartObject();
      w.Key("keys");
      w.StartObject();
      for (const auto& [k, p] : keys_) Pair(w, k.c_str(), p);
      w.EndObject();
      w.EndObject();
    }
    if (backup != nullptr && !backup_mode.empty()) {
      std::vector<Opt> b{{"type", "s3"}};
      S3Sink(*backup, path + ".s3BackupConfiguration", &b);
      if (failed_) return "";
      w.Key("backup");
      w.StartObject();
      Pair(w, "mode", backup_mode);
      w.Key("sink");
      WriteSink(w, b);
      w.EndObject();
    }
    w.Key("sink");
    WriteSink(w, sink);
    w.EndObject();
    return failed_ ? "" : std::string(sb.GetString(), sb.GetSize());
  }

 private:
  static void Pair(Writer& w, const char* k, std::string_view v) {
    w.Key(k);
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  }
  static void WriteSink(Writer& w, const std::vector<Opt>& opts) {
    w.StartObject();
    for (const Opt& o : opts) {
      if (o.json) {
        w.Key(o.key.c_str());
        w.RawValue(o.value.c_str(), o.value.size(), rapidjson::kObjectType);
      } else {
        Pair(w, o.key.c_str(), o.value);
      }
    }
    w.EndObject();
  }

  // The sink options of the http, opensearch, splunk and redshift destinations, and the mode of
  // their S3 backup (S3Configuration).
  void OtherSink(const Value& c, const std::string& path, std::vector<Opt>* sink,
                 std::string* backup_mode) {
    auto opt = [&](const char* key, const std::string& value) {
      if (!value.empty()) sink->push_back({key, value});
    };
    std::string mode = Str(c, "S3BackupMode", path);
    if (kind_.sink == "http") {
      const Value* ep = Get(c, "EndpointConfiguration");
      if (ep == nullptr)
        return Violation(path + ".endpointConfiguration", "", "Member must not be null");
      std::string url = Str(*ep, "Url", path + ".endpointConfiguration");
      if (url.empty()) {
        return Violation(path + ".endpointConfiguration.url", "", "Member must not be null");
      }
      opt("url", url);
      opt("access_key", Str(*ep, "AccessKey", path + ".endpointConfiguration"));
      if (const Value* rc = Get(c, "RequestConfiguration")) {
        if (Str(*rc, "ContentEncoding", path) == "GZIP") opt("content_encoding", "gzip");
        if (const Value* attrs = Get(*rc, "CommonAttributes"); attrs && attrs->IsArray()) {
          std::string flow = "{";
          for (const Value& a : attrs->GetArray()) {
            rapidjson::StringBuffer kb, vb;
            Writer kw(kb), vw(vb);
            std::string k = Str(a, "AttributeName", path), v = Str(a, "AttributeValue", path);
            kw.String(k.c_str());
            vw.String(v.c_str());
            flow += std::string(flow.size() > 1 ? "," : "") + kb.GetString() + ":" + vb.GetString();
          }
          sink->push_back({"common_attributes", flow + "}", true});
        }
      }
      *backup_mode = mode == "AllData" ? "all" : "failed_only";
    } else if (kind_.sink == "splunk") {
      opt("endpoint", Str(c, "HECEndpoint", path));
      opt("token", Str(c, "HECToken", path));
      std::string type = Str(c, "HECEndpointType", path);
      if (type == "Event") opt("endpoint_type", "event");
      int64_t ack = Int(c, "HECAcknowledgmentTimeoutInSeconds", path, 180, 600);
      if (ack >= 0) opt("ack_timeout", std::to_string(ack) + "s");
      *backup_mode = mode == "AllEvents" ? "all" : "failed_only";
    } else if (kind_.sink == "opensearch") {
      opt("endpoint", Str(c, "ClusterEndpoint", path));
      std::string index = Str(c, "IndexName", path);
      if (index.empty()) return Violation(path + ".indexName", "", "Member must not be null");
      opt("index", index);
      opt("index_rotation", Str(c, "IndexRotationPeriod", path));
      opt("type_name", Str(c, "TypeName", path));
      if (const Value* ids = Get(c, "DocumentIdOptions")) {
        if (Str(*ids, "DefaultDocumentIdFormat", path) == "NO_DOCUMENT_ID") {
          opt("document_id", "no_document_id");
        }
      }
      *backup_mode = mode == "AllDocuments" ? "all" : "failed_only";
    } else if (kind_.sink == "redshift") {
      RedshiftSink(c, path, sink);
      *backup_mode = "";  // S3Configuration is the COPY's staging area, not a backup
    }
  }

  // jdbc:redshift://host:port/db -> libpq conninfo; CopyCommand -> table, columns, options;
  // S3Configuration -> the staging bucket and prefix.
  void RedshiftSink(const Value& c, const std::string& path, std::vector<Opt>* sink) {
    std::string url = Str(c, "ClusterJDBCURL", path);
    std::string_view rest = url;
    constexpr std::string_view kScheme = "jdbc:redshift://";
    if (rest.substr(0, kScheme.size()) != kScheme) {
      return Violation(path + ".clusterJDBCURL", url,
                       "Member must satisfy regular expression pattern: jdbc:(redshift|postgresql)"
                       "://((?!-)[A-Za-z0-9-]{1,63}(?<!-)\\.)+redshift(-serverless)?"
                       "\\.([a-zA-Z0-9\\.]+):\\d{1,5}/[a-zA-Z0-9_$-]+");
    }
    rest.remove_prefix(kScheme.size());
    size_t slash = rest.find('/');
    std::string_view hostport = rest.substr(0, slash);
    std::string db = slash == std::string_view::npos ? "dev" : std::string(rest.substr(slash + 1));
    size_t colon = hostport.rfind(':');
    std::string conninfo = "host=" + std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) {
      conninfo += " port=" + std::string(hostport.substr(colon + 1));
    }
    conninfo += " dbname=" + db;
    if (std::string user = Str(c, "Username", path); !user.empty()) conninfo += " user=" + user;
    sink->push_back({"conninfo", conninfo});
    if (std::string pw = Str(c, "Password", path); !pw.empty()) sink->push_back({"password", pw});
    const Value* copy = Get(c, "CopyCommand");
    std::string table = copy ? Str(*copy, "DataTableName", path + ".copyCommand") : "";
    if (table.empty()) {
      return Violation(path + ".copyCommand.dataTableName", "", "Member must not be null");
    }
    sink->push_back({"table", table});
    if (std::string cols = Str(*copy, "DataTableColumns", path); !cols.empty()) {
      sink->push_back({"columns", cols});
    }
    if (std::string o = Str(*copy, "CopyOptions", path); !o.empty()) {
      sink->push_back({"copy_options", o});
    }
    if (const Value* s3 = Get(c, "S3Configuration")) {
      std::string p = path + ".s3Configuration";
      sink->push_back({"s3_bucket", Bucket(*s3, p)});
      if (std::string pre = Str(*s3, "Prefix", p); !pre.empty()) {
        sink->push_back({"s3_prefix", pre});
      }
    }
  }

  const DestinationKind& kind_;
  FirehoseError* error_;
  bool failed_ = false;
  std::string buffer_size_, buffer_interval_, compression_, delimiter_, retry_;
  std::string transform_url_, transform_retries_, transform_mb_;
  std::vector<std::pair<std::string, std::string>> keys_;
  bool dynamic_ = false;
};

}  // namespace

const DestinationKind* FindDestination(const Value& request, FirehoseError* error) {
  return Find(request, error, false);
}

const DestinationKind* FindDestinationUpdate(const Value& request, FirehoseError* error) {
  return Find(request, error, true);
}

bool TranslateDestination(std::string_view name, const DestinationKind& kind, const Value& config,
                          std::string* entry, FirehoseError* error) {
  if (!config.IsObject()) {
    *error = {"SerializationException", "Expected an object for " + std::string(kind.member)};
    return false;
  }
  Translator t(kind, error);
  *entry = t.Entry(name, config);
  return !t.failed();
}

std::span<const DestinationKind> DestinationKinds() { return kKinds; }

}  // namespace sluice::broker::api
