#include "buffer/kinesis_checkpoints.h"

#include <fstream>
#include <sstream>

#include "core/fd.h"
#include "core/json.h"

namespace sluice::buffer {

std::string EncodeKinesisCheckpoints(const KinesisCheckpoints& checkpoints) {
  std::string out = "{\"shards\":[";
  bool first = true;
  for (const auto& [id, ck] : checkpoints) {
    if (!first) out += ',';
    first = false;
    out += "{\"id\":";
    AppendJsonString(id, &out);
    out += ",\"sequence\":";
    AppendJsonString(ck.sequence, &out);
    out += ",\"sub\":" + std::to_string(ck.sub);
    out += ck.end ? ",\"end\":true" : ",\"end\":false";
    if (ck.plan) {
      out += ",\"plan\":";
      AppendJsonString(EncodeJournalEntry(*ck.plan), &out);
    }
    out += '}';
  }
  out += "]}\n";
  return out;
}

Result<KinesisCheckpoints> DecodeKinesisCheckpoints(std::string_view json) {
  rapidjson::Document doc;
  RETURN_IF_ERROR(ParseJson(json, &doc));
  auto shards = doc.IsObject() ? doc.FindMember("shards") : doc.MemberEnd();
  if (!doc.IsObject() || shards == doc.MemberEnd() || !shards->value.IsArray()) {
    return Corruption("no \"shards\" list");
  }
  KinesisCheckpoints out;
  for (const auto& s : shards->value.GetArray()) {
    if (!s.IsObject()) return Corruption("a shard entry is not an object");
    auto id = s.FindMember("id");
    auto seq = s.FindMember("sequence");
    auto sub = s.FindMember("sub");
    auto end = s.FindMember("end");
    if (id == s.MemberEnd() || !id->value.IsString() || seq == s.MemberEnd() ||
        !seq->value.IsString() || sub == s.MemberEnd() || !sub->value.IsInt64() ||
        end == s.MemberEnd() || !end->value.IsBool()) {
      return Corruption("a shard entry lacks id, sequence, sub or end");
    }
    KinesisCheckpoint ck;
    ck.sequence = seq->value.GetString();
    ck.sub = sub->value.GetInt64();
    ck.end = end->value.GetBool();
    if (auto plan = s.FindMember("plan"); plan != s.MemberEnd()) {
      if (!plan->value.IsString()) return Corruption("a plan is not a string");
      auto entry = DecodeJournalEntry(
          std::string_view(plan->value.GetString(), plan->value.GetStringLength()));
      if (!entry.ok()) return entry.status();
      if (entry->ranges.size() != 1 || entry->ranges[0].first != 0) {
        return Corruption("a plan does not start at its checkpoint");
      }
      ck.plan = std::move(*entry);
    }
    out.emplace(std::string(id->value.GetString(), id->value.GetStringLength()), std::move(ck));
  }
  return out;
}

Result<KinesisCheckpoints> ReadKinesisCheckpoints(const std::filesystem::path& state_dir) {
  std::filesystem::path path = state_dir / kKinesisCheckpointFile;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec) && !ec) return KinesisCheckpoints{};
    return IoError("cannot read " + path.string());
  }
  std::stringstream text;
  text << in.rdbuf();
  auto out = DecodeKinesisCheckpoints(text.str());
  if (!out.ok()) return Corruption(path.string() + ": " + out.status().message());
  return out;
}

Status WriteKinesisCheckpoints(const std::filesystem::path& state_dir,
                               const KinesisCheckpoints& checkpoints) {
  return WriteFileAtomically(state_dir / kKinesisCheckpointFile,
                             EncodeKinesisCheckpoints(checkpoints));
}

}  // namespace sluice::buffer
