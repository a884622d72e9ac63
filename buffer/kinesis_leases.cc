#include "buffer/kinesis_leases.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "core/base64.h"
#include "core/json.h"
#include "plugins/common/aws_json.h"

namespace sluice::buffer {
namespace {

constexpr const char* kPrefix = "DynamoDB_20120810.";
constexpr int kActiveWaitMs = 60000;

void AppendS(std::string_view s, std::string* out) {
  *out += "{\"S\":";
  AppendJsonString(s, out);
  *out += '}';
}

void AppendN(int64_t n, std::string* out) { *out += "{\"N\":\"" + std::to_string(n) + "\"}"; }

void AppendSS(const std::vector<std::string>& ss, std::string* out) {
  *out += "{\"SS\":[";
  for (size_t i = 0; i < ss.size(); ++i) {
    if (i > 0) *out += ',';
    AppendJsonString(ss[i], out);
  }
  *out += "]}";
}

// A ":name":value pair of ExpressionAttributeValues, after a first one.
void Value(std::string_view name, std::string_view typed, std::string* out) {
  *out += ",\":";
  out->append(name);
  *out += "\":";
  out->append(typed);
}

std::string S(std::string_view s) {
  std::string out;
  AppendS(s, &out);
  return out;
}
std::string N(int64_t n) {
  std::string out;
  AppendN(n, &out);
  return out;
}

std::string StringOf(const rapidjson::Value& item, const char* name, const char* type) {
  auto it = item.FindMember(name);
  if (it == item.MemberEnd() || !it->value.IsObject()) return "";
  auto v = it->value.FindMember(type);
  if (v == it->value.MemberEnd() || !v->value.IsString()) return "";
  return std::string(v->value.GetString(), v->value.GetStringLength());
}

int64_t NumberOf(const rapidjson::Value& item, const char* name) {
  std::string n = StringOf(item, name, "N");
  if (n.empty()) return 0;
  try {
    return std::stoll(n);
  } catch (...) {
    return 0;
  }
}

std::vector<std::string> SetOf(const rapidjson::Value& item, const char* name) {
  std::vector<std::string> out;
  auto it = item.FindMember(name);
  if (it == item.MemberEnd() || !it->value.IsObject()) return out;
  auto v = it->value.FindMember("SS");
  if (v == it->value.MemberEnd() || !v->value.IsArray()) return out;
  for (const auto& s : v->value.GetArray()) {
    if (s.IsString()) out.emplace_back(s.GetString(), s.GetStringLength());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string JsonOf(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

KinesisLease LeaseOf(const rapidjson::Value& item) {
  KinesisLease l;
  l.key = StringOf(item, "leaseKey", "S");
  l.owner = StringOf(item, "leaseOwner", "S");
  l.counter = NumberOf(item, "leaseCounter");
  l.owner_switches = NumberOf(item, "ownerSwitchesSinceCheckpoint");
  l.checkpoint = StringOf(item, "checkpoint", "S");
  l.sub = NumberOf(item, "checkpointSubSequenceNumber");
  l.pending = StringOf(item, "pendingCheckpoint", "S");
  l.pending_sub = NumberOf(item, "pendingCheckpointSubSequenceNumber");
  if (std::string b = StringOf(item, "pendingCheckpointState", "B"); !b.empty()) {
    auto decoded = Base64Decode(b);
    if (decoded.ok()) l.pending_state = std::move(*decoded);
  }
  l.parents = SetOf(item, "parentShardId");
  l.children = SetOf(item, "childShardIds");
  return l;
}

}  // namespace

Result<std::unique_ptr<KinesisLeaseTable>> KinesisLeaseTable::Create(
    const LeaseTableConfig& config) {
  std::unique_ptr<KinesisLeaseTable> t(new KinesisLeaseTable());
  sink::AwsJsonConfig aws;
  aws.service = "dynamodb";
  aws.region = config.region;
  aws.endpoint = config.endpoint;
  aws.content_type = "application/x-amz-json-1.0";
  aws.credentials.access_key_id = config.access_key_id;
  aws.credentials.secret_access_key = config.secret_access_key;
  aws.http.timeout_ms = 10000;
  ASSIGN_OR_RETURN(t->client_, sink::AwsJsonClient::Create(aws));
  t->table_ = config.table;
  t->worker_id_ = config.worker_id;
  return t;
}

KinesisLeaseTable::~KinesisLeaseTable() = default;

std::string KinesisLeaseTable::url() const { return client_->url(); }

Result<std::string> KinesisLeaseTable::Call(std::string_view op, std::string_view body) {
  auto resp = client_->Call(std::string(kPrefix) + std::string(op), body);
  if (!resp.ok()) return resp.status().Annotate(std::string(op));
  if (resp->status == 200) return std::move(resp->body);
  sink::AwsBatchAnswer a = sink::ParseAwsError(resp->status, resp->body, "DynamoDB");
  std::string what =
      std::string(op) + " on table " + table_ + ": " + a.error_code + ": " + a.error_message;
  if (a.error_code == "ConditionalCheckFailedException") return Cancelled(what);
  if (a.error_code == "ResourceNotFoundException") return NotFound(what);
  if (a.error_code == "ResourceInUseException") return AlreadyExists(what);
  return Unavailable(what);
}

Status KinesisLeaseTable::EnsureTable() {
  std::string body = "{\"TableName\":";
  AppendJsonString(table_, &body);
  body += '}';
  auto described = Call("DescribeTable", body);
  if (!described.ok() && described.status().code() == Code::kNotFound) {
    std::string create = "{\"TableName\":";
    AppendJsonString(table_, &create);
    create +=
        ",\"AttributeDefinitions\":[{\"AttributeName\":\"leaseKey\",\"AttributeType\":\"S\"}],"
        "\"KeySchema\":[{\"AttributeName\":\"leaseKey\",\"KeyType\":\"HASH\"}],"
        "\"BillingMode\":\"PAY_PER_REQUEST\"}";
    auto created = Call("CreateTable", create);
    // Created by another worker meanwhile: wait for it as for ours.
    if (!created.ok() && created.status().code() != Code::kAlreadyExists) {
      return created.status();
    }
  } else if (!described.ok()) {
    return described.status();
  }
  for (int waited = 0;; waited += 200) {
    auto d = Call("DescribeTable", body);
    if (!d.ok()) return d.status();
    rapidjson::Document doc;
    if (ParseJson(*d, &doc).ok() && doc.IsObject()) {
      auto t = doc.FindMember("Table");
      if (t != doc.MemberEnd() && t->value.IsObject() &&
          sink::JsonStringMember(t->value, "TableStatus") == "ACTIVE") {
        return Status::Ok();
      }
    }
    if (waited >= kActiveWaitMs) {
      return Unavailable("lease table " + table_ + " did not become ACTIVE in 60 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

Result<std::vector<KinesisLease>> KinesisLeaseTable::List() {
  std::vector<KinesisLease> out;
  std::string start;
  do {
    std::string body = "{\"TableName\":";
    AppendJsonString(table_, &body);
    body += ",\"ConsistentRead\":true";
    if (!start.empty()) body += ",\"ExclusiveStartKey\":" + start;
    body += '}';
    ASSIGN_OR_RETURN(std::string answer, Call("Scan", body));
    rapidjson::Document doc;
    if (!ParseJson(answer, &doc).ok() || !doc.IsObject()) {
      return Unavailable("Scan of " + table_ + " answered what is not JSON");
    }
    auto items = doc.FindMember("Items");
    if (items == doc.MemberEnd() || !items->value.IsArray()) {
      return Unavailable("Scan of " + table_ + " answered no Items");
    }
    for (const auto& item : items->value.GetArray()) {
      if (!item.IsObject()) continue;
      KinesisLease l = LeaseOf(item);
      if (!l.key.empty()) out.push_back(std::move(l));
    }
    start.clear();
    auto last = doc.FindMember("LastEvaluatedKey");
    if (last != doc.MemberEnd() && last->value.IsObject() && last->value.MemberCount() > 0) {
      start = JsonOf(last->value);
    }
  } while (!start.empty());
  std::sort(out.begin(), out.end(),
            [](const KinesisLease& a, const KinesisLease& b) { return a.key < b.key; });
  return out;
}

Status KinesisLeaseTable::Create(const KinesisLease& lease) {
  std::string body = "{\"TableName\":";
  AppendJsonString(table_, &body);
  body += ",\"Item\":{\"leaseKey\":" + S(lease.key);
  body += ",\"leaseCounter\":" + N(lease.counter);
  if (!lease.owner.empty()) body += ",\"leaseOwner\":" + S(lease.owner);
  body += ",\"ownerSwitchesSinceCheckpoint\":" + N(lease.owner_switches);
  body += ",\"checkpoint\":" + S(lease.checkpoint);
  body += ",\"checkpointSubSequenceNumber\":" + N(lease.sub);
  if (!lease.parents.empty()) {
    body += ",\"parentShardId\":";
    AppendSS(lease.parents, &body);
  }
  body += "},\"ConditionExpression\":\"attribute_not_exists(leaseKey)\"}";
  auto r = Call("PutItem", body);
  if (!r.ok() && r.status().code() == Code::kCancelled) {
    return AlreadyExists("lease " + lease.key + " exists");
  }
  return r.status();
}

Status KinesisLeaseTable::Update(KinesisLease* lease, std::string_view what, std::string_view set,
                                 std::string_view condition, std::string values) {
  std::string body = "{\"TableName\":";
  AppendJsonString(table_, &body);
  body += ",\"Key\":{\"leaseKey\":" + S(lease->key) + "}";
  body += ",\"UpdateExpression\":";
  AppendJsonString(set, &body);
  body += ",\"ConditionExpression\":";
  AppendJsonString(condition, &body);
  body += ",\"ExpressionAttributeValues\":{" + values + "}";
  body += ",\"ReturnValues\":\"ALL_NEW\"}";
  auto r = Call("UpdateItem", body);
  if (!r.ok()) return r.status().Annotate(std::string(what) + " lease " + lease->key);
  rapidjson::Document doc;
  if (!ParseJson(*r, &doc).ok() || !doc.IsObject()) {
    return Unavailable("UpdateItem answered what is not JSON");
  }
  auto attrs = doc.FindMember("Attributes");
  if (attrs == doc.MemberEnd() || !attrs->value.IsObject()) {
    return Unavailable("UpdateItem answered no Attributes");
  }
  *lease = LeaseOf(attrs->value);
  return Status::Ok();
}

Status KinesisLeaseTable::Take(KinesisLease* lease) {
  std::string values = "\":c\":" + N(lease->counter);
  Value("n", N(lease->counter + 1), &values);
  Value("me", S(worker_id_), &values);
  std::string set = "SET leaseOwner = :me, leaseCounter = :n";
  std::string condition = "leaseCounter = :c AND ";
  if (lease->owner.empty()) {
    condition += "attribute_not_exists(leaseOwner)";
  } else {
    Value("o", S(lease->owner), &values);
    condition += "leaseOwner = :o";
  }
  if (lease->owner != worker_id_) {
    set += " ADD ownerSwitchesSinceCheckpoint :one";
    Value("one", N(1), &values);
  }
  return Update(lease, "take", set, condition, std::move(values));
}

Status KinesisLeaseTable::Renew(KinesisLease* lease) {
  std::string values = "\":c\":" + N(lease->counter);
  Value("n", N(lease->counter + 1), &values);
  Value("me", S(worker_id_), &values);
  return Update(lease, "renew", "SET leaseCounter = :n", "leaseCounter = :c AND leaseOwner = :me",
                std::move(values));
}

Status KinesisLeaseTable::Checkpoint(KinesisLease* lease) {
  std::string values = "\":c\":" + N(lease->counter);
  Value("n", N(lease->counter + 1), &values);
  Value("me", S(worker_id_), &values);
  Value("cp", S(lease->checkpoint), &values);
  Value("sub", N(lease->sub), &values);
  Value("zero", N(0), &values);
  std::string set =
      "SET leaseCounter = :n, checkpoint = :cp, checkpointSubSequenceNumber = :sub, "
      "ownerSwitchesSinceCheckpoint = :zero";
  if (!lease->pending.empty()) {
    set += ", pendingCheckpoint = :p, pendingCheckpointSubSequenceNumber = :ps";
    Value("p", S(lease->pending), &values);
    Value("ps", N(lease->pending_sub), &values);
    if (!lease->pending_state.empty()) {
      set += ", pendingCheckpointState = :st";
      Value("st", "{\"B\":\"" + Base64Encode(lease->pending_state) + "\"}", &values);
    }
  }
  if (!lease->children.empty()) {
    set += ", childShardIds = :ch";
    std::string ss;
    AppendSS(lease->children, &ss);
    Value("ch", ss, &values);
  }
  // REMOVE after every SET action: an update expression has one clause of each.
  if (lease->pending.empty()) {
    set += " REMOVE pendingCheckpoint, pendingCheckpointSubSequenceNumber, pendingCheckpointState";
  } else if (lease->pending_state.empty()) {
    set += " REMOVE pendingCheckpointState";
  }
  return Update(lease, "checkpoint", set, "leaseCounter = :c AND leaseOwner = :me",
                std::move(values));
}

Status KinesisLeaseTable::Evict(KinesisLease* lease) {
  std::string values = "\":c\":" + N(lease->counter);
  Value("n", N(lease->counter + 1), &values);
  Value("me", S(worker_id_), &values);
  return Update(lease, "evict", "SET leaseCounter = :n REMOVE leaseOwner",
                "leaseCounter = :c AND leaseOwner = :me", std::move(values));
}

std::vector<const KinesisLease*> LeasesToTake(
    std::span<const KinesisLease> leases, std::string_view me,
    const std::function<bool(const KinesisLease&)>& expired) {
  std::map<std::string_view, size_t> held;  // live workers and their counts
  held[me] = 0;
  std::vector<const KinesisLease*> free;
  size_t active = 0;
  for (const KinesisLease& l : leases) {
    if (l.ended()) continue;
    ++active;
    if (l.owner == me) {
      held[me]++;
    } else if (l.owner.empty() || expired(l)) {
      free.push_back(&l);
    } else {
      held[l.owner]++;
    }
  }
  std::vector<const KinesisLease*> take;
  if (active == 0) return take;
  const size_t target = (active + held.size() - 1) / held.size();
  const size_t mine = held[me];
  if (mine >= target) return take;
  for (const KinesisLease* l : free) {
    if (take.size() + mine >= target) break;
    take.push_back(l);
  }
  if (!take.empty()) return take;
  // Nothing free: one from the most loaded worker, if it holds more than its share.
  std::string_view most;
  size_t most_count = 0;
  for (const auto& [owner, count] : held) {
    if (owner != me && count > most_count) {
      most = owner;
      most_count = count;
    }
  }
  if (most_count > target || (most_count == target && mine + 1 < target)) {
    for (const KinesisLease& l : leases) {
      if (!l.ended() && l.owner == most) {
        take.push_back(&l);
        break;
      }
    }
  }
  return take;
}

}  // namespace sluice::buffer
