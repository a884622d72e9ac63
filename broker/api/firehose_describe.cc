// DescribeDeliveryStream's destination descriptions, from the stored request destination
// (firehose_destinations.h).
#include <rapidjson/document.h>

#include "broker/api/firehose_destinations.h"

namespace sluice::broker::api {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;
using rapidjson::Value;

constexpr std::string_view kS3Defaults =
    R"({"BufferingHints":{"SizeInMBs":5,"IntervalInSeconds":300},"CompressionFormat":)"
    R"("UNCOMPRESSED","EncryptionConfiguration":{"NoEncryptionConfig":"NoEncryption"},)"
    R"("CloudWatchLoggingOptions":{"Enabled":false}})";
constexpr std::string_view kExtendedS3Defaults =
    R"({"S3BackupMode":"Disabled","ProcessingConfiguration":{"Enabled":false,"Processors":[]},)"
    R"("DynamicPartitioningConfiguration":{"Enabled":false}})";
constexpr std::string_view kOtherDefaults =
    R"({"BufferingHints":{"SizeInMBs":5,"IntervalInSeconds":300},)"
    R"("CloudWatchLoggingOptions":{"Enabled":false},)"
    R"("ProcessingConfiguration":{"Enabled":false,"Processors":[]}})";

bool IsSecret(std::string_view key) {
  return key == "AccessKey" || key == "HECToken" || key == "Password";
}

void WriteDescribed(const Value& v, Writer* w, rapidjson::Document::AllocatorType& a);

// `config` with the defaults of `defaults` under it, written with the description's names.
void WriteWithDefaults(const Value& config, std::string_view defaults, Writer* w,
                       rapidjson::Document::AllocatorType& a) {
  rapidjson::Document d(&a);
  d.Parse(defaults.data(), defaults.size());
  MergeDestinationUpdate(config, &d, a);
  WriteDescribed(d, w, a);
}

void WriteDescribed(const Value& v, Writer* w, rapidjson::Document::AllocatorType& a) {
  if (!v.IsObject()) {
    v.Accept(*w);
    return;
  }
  w->StartObject();
  for (const auto& m : v.GetObject()) {
    std::string_view key(m.name.GetString(), m.name.GetStringLength());
    if (IsSecret(key)) continue;
    if (key == "S3Configuration" || key == "S3BackupConfiguration") {
      w->Key(key == "S3Configuration" ? "S3DestinationDescription" : "S3BackupDescription");
      WriteWithDefaults(m.value, kS3Defaults, w, a);
      continue;
    }
    w->Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
    WriteDescribed(m.value, w, a);
  }
  w->EndObject();
}

}  // namespace

void WriteDestinationDescription(const Value& destination, Writer* w) {
  if (!destination.IsObject() || destination.MemberCount() != 1) return;
  const auto& m = *destination.MemberBegin();
  std::string_view member(m.name.GetString(), m.name.GetStringLength());
  rapidjson::MemoryPoolAllocator<> a;
  for (const DestinationKind& k : DestinationKinds()) {
    if (k.member != member) continue;
    if (k.sink == "s3") {
      // AWS describes an S3 destination in both shapes.
      rapidjson::Document d(&a);
      d.Parse(kS3Defaults.data(), kS3Defaults.size());
      MergeDestinationUpdate(m.value, &d, a);
      if (k.member == "S3DestinationConfiguration") {
        w->Key("S3DestinationDescription");
        WriteDescribed(d, w, a);
      }
      w->Key("ExtendedS3DestinationDescription");
      WriteWithDefaults(d, kExtendedS3Defaults, w, a);
    } else {
      w->Key(k.description.data(), static_cast<rapidjson::SizeType>(k.description.size()));
      WriteWithDefaults(m.value, kOtherDefaults, w, a);
    }
  }
}

void MergeDestinationUpdate(const Value& update, Value* config,
                            rapidjson::Document::AllocatorType& allocator) {
  if (!update.IsObject() || !config->IsObject()) {
    config->CopyFrom(update, allocator);
    return;
  }
  for (const auto& m : update.GetObject()) {
    auto it = config->FindMember(m.name);
    if (it == config->MemberEnd()) {
      config->AddMember(Value(m.name, allocator), Value(m.value, allocator), allocator);
    } else {
      MergeDestinationUpdate(m.value, &it->value, allocator);
    }
  }
}

}  // namespace sluice::broker::api
