#include "buffer/kinesis_source.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "broker/api/event_stream.h"
#include "buffer/delivery_policy.h"
#include "core/base64.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "plugins/common/aws_json.h"

namespace sluice::buffer {
namespace {

constexpr const char* kPrefix = "Kinesis_20131202.";
constexpr int kGetRecordsLimit = 10000;
// GetRecords allows 5 calls a second per shard: a shard that answered records is asked again
// after this, one that answered none after poll_interval. A shard behind its stream's tip
// (MillisBehindLatest > 0) is asked again at once; on AWS that soon meets the per-shard limit,
// whose ProvisionedThroughputExceededException is retried after this gap, not the back-off.
constexpr int64_t kCallGapMs = 200;
constexpr int64_t kListEveryMs = 10000;
constexpr int64_t kMaxSleepMs = 1000;
const Backoff kRetry{Millis(500), Millis(30000)};

int64_t NowMs() { return Clock::Real()->MonotonicMs(); }

// ApproximateArrivalTimestamp: seconds since the epoch, with a fraction.
int64_t ArrivalMs(const rapidjson::Value& r) {
  auto it = r.FindMember("ApproximateArrivalTimestamp");
  if (it == r.MemberEnd() || !it->value.IsNumber()) return 0;
  return static_cast<int64_t>(std::llround(it->value.GetDouble() * 1000));
}

}  // namespace

KinesisSource::KinesisSource(KinesisSourceOptions options, uint64_t memory_bound,
                             std::filesystem::path state_dir)
    : options_(std::move(options)),
      memory_bound_(std::max<uint64_t>(memory_bound, 1 << 20)),
      state_dir_(std::move(state_dir)) {
  counters_.type = "kinesis";
}

KinesisSource::~KinesisSource() { Close(); }

Status KinesisSource::Open(const DeliveryOptions& options) {
  delivery_ = options.name;
  initial_position_ = options.initial_position;
  initial_timestamp_ms_ = options.initial_timestamp_ms;
  const std::string where = "deliveries." + options.name + ".source: ";
  auto stored = ReadKinesisCheckpoints(state_dir_);
  if (!stored.ok()) return stored.status().Annotate(where + "checkpoints");
  stored_ = std::move(*stored);
  sink::AwsJsonConfig aws;
  aws.service = "kinesis";
  aws.region = options_.region;
  aws.endpoint = options_.endpoint;
  aws.credentials.access_key_id = options_.access_key_id;
  aws.credentials.secret_access_key = options_.secret_access_key;
  // A long poll never waits on the server (GetRecords answers at once): a slow answer is a
  // stuck connection.
  aws.http.timeout_ms = 30000;
  auto client = sink::AwsJsonClient::Create(aws);
  if (!client.ok()) return client.status().Annotate(where + "endpoint");
  client_ = std::move(*client);
  if (options_.lease_table) {
    LeaseTableConfig lt;
    lt.endpoint = options_.lease_table->endpoint;
    lt.region = options_.region;
    lt.table = options_.lease_table->table;
    lt.access_key_id = options_.access_key_id;
    lt.secret_access_key = options_.secret_access_key;
    lt.worker_id = options_.lease_table->worker_id;
    if (lt.worker_id.empty()) {
      char host[256] = {};
      gethostname(host, sizeof(host) - 1);
      char suffix[9];
      std::snprintf(suffix, sizeof(suffix), "%08x", static_cast<uint32_t>(rng_()));
      lt.worker_id = std::string(host) + "-" + suffix;
    }
    auto table = KinesisLeaseTable::Create(lt);
    if (!table.ok()) return table.status().Annotate(where + "lease_table.endpoint");
    leases_ = std::move(*table);
    counters_.worker_id = leases_->worker_id();
    counters_.leases_held = 0;
    SLUICE_LOG(Info, "kinesis source sharing its shards through a lease table")
        .With("delivery", delivery_)
        .With("endpoint", leases_->url())
        .With("table", leases_->table())
        .With("worker_id", leases_->worker_id());
  }
  SLUICE_LOG(Info, "kinesis source reading a remote stream")
      .With("delivery", delivery_)
      .With("endpoint", client_->url())
      .With("stream", options_.stream)
      .With("checkpoints", static_cast<uint64_t>(stored_.size()));
  if (options_.efo) {
    streams_ = std::make_unique<ResponseStreams>(
        [this](size_t i, long status, std::string_view bytes) {
          return OnStreamData(i, status, bytes);
        },
        [this](size_t i, long status, const Status& transport) {
          OnStreamDone(i, status, transport);
        });
    poller_ = std::thread([this] { PollEfo(); });
  } else {
    poller_ = std::thread([this] { Poll(); });
  }
  if (leases_) leaser_ = std::thread([this] { KeepLeases(); });
  return Status::Ok();
}

void KinesisSource::Close() {
  stop_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    data_cv_.notify_all();
    poll_cv_.notify_all();
    lease_cv_.notify_all();
  }
  if (poller_.joinable()) poller_.join();
  if (leaser_.joinable()) leaser_.join();
  if (!leases_) return;
  // The workers joined and checkpointed: the leases go to the next owner at once.
  std::lock_guard<std::mutex> store_lock(store_mu_);
  for (auto& [key, held] : held_) {
    Status st = leases_->Evict(&held.lease);
    if (!st.ok()) {
      SLUICE_LOG(Warn, "kinesis source could not give up a lease; it expires instead")
          .With("delivery", delivery_)
          .With("shard", key)
          .With("error", st.message());
    }
  }
  held_.clear();
}

// ---- the poller -------------------------------------------------------------------------------

void KinesisSource::Poll() {
  int64_t next_list = 0;
  int list_attempt = 0;
  std::vector<uint32_t> due, ended;
  while (!stop_) {
    int64_t now = NowMs();
    MaybeList(now, &next_list, &list_attempt);
    due.clear();
    ended.clear();
    int64_t wake = next_list;
    {
      std::lock_guard<std::mutex> lock(mu_);
      StartReadyShards();
      for (uint32_t i = 0; i < shards_.size(); ++i) {
        const Shard& s = *shards_[i];
        if (s.started && s.fetched_all && !s.ck.end && s.committed == s.fetched() && !s.plan) {
          ended.push_back(i);
        }
        if (!s.started || s.fetched_all || Throttled(s)) continue;
        if (s.next_call_ms <= now) {
          due.push_back(i);
        } else {
          wake = std::min(wake, s.next_call_ms);
        }
      }
    }
    for (uint32_t i : ended) {
      // Nothing of it left to deliver (the engine checkpoints only past records it read).
      if (Status st = Store(i, 0, std::nullopt); !st.ok()) NoteError(st.message());
    }
    // The due shards' calls go together (kMaxCalls at once), so that this side reads one answer
    // while the server makes the next; a shard still behind is asked again as soon as its
    // answer is read, for up to kMaxSleepMs before the round ends.
    std::array<bool, kMaxCalls> busy{};
    size_t in_flight = 0, next_due = 0;
    auto start_more = [&] {
      while (in_flight < kMaxCalls && next_due < due.size() && !stop_) {
        const size_t slot =
            static_cast<size_t>(std::find(busy.begin(), busy.end(), false) - busy.begin());
        if (FetchStart(due[next_due++], slot)) {
          busy[slot] = true;
          ++in_flight;
        }
      }
    };
    start_more();
    const int64_t round_end = NowMs() + kMaxSleepMs;
    while (in_flight > 0) {
      auto [slot, resp] = client_->Wait();
      if (slot >= kMaxCalls) break;  // nothing was in flight after all
      busy[slot] = false;
      --in_flight;
      const uint32_t index = calls_[slot].index;
      FetchDone(index, calls_[slot].generation, resp);
      bool again;
      {
        std::lock_guard<std::mutex> lock(mu_);
        const Shard& sh = *shards_[index];
        const int64_t t = NowMs();
        again = !stop_ && t < round_end && sh.started && !sh.fetched_all && !Throttled(sh) &&
                sh.next_call_ms <= t;
      }
      if (again && FetchStart(index, slot)) {
        busy[slot] = true;
        ++in_flight;
      } else {
        start_more();
      }
    }
    if (!due.empty() || !ended.empty()) continue;
    std::unique_lock<std::mutex> lock(mu_);
    poll_cv_.wait_for(
        lock, std::chrono::milliseconds(std::clamp<int64_t>(wake - NowMs(), 1, kMaxSleepMs)),
        [&] { return stop_.load() || relist_.load(); });
  }
}

void KinesisSource::MaybeList(int64_t now, int64_t* next_list, int* attempt) {
  if (now < *next_list && !relist_.exchange(false)) return;
  Status st = ListShards();
  if (st.ok()) {
    *attempt = 0;
    *next_list = now + kListEveryMs;
  } else {
    NoteError("ListShards: " + st.message());
    *next_list = now + kRetry.Delay(++*attempt, &rng_).count();
  }
}

// ---- enhanced fan-out -------------------------------------------------------------------------

Status KinesisSource::RegisterConsumer() {
  const std::string name =
      options_.consumer_name.empty() ? "sluice-" + delivery_ : options_.consumer_name;
  auto call = [&](const char* op, rapidjson::Document* doc) -> Status {
    auto resp = client_->Call(std::string(kPrefix) + op, body_);
    if (!resp.ok()) return resp.status().Annotate(op);
    if (resp->status != 200) {
      sink::AwsBatchAnswer a = sink::ParseAwsError(resp->status, resp->body, "Kinesis");
      Status st(
          a.error_code == "ResourceInUseException" ? Code::kAlreadyExists : Code::kUnavailable,
          std::string(op) + ": " + a.error_code + ": " + a.error_message);
      return st;
    }
    if (!ParseJson(resp->body, doc).ok() || !doc->IsObject()) {
      return Unavailable(std::string(op) + " answered what is not JSON");
    }
    return Status::Ok();
  };
  rapidjson::Document doc;
  body_ = "{\"StreamName\":";
  AppendJsonString(options_.stream, &body_);
  body_ += "}";
  RETURN_IF_ERROR(call("DescribeStreamSummary", &doc));
  std::string arn;
  if (auto d = doc.FindMember("StreamDescriptionSummary");
      d != doc.MemberEnd() && d->value.IsObject()) {
    arn = sink::JsonStringMember(d->value, "StreamARN");
  }
  if (arn.empty()) return Unavailable("DescribeStreamSummary answered no StreamARN");
  std::string consumer_body = "{\"StreamARN\":";
  AppendJsonString(arn, &consumer_body);
  consumer_body += ",\"ConsumerName\":";
  AppendJsonString(name, &consumer_body);
  consumer_body += "}";
  body_ = consumer_body;
  Status st = call("RegisterStreamConsumer", &doc);
  const char* member = "Consumer";
  for (int waited = 0;; waited += 500) {
    if (st.code() == Code::kAlreadyExists || (st.ok() && waited > 0)) {
      // Registered before (by this instance or another of the delivery), or being created.
      body_ = consumer_body;
      st = call("DescribeStreamConsumer", &doc);
      member = "ConsumerDescription";
    }
    RETURN_IF_ERROR(st);
    auto c = doc.FindMember(member);
    if (c == doc.MemberEnd() || !c->value.IsObject()) {
      return Unavailable(std::string("no ") + member + " in the answer");
    }
    if (sink::JsonStringMember(c->value, "ConsumerStatus") == "ACTIVE") {
      consumer_arn_ = sink::JsonStringMember(c->value, "ConsumerARN");
      if (consumer_arn_.empty()) return Unavailable("the consumer has no ConsumerARN");
      SLUICE_LOG(Info, "kinesis source reads through an enhanced fan-out consumer")
          .With("delivery", delivery_)
          .With("stream", options_.stream)
          .With("consumer", name)
          .With("consumer_arn", consumer_arn_);
      return Status::Ok();
    }
    if (waited >= 120000 || stop_) {
      return Unavailable("consumer " + name + " did not become ACTIVE in 120 s");
    }
    std::unique_lock<std::mutex> lock(mu_);
    poll_cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stop_.load(); });
  }
}

void KinesisSource::Subscribe(uint32_t index) {
  std::string body = "{\"ConsumerARN\":";
  AppendJsonString(consumer_arn_, &body);
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Shard& s = *shards_[index];
    generation = s.generation;
    body += ",\"ShardId\":";
    AppendJsonString(s.id, &body);
    body += ",\"StartingPosition\":{";
    StartOf(s).AppendTo("Type", "SequenceNumber", &body);
    body += "}}";
  }
  auto req = client_->Signed(std::string(kPrefix) + "SubscribeToShard", body);
  Status st = req.ok() ? Status::Ok() : req.status();
  if (st.ok()) {
    subs_[index] = Sub{generation, NowMs(), "", "", false};
    // AWS ends a subscription after 5 minutes; one silent for longer is stuck.
    st = streams_->Start(index, *req, 6 * 60 * 1000);
  }
  if (!st.ok()) {
    subs_.erase(index);
    {
      std::lock_guard<std::mutex> lock(mu_);
      RetryLater(shards_[index].get(), NowMs());
    }
    NoteError("shard " + shards_[index]->id + " SubscribeToShard: " + st.message());
  }
}

bool KinesisSource::OnStreamData(size_t index, long status, std::string_view bytes) {
  Sub& sub = subs_[static_cast<uint32_t>(index)];
  if (status != 200) {
    if (sub.error.size() < 65536) sub.error.append(bytes);
    return true;
  }
  if (sub.failed) return true;  // cancelled at the next turn of the loop
  {
    // Past its share of memory: held back (HTTP/2 flow control) until the engine reads.
    std::lock_guard<std::mutex> lock(mu_);
    if (Throttled(*shards_[index])) return false;
  }
  sub.buf.append(bytes);
  size_t at = 0;
  const std::string& shard = shards_[index]->id;  // ids never change
  auto fail = [&](const std::string& why) {
    sub.failed = true;
    {
      std::lock_guard<std::mutex> lock(mu_);
      RetryLater(shards_[index].get(), NowMs());
    }
    NoteError("shard " + shard + " SubscribeToShard: " + why);
  };
  while (sub.buf.size() - at >= 16 && !sub.failed) {
    const auto* p = reinterpret_cast<const unsigned char*>(sub.buf.data() + at);
    const uint32_t total = uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
    if (total < 16 || total > (16u << 20)) {
      fail("an event-stream message of " + std::to_string(total) + " bytes");
      break;
    }
    if (sub.buf.size() - at < total) break;
    size_t used = 0;
    auto m =
        broker::api::DecodeEventStreamMessage(std::string_view(sub.buf).substr(at, total), &used);
    at += total;
    if (!m.ok()) {
      fail("a malformed event-stream message: " + m.status().message());
      break;
    }
    std::string_view message_type, event_type, exception_type;
    for (const auto& [k, v] : m->headers) {
      if (k == ":message-type") message_type = v;
      if (k == ":event-type") event_type = v;
      if (k == ":exception-type") exception_type = v;
    }
    if (message_type == "exception" || message_type == "error") {
      fail(std::string(exception_type) + ": " + m->payload);
      break;
    }
    if (event_type != "SubscribeToShardEvent") continue;  // initial-response
    rapidjson::Document doc;
    if (!ParseJsonInsitu(m->payload.data(), &doc).ok() || !doc.IsObject()) {
      fail("an event that is not JSON");
      break;
    }
    int64_t behind = -1;
    if (auto b = doc.FindMember("MillisBehindLatest"); b != doc.MemberEnd() && b->value.IsInt64()) {
      behind = b->value.GetInt64();
    }
    std::string continuation = sink::JsonStringMember(doc, "ContinuationSequenceNumber");
    static const rapidjson::Value kNone(rapidjson::kArrayType);
    auto records = doc.FindMember("Records");
    Ingest(static_cast<uint32_t>(index), sub.generation,
           records != doc.MemberEnd() && records->value.IsArray() ? records->value : kNone, behind,
           continuation);
    // The shard's end: ChildShards, and (on AWS) no continuation. A server that still sends
    // one there would otherwise keep the children waiting.
    auto children = doc.FindMember("ChildShards");
    if (children != doc.MemberEnd() && children->value.IsArray() && !children->value.Empty()) {
      // Closed and read to its end.
      {
        std::lock_guard<std::mutex> lock(mu_);
        Shard& s = *shards_[index];
        if (s.generation == sub.generation) s.fetched_all = true;
      }
      relist_ = true;
      SLUICE_LOG(Info, "kinesis source read a closed shard to its end")
          .With("delivery", delivery_)
          .With("shard", shard);
    }
  }
  sub.buf.erase(0, at);
  return true;
}

void KinesisSource::OnStreamDone(size_t index, long status, const Status& transport) {
  auto it = subs_.find(static_cast<uint32_t>(index));
  if (it == subs_.end()) return;
  Sub sub = std::move(it->second);
  subs_.erase(it);
  std::string error;
  if (!transport.ok()) {
    error = transport.message();
  } else if (status != 200) {
    sink::AwsBatchAnswer a = sink::ParseAwsError(status, sub.error, "Kinesis");
    error = a.error_code + ": " + a.error_message;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    Shard& s = *shards_[index];
    if (s.generation != sub.generation) return;
    if (error.empty() && !sub.failed) {
      // Ended by the server (after 5 minutes): on after the last record or continuation, at
      // once, but not sooner than a second after the last subscription (AWS allows one call a
      // second per consumer and shard).
      s.attempt = 0;
      s.next_call_ms = sub.started_ms + 1000;
      return;
    }
    if (!error.empty()) RetryLater(&s, NowMs());
  }
  if (!error.empty()) NoteError("shard " + shards_[index]->id + " SubscribeToShard: " + error);
}

void KinesisSource::PollEfo() {
  int attempt = 0;
  while (!stop_) {
    Status st = RegisterConsumer();
    if (st.ok()) break;
    NoteError("registering the enhanced fan-out consumer: " + st.message());
    std::unique_lock<std::mutex> lock(mu_);
    poll_cv_.wait_for(lock, kRetry.Delay(++attempt, &rng_), [&] { return stop_.load(); });
  }
  int64_t next_list = 0;
  int list_attempt = 0;
  std::vector<uint32_t> start, cancel, resume, ended;
  while (!stop_) {
    const int64_t now = NowMs();
    MaybeList(now, &next_list, &list_attempt);
    start.clear();
    cancel.clear();
    resume.clear();
    ended.clear();
    {
      std::lock_guard<std::mutex> lock(mu_);
      StartReadyShards();
      for (uint32_t i = 0; i < shards_.size(); ++i) {
        const Shard& s = *shards_[i];
        if (s.started && s.fetched_all && !s.ck.end && s.committed == s.fetched() && !s.plan) {
          ended.push_back(i);
        }
        auto sub = subs_.find(i);
        const bool active = streams_->active(i);
        if (active && (sub == subs_.end() || sub->second.failed ||
                       sub->second.generation != s.generation || !s.started)) {
          cancel.push_back(i);  // failed, or its lease moved
        } else if (active && streams_->paused(i) && !Throttled(s)) {
          resume.push_back(i);
        } else if (!active && s.started && !s.fetched_all && s.next_call_ms <= now &&
                   !Throttled(s)) {
          start.push_back(i);
        }
      }
    }
    for (uint32_t i : ended) {
      if (Status st = Store(i, 0, std::nullopt); !st.ok()) NoteError(st.message());
    }
    for (uint32_t i : cancel) {
      streams_->Cancel(i);
      subs_.erase(i);
    }
    for (uint32_t i : resume) streams_->Resume(i);
    for (uint32_t i : start) Subscribe(i);
    if (streams_->size() > 0) {
      streams_->Run(100);
    } else {
      std::unique_lock<std::mutex> lock(mu_);
      poll_cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stop_.load(); });
    }
  }
  for (const auto& [i, sub] : subs_) streams_->Cancel(i);
  subs_.clear();
}

bool KinesisSource::Throttled(const Shard& s) const {
  size_t started = 0;
  for (const auto& sh : shards_) started += sh->started && !sh->fetched_all ? 1 : 0;
  return s.data.size() - s.head_bytes > memory_bound_ / std::max<size_t>(started, 1);
}

Status KinesisSource::ListShards() {
  struct Listed {
    std::string id, parent, adjacent;
  };
  std::vector<Listed> listed;
  std::string token;
  do {
    body_ = "{";
    if (token.empty()) {
      body_ += "\"StreamName\":";
      AppendJsonString(options_.stream, &body_);
    } else {
      // A call with NextToken names no stream: Kinesis refuses both.
      body_ += "\"NextToken\":";
      AppendJsonString(token, &body_);
    }
    body_ += "}";
    auto resp = client_->Call(std::string(kPrefix) + "ListShards", body_);
    if (!resp.ok()) return resp.status();
    if (resp->status != 200) {
      sink::AwsBatchAnswer a = sink::ParseAwsError(resp->status, resp->body, "Kinesis");
      if (a.error_code == "ResourceNotFoundException") {
        return NotFound("stream \"" + options_.stream + "\" not found at " + client_->url() + ": " +
                        a.error_message);
      }
      return Unavailable(a.error_code + ": " + a.error_message);
    }
    rapidjson::Document doc;
    auto shards = doc.MemberEnd();
    if (ParseJson(resp->body, &doc).ok() && doc.IsObject()) shards = doc.FindMember("Shards");
    if (shards == doc.MemberEnd() || !shards->value.IsArray()) {
      return Unavailable("ListShards answered what is not a shard list");
    }
    for (const auto& sh : shards->value.GetArray()) {
      Listed l{sink::JsonStringMember(sh, "ShardId"), sink::JsonStringMember(sh, "ParentShardId"),
               sink::JsonStringMember(sh, "AdjacentParentShardId")};
      if (!l.id.empty()) listed.push_back(std::move(l));
    }
    token = sink::JsonStringMember(doc, "NextToken");
  } while (!token.empty());

  std::lock_guard<std::mutex> lock(mu_);
  for (auto& s : shards_) s->listed = false;
  for (Listed& l : listed) {
    auto it = index_.find(l.id);
    if (it != index_.end()) {
      shards_[it->second]->listed = true;
      continue;
    }
    auto s = std::make_unique<Shard>();
    s->id = std::move(l.id);
    s->parent = std::move(l.parent);
    s->adjacent_parent = std::move(l.adjacent);
    const auto index = static_cast<uint32_t>(shards_.size());
    s->owned = !leases_;  // with a lease table, once its lease is taken
    if (auto ck = stored_.find(s->id); !leases_ && ck != stored_.end()) {
      s->ck = ck->second;
      s->checkpointed = true;
      if (s->ck.plan) {
        s->plan = s->ck.plan;
        s->plan->ranges[0].shard = index;
        StartAtPlan(s.get());
      }
    }
    index_.emplace(s->id, index);
    shards_.push_back(std::move(s));
  }
  return Status::Ok();
}

void KinesisSource::StartReadyShards() {
  for (auto& s : shards_) {
    if (s->started || !s->owned) continue;
    if (s->ck.end) continue;  // delivered to its end in an earlier run: nothing to read
    bool ready = true;
    for (const std::string* p : {&s->parent, &s->adjacent_parent}) {
      if (p->empty()) continue;
      auto it = index_.find(*p);
      // A parent no longer listed (expired) does not hold its children back. With a lease
      // table, a parent is done when its lease (whoever holds it) is at SHARD_END.
      if (it == index_.end() || !shards_[it->second]->listed) continue;
      const bool done = leases_ ? ended_leases_.count(*p) > 0 : shards_[it->second]->ck.end;
      if (!done) ready = false;
    }
    if (ready) s->started = true;
  }
}

void KinesisSource::StartAt::AppendTo(const char* type_key, const char* sequence_key,
                                      std::string* body) const {
  *body += '"';
  *body += type_key;
  *body += "\":";
  AppendJsonString(type, body);
  if (!sequence.empty()) {
    *body += ",\"";
    *body += sequence_key;
    *body += "\":";
    AppendJsonString(sequence, body);
  }
  if (!timestamp.empty()) *body += ",\"Timestamp\":" + timestamp;
}

KinesisSource::StartAt KinesisSource::StartOf(Shard& s) {
  s.skip_sequence.clear();
  s.skip_sub = -1;
  s.skip_plain = false;
  if (!s.last_sequence.empty()) {
    // An expired iterator or an ended subscription: go on after the last record fetched (its
    // user records all were).
    return {"AFTER_SEQUENCE_NUMBER", s.last_sequence, ""};
  }
  if (leases_ && s.checkpointed && !s.ck.sequence.empty()) {
    // KCL's checkpoint names the last record delivered (and the user record inside an
    // aggregate): read it again and skip what it names.
    s.skip_sequence = s.ck.sequence;
    s.skip_sub = s.ck.sub;
    s.skip_plain = true;
    return {"AT_SEQUENCE_NUMBER", s.ck.sequence, ""};
  }
  if (!s.start_seq.empty()) {
    // A plan read without a checkpoint before it: from its first record (within an aggregate,
    // from its first user record).
    s.skip_sequence = s.start_seq;
    s.skip_sub = s.start_sub - 1;
    return {"AT_SEQUENCE_NUMBER", s.start_seq, ""};
  }
  if (!s.sentinel.empty() && s.sentinel != kAtTimestamp) return {s.sentinel, "", ""};
  if (s.checkpointed && !s.ck.sequence.empty()) {
    if (s.ck.sub < 0) return {"AFTER_SEQUENCE_NUMBER", s.ck.sequence, ""};
    // Inside an aggregate: read it again and skip the user records delivered.
    s.skip_sequence = s.ck.sequence;
    s.skip_sub = s.ck.sub;
    return {"AT_SEQUENCE_NUMBER", s.ck.sequence, ""};
  }
  // A child of a parent read here: from its start, as the KCL does, whatever the delivery's
  // initial position.
  if (!s.parent.empty() && index_.count(s.parent) > 0) return {"TRIM_HORIZON", "", ""};
  if (s.sentinel.empty() && initial_position_ == StartPosition::kLatest) return {"LATEST", "", ""};
  if (s.sentinel == kAtTimestamp || initial_position_ == StartPosition::kAtTimestamp) {
    return {"AT_TIMESTAMP", "",
            std::to_string(initial_timestamp_ms_ / 1000) + "." +
                std::to_string(1000 + initial_timestamp_ms_ % 1000).substr(1)};
  }
  return {"TRIM_HORIZON", "", ""};
}

Status KinesisSource::GetIterator(uint32_t index, std::string* iterator) {
  body_ = "{\"StreamName\":";
  AppendJsonString(options_.stream, &body_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    Shard& s = *shards_[index];
    body_ += ",\"ShardId\":";
    AppendJsonString(s.id, &body_);
    body_ += ',';
    StartOf(s).AppendTo("ShardIteratorType", "StartingSequenceNumber", &body_);
  }
  body_ += "}";
  auto resp = client_->Call(std::string(kPrefix) + "GetShardIterator", body_);
  if (!resp.ok()) return resp.status();
  if (resp->status != 200) {
    sink::AwsBatchAnswer a = sink::ParseAwsError(resp->status, resp->body, "Kinesis");
    return Unavailable("GetShardIterator: " + a.error_code + ": " + a.error_message);
  }
  rapidjson::Document doc;
  if (!ParseJson(resp->body, &doc).ok() || !doc.IsObject()) {
    return Unavailable("GetShardIterator answered what is not JSON");
  }
  *iterator = sink::JsonStringMember(doc, "ShardIterator");
  if (iterator->empty()) return Unavailable("GetShardIterator answered no iterator");
  return Status::Ok();
}

void KinesisSource::RetryLater(Shard* s, int64_t now) {
  s->next_call_ms = now + kRetry.Delay(++s->attempt, &rng_).count();
}

bool KinesisSource::FetchStart(uint32_t index, size_t slot) {
  std::string iterator;
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    iterator = shards_[index]->iterator;
    generation = shards_[index]->generation;
  }
  if (iterator.empty()) {
    Status st = GetIterator(index, &iterator);
    if (!st.ok()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        RetryLater(shards_[index].get(), NowMs());
      }
      NoteError("shard " + shards_[index]->id + ": " + st.message());  // ids never change
      return false;
    }
    std::lock_guard<std::mutex> lock(mu_);
    // Its lease moved meanwhile: the iterator was made from what it was before.
    if (shards_[index]->generation != generation) return false;
    shards_[index]->iterator = iterator;
  }
  Call& c = calls_[slot];
  c.index = index;
  c.generation = generation;
  c.body = "{\"ShardIterator\":";
  AppendJsonString(iterator, &c.body);
  c.body += ",\"Limit\":" + std::to_string(kGetRecordsLimit) + "}";
  Status st = client_->Start(slot, std::string(kPrefix) + "GetRecords", c.body);
  if (!st.ok()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      RetryLater(shards_[index].get(), NowMs());
    }
    NoteError("shard " + shards_[index]->id + " GetRecords: " + st.message());
    return false;
  }
  return true;
}

size_t KinesisSource::Ingest(uint32_t index, uint64_t generation, const rapidjson::Value& records,
                             int64_t behind, std::string_view continuation) {
  // Decoded and split outside the lock (the engine reads meanwhile), then added at once.
  Staged& st = staged_;
  st.data.clear();
  st.seqs.clear();
  st.recs.clear();
  {
    std::lock_guard<std::mutex> lock(mu_);
    const Shard& s = *shards_[index];
    if (s.generation != generation) return 0;
    st.skip_sequence = s.skip_sequence;
    st.skip_sub = s.skip_sub;
    st.skip_plain = s.skip_plain;
  }
  size_t got = 0, malformed = 0;
  std::string_view last_sequence;
  if (records.IsArray()) {
    for (const auto& r : records.GetArray()) {
      auto seq = r.FindMember("SequenceNumber");
      auto data = r.FindMember("Data");
      decoded_.clear();
      if (seq == r.MemberEnd() || !seq->value.IsString() || seq->value.GetStringLength() == 0 ||
          data == r.MemberEnd() || !data->value.IsString() ||
          !Base64DecodeAppend(
               std::string_view(data->value.GetString(), data->value.GetStringLength()), &decoded_)
               .ok()) {
        ++malformed;
        continue;
      }
      auto key = r.FindMember("PartitionKey");
      std::string_view pk;
      if (key != r.MemberEnd() && key->value.IsString()) {
        pk = std::string_view(key->value.GetString(), key->value.GetStringLength());
      }
      last_sequence = std::string_view(seq->value.GetString(), seq->value.GetStringLength());
      Append(&st, index, last_sequence, ArrivalMs(r), pk, decoded_);
      ++got;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    Shard& s = *shards_[index];
    // Its lease was lost (or lost and taken again) during the call: these records are the next
    // reader's, from the lease's checkpoint.
    if (s.generation != generation) return 0;
    s.attempt = 0;
    s.millis_behind = behind;
    if (malformed > 0) {
      counters_.last_error =
          "shard " + s.id + ": a record without a sequence number or base64 data";
    }
    if (got > 0) {
      const size_t data_at = s.data.size(), seqs_at = s.seqs.size();
      s.data.append(st.data);
      s.seqs.append(st.seqs);
      s.recs.reserve(s.recs.size() + st.recs.size());
      for (Rec r : st.recs) {
        r.pos += data_at;
        r.seq_pos += seqs_at;
        s.recs.push_back(r);
      }
      buffered_bytes_ += st.data.size();
      s.last_sequence.assign(last_sequence);
    }
    // SubscribeToShard: where a new subscription goes on (past records not ours to see).
    if (!continuation.empty()) s.last_sequence.assign(continuation);
  }
  if (got > 0) data_cv_.notify_all();
  return got;
}

void KinesisSource::FetchDone(uint32_t index, uint64_t generation,
                              Result<sink::HttpResponse>& resp) {
  const int64_t now = NowMs();
  std::string error;
  rapidjson::Document doc;
  if (!resp.ok()) {
    error = resp.status().message();
  } else if (resp->status != 200) {
    sink::AwsBatchAnswer a = sink::ParseAwsError(resp->status, resp->body, "Kinesis");
    std::lock_guard<std::mutex> lock(mu_);
    Shard& s = *shards_[index];
    if (s.generation != generation) return;
    if (a.error_code == "ExpiredIteratorException") {
      s.iterator.clear();  // a new one after the last record fetched, at once
      return;
    }
    if (a.error_code == "ResourceNotFoundException") {
      error = "stream \"" + options_.stream + "\" or its shard not found at " + client_->url() +
              ": " + a.error_message;
      s.iterator.clear();
    } else if (a.error_code == "InvalidArgumentException") {
      error = a.error_code + ": " + a.error_message;
      s.iterator.clear();
    } else if (a.error_code == "ProvisionedThroughputExceededException" ||
               a.error_code == "LimitExceededException") {
      // Catching up faster than the shard allows: the same iterator after the usual gap.
      s.next_call_ms = now + kCallGapMs;
      return;
    } else {
      error = a.error_code + ": " + a.error_message;  // 5xx: same iterator again
    }
  } else if (!ParseJsonInsitu(resp->body.data(), &doc).ok() || !doc.IsObject()) {
    error = "GetRecords answered what is not JSON";
  }
  if (!error.empty()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (shards_[index]->generation != generation) return;
      RetryLater(shards_[index].get(), now);
    }
    NoteError("shard " + shards_[index]->id + " GetRecords: " + error);
    return;
  }
  auto records = doc.FindMember("Records");
  std::string next = sink::JsonStringMember(doc, "NextShardIterator");
  int64_t behind = -1;
  if (auto b = doc.FindMember("MillisBehindLatest"); b != doc.MemberEnd() && b->value.IsInt64()) {
    behind = b->value.GetInt64();
  }
  const size_t got =
      records != doc.MemberEnd() && records->value.IsArray()
          ? Ingest(index, generation, records->value, behind, "")
          : Ingest(index, generation, rapidjson::Value(rapidjson::kArrayType), behind, "");
  bool ended = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Shard& s = *shards_[index];
    if (s.generation != generation) return;
    s.iterator = next;
    if (next.empty()) {
      s.fetched_all = true;  // closed and read to its end (ChildShards name its children)
      ended = true;
    }
    s.next_call_ms = now + (got == 0     ? options_.poll_interval.count()
                            : behind > 0 ? 0
                                         : kCallGapMs);
  }
  if (ended) {
    relist_ = true;
    SLUICE_LOG(Info, "kinesis source read a closed shard to its end")
        .With("delivery", delivery_)
        .With("shard", shards_[index]->id);
  }
}

void KinesisSource::Append(Staged* s, uint32_t index, std::string_view sequence, int64_t arrival_ms,
                           std::string_view key, std::string_view data) {
  auto add = [&](std::string_view k, std::string_view d, int32_t sub, bool last) {
    Rec r{s->data.size(),
          static_cast<uint32_t>(k.size()),
          static_cast<uint32_t>(d.size()),
          arrival_ms,
          s->seqs.size(),
          static_cast<uint32_t>(sequence.size()),
          sub,
          last};
    s->data.append(k);
    s->data.append(d);
    s->seqs.append(sequence);
    s->recs.push_back(r);
  };
  KplReader::Kind kind = kpl_.Read(data);
  if (kind == KplReader::Kind::kAggregated) {
    const auto& users = kpl_.records();
    for (size_t i = 0; i < users.size(); ++i) {
      // Delivered in an earlier run (the checkpoint was inside this aggregate).
      if (sequence == s->skip_sequence && static_cast<int64_t>(i) <= s->skip_sub) continue;
      add(users[i].partition_key, users[i].data, static_cast<int32_t>(i), i + 1 == users.size());
    }
    return;
  }
  // Named by a KCL checkpoint read AT its sequence number: delivered.
  if (s->skip_plain && sequence == s->skip_sequence) return;
  if (kind == KplReader::Kind::kBad) {
    // As the KCL does: the record as it is, counted.
    if (bad_aggregates_++ == 0) {
      SLUICE_LOG(Warn,
                 "kinesis source got a KPL aggregated record with a wrong MD5 or a "
                 "malformed message; delivered as one plain record")
          .With("delivery", delivery_)
          .With("shard", shards_[index]->id)  // ids never change
          .With("sequence_number", sequence);
    }
  }
  add(key, data, -1, true);
}

void KinesisSource::NoteError(std::string message) {
  bool log;
  {
    std::lock_guard<std::mutex> lock(mu_);
    log = message != counters_.last_error;
    counters_.last_error = message;
  }
  if (log) {
    SLUICE_LOG(Warn, "kinesis source")
        .With("delivery", delivery_)
        .With("stream", options_.stream)
        .With("error", message);
  }
}

// ---- the leases --------------------------------------------------------------------------------

void KinesisSource::KeepLeases() {
  const int64_t failover = options_.lease_table->failover_time.count();
  int attempt = 0;
  int64_t next_renew = 0, next_sync = 0;
  bool ready = false;
  while (!stop_) {
    const int64_t now = NowMs();
    if (!ready) {
      Status st;
      {
        std::lock_guard<std::mutex> store_lock(store_mu_);
        st = leases_->EnsureTable();
      }
      if (st.ok()) {
        ready = true;
        attempt = 0;
        continue;
      }
      NoteError("lease table: " + st.message());
      next_sync = now + kRetry.Delay(++attempt, &rng_).count();
    } else {
      if (now >= next_renew) {
        std::lock_guard<std::mutex> store_lock(store_mu_);
        RenewLeases(now);
        next_renew = now + std::max<int64_t>(failover / 3, 1);
      }
      if (now >= next_sync) {
        Status st = SyncLeases(now);
        if (st.ok()) {
          attempt = 0;
          bool listed;
          {
            std::lock_guard<std::mutex> lock(mu_);
            listed = !shards_.empty();
          }
          // Until the shards are listed, soon again.
          next_sync = now + (listed ? std::max<int64_t>(failover / 2, 1) : 200);
        } else {
          NoteError("lease table: " + st.message());
          next_sync = now + kRetry.Delay(++attempt, &rng_).count();
        }
      }
    }
    std::unique_lock<std::mutex> lock(mu_);
    const int64_t wake = ready ? std::min(next_renew, next_sync) : next_sync;
    lease_cv_.wait_for(
        lock, std::chrono::milliseconds(std::clamp<int64_t>(wake - NowMs(), 1, kMaxSleepMs)),
        [&] { return stop_.load(); });
  }
}

void KinesisSource::RenewLeases(int64_t now) {
  const int64_t failover = options_.lease_table->failover_time.count();
  std::vector<std::string> keys;
  for (const auto& [key, held] : held_) keys.push_back(key);
  for (const std::string& key : keys) {
    if (stop_) return;
    Held& held = held_.at(key);
    KinesisLease lease = held.lease;
    Status st = leases_->Renew(&lease);
    if (st.ok()) {
      held = Held{std::move(lease), now};
    } else if (st.code() == Code::kCancelled) {
      Lose(key, "taken by another worker");
    } else if (now - held.renewed_ms >= failover) {
      // Another worker may have taken it by now.
      Lose(key, "not renewed within the failover time: " + st.message());
    } else {
      NoteError("renewing the lease of shard " + key + ": " + st.message());
    }
  }
}

Status KinesisSource::SyncLeases(int64_t now) {
  const int64_t failover = options_.lease_table->failover_time.count();
  std::lock_guard<std::mutex> store_lock(store_mu_);
  ASSIGN_OR_RETURN(std::vector<KinesisLease> leases, leases_->List());
  // Leases for shards listed and without one: at the delivery's initial position, or, for a
  // child of a shard listed, from its start (its parent's records come first).
  std::vector<KinesisLease> missing;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& s : shards_) {
      if (!s->listed) continue;
      auto it =
          std::lower_bound(leases.begin(), leases.end(), s->id,
                           [](const KinesisLease& l, const std::string& id) { return l.key < id; });
      if (it != leases.end() && it->key == s->id) continue;
      KinesisLease l;
      l.key = s->id;
      for (const std::string* p : {&s->parent, &s->adjacent_parent}) {
        if (!p->empty()) l.parents.push_back(*p);
      }
      const bool child = !s->parent.empty() && index_.count(s->parent) > 0;
      l.checkpoint = child || initial_position_ == StartPosition::kTrimHorizon ? kTrimHorizon
                     : initial_position_ == StartPosition::kLatest             ? kLatest
                                                                               : kAtTimestamp;
      missing.push_back(std::move(l));
    }
  }
  for (const KinesisLease& l : missing) {
    Status st = leases_->Create(l);
    if (!st.ok() && st.code() != Code::kAlreadyExists) return st;
  }
  if (!missing.empty()) {
    ASSIGN_OR_RETURN(leases, leases_->List());
  }
  // What changed since the last look: a counter standing still for the failover time is an
  // expired lease.
  for (const KinesisLease& l : leases) {
    auto [it, added] = seen_.try_emplace(l.key, Seen{l.counter, l.owner, now});
    if (!added && (it->second.counter != l.counter || it->second.owner != l.owner)) {
      it->second = Seen{l.counter, l.owner, now};
    }
  }
  std::vector<KinesisLease> known;  // of shards listed here
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const KinesisLease& l : leases) {
      auto idx = index_.find(l.key);
      if (idx == index_.end()) continue;
      known.push_back(l);
      if (l.ended() && ended_leases_.insert(l.key).second) {
        Shard& s = *shards_[idx->second];
        if (!s.owned) {
          s.ck.end = true;
          s.checkpointed = true;
        }
        poll_cv_.notify_all();
      }
    }
  }
  // Leases this worker holds by the table's word but not here (a restart under the same worker
  // id) are taken back first, as KCL does.
  std::vector<KinesisLease> take;
  for (const KinesisLease& l : known) {
    if (!l.ended() && l.owner == leases_->worker_id() && held_.count(l.key) == 0) take.push_back(l);
    // Taken from this worker since its last renewal.
    if (held_.count(l.key) > 0 && l.owner != leases_->worker_id()) {
      Lose(l.key, "taken by " + (l.owner.empty() ? std::string("no one") : l.owner));
    }
  }
  if (take.empty()) {
    auto expired = [&](const KinesisLease& l) {
      auto it = seen_.find(l.key);
      return it != seen_.end() && now - it->second.since_ms >= failover;
    };
    for (const KinesisLease* l : LeasesToTake(known, leases_->worker_id(), expired)) {
      take.push_back(*l);
    }
  }
  for (KinesisLease& l : take) {
    const std::string from = l.owner;
    Status st = leases_->Take(&l);
    if (st.code() == Code::kCancelled) continue;  // another worker was first
    RETURN_IF_ERROR(st);
    seen_[l.key] = Seen{l.counter, l.owner, now};
    Acquire(l, now);
    std::lock_guard<std::mutex> lock(mu_);
    if (!from.empty() && from != leases_->worker_id()) counters_.leases_taken++;
    SLUICE_LOG(Info, "kinesis source took a lease")
        .With("delivery", delivery_)
        .With("shard", l.key)
        .With("from", from.empty() ? std::string("no one") : from)
        .With("checkpoint", l.checkpoint);
  }
  return Status::Ok();
}

void KinesisSource::Reset(Shard* s) {
  buffered_bytes_ -= s->data.size() - s->head_bytes;
  s->generation++;
  s->started = false;
  s->fetched_all = false;
  s->iterator.clear();
  s->last_sequence.clear();
  s->skip_sequence.clear();
  s->skip_sub = -1;
  s->skip_plain = false;
  s->start_seq.clear();
  s->start_sub = -1;
  s->next_call_ms = 0;
  s->attempt = 0;
  s->millis_behind = -1;
  s->data.clear();
  s->seqs.clear();
  s->recs.clear();
  s->base = 0;
  s->head = 0;
  s->head_bytes = 0;
  s->committed = 0;
  s->plan.reset();
  s->ck = KinesisCheckpoint{};
  s->checkpointed = false;
  s->sentinel.clear();
}

void KinesisSource::StartAtPlan(Shard* s) {
  if (!s->ck.sequence.empty() || !s->plan) return;
  const std::string& from = s->plan->source_from;
  const size_t colon = from.rfind(':');
  if (colon == std::string::npos || colon == 0) return;
  s->start_seq = from.substr(0, colon);
  s->start_sub = std::strtoll(from.c_str() + colon + 1, nullptr, 10);
}

void KinesisSource::Acquire(const KinesisLease& lease, int64_t now) {
  held_[lease.key] = Held{lease, now};
  std::lock_guard<std::mutex> lock(mu_);
  auto idx = index_.find(lease.key);
  if (idx == index_.end()) return;
  Shard& s = *shards_[idx->second];
  Reset(&s);
  s.owned = true;
  if (lease.ended()) {
    s.ck.end = true;
    s.checkpointed = true;
  } else if (lease.checkpoint == kTrimHorizon || lease.checkpoint == kLatest ||
             lease.checkpoint == kAtTimestamp || lease.checkpoint.empty()) {
    s.sentinel = lease.checkpoint.empty() ? std::string(kTrimHorizon) : lease.checkpoint;
  } else {
    s.ck.sequence = lease.checkpoint;
    s.ck.sub = lease.sub;
    s.checkpointed = true;
  }
  if (!lease.pending.empty() && !lease.pending_state.empty()) {
    auto plan = DecodeJournalEntry(lease.pending_state);
    if (plan.ok() && plan->ranges.size() == 1) {
      plan->ranges[0].shard = idx->second;
      s.plan = *plan;
      s.ck.plan = std::move(*plan);
      StartAtPlan(&s);
    } else {
      // Another application's state (a KCL worker's prepareCheckpoint): not a plan of ours.
      counters_.last_error = "shard " + lease.key + ": pendingCheckpointState is not a sluice plan";
    }
  }
  poll_cv_.notify_all();
}

void KinesisSource::Lose(const std::string& key, const std::string& why) {
  held_.erase(key);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto idx = index_.find(key);
    if (idx == index_.end()) return;
    Shard& s = *shards_[idx->second];
    if (!s.owned) return;
    Reset(&s);
    s.owned = false;
    counters_.revocations++;
  }
  SLUICE_LOG(Info, "kinesis source lost a lease; its batches not yet sent are dropped")
      .With("delivery", delivery_)
      .With("shard", key)
      .With("why", why);
}

// ---- the engine's side ------------------------------------------------------------------------

std::vector<uint32_t> KinesisSource::ReadableShards() {
  std::vector<uint32_t> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (uint32_t i = 0; i < shards_.size(); ++i) {
    if (shards_[i]->started && !shards_[i]->ck.end) out.push_back(i);
  }
  return out;
}

Status KinesisSource::Read(uint32_t shard, uint64_t from, const broker::ReadLimits& limits,
                           broker::ReadBatch* out) {
  out->records.clear();
  out->buffer.clear();
  out->shard_end = false;
  out->millis_behind_latest = 0;
  out->next_offset = from;
  bool drained = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shard >= shards_.size()) return NotFound("no shard " + std::to_string(shard));
    Shard* s = shards_[shard].get();
    if (from < s->base) return InvalidArgument("offset " + std::to_string(from) + " was read past");
    const bool throttled = Throttled(*s);
    while (s->head < s->recs.size() && s->base + s->head < from) {
      const Rec& r = s->recs[s->head];
      s->head_bytes += r.key_len + r.len;
      buffered_bytes_ -= r.key_len + r.len;
      s->head++;
    }
    CopyBuffered(
        s->data, s->recs, s->head, limits, [s](size_t i) { return s->base + i; }, out);
    out->millis_behind_latest = std::max<int64_t>(s->millis_behind, 0);
    // A closed shard read to its end: the engine checkpoints there (SHARD_END).
    out->shard_end = s->fetched_all && s->head == s->recs.size() && out->records.empty();
    drained = throttled && !Throttled(*s);
  }
  if (drained) poll_cv_.notify_all();
  return Status::Ok();
}

void KinesisSource::WaitForData(uint32_t shard, uint64_t offset,
                                std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  data_cv_.wait_for(lock, timeout, [&] {
    return stop_ || shard >= shards_.size() || shards_[shard]->fetched() > offset;
  });
}

Result<uint64_t> KinesisSource::GetCheckpoint(uint32_t shard) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shard >= shards_.size() ||
      (!shards_[shard]->checkpointed && shards_[shard]->committed == 0)) {
    return NotFound("no checkpoint");
  }
  return shards_[shard]->committed;
}

Status KinesisSource::Store(uint32_t index, uint64_t next, std::optional<JournalEntry> plan,
                            uint64_t plan_last) {
  std::lock_guard<std::mutex> store_lock(store_mu_);
  KinesisCheckpoints snapshot;
  KinesisCheckpoint before;
  uint64_t committed_before;
  bool checkpointed_before;
  KinesisLease lease;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Shard& s = *shards_[index];
    if (!s.owned) return Cancelled("the lease of shard " + s.id + " is no longer this worker's");
    auto held = held_.find(s.id);
    if (leases_) {
      if (held == held_.end()) {
        return Cancelled("the lease of shard " + s.id + " is no longer this worker's");
      }
      lease = held->second.lease;
    }
    before = s.ck;
    committed_before = s.committed;
    checkpointed_before = s.checkpointed;
    if (next > s.committed) {
      if (next - 1 < s.base || next - 1 - s.base >= s.recs.size()) {
        return Internal("shard " + s.id + ": offset " + std::to_string(next - 1) + " is not held");
      }
      const Rec& r = s.recs[next - 1 - s.base];
      s.ck.sequence.assign(s.seqs, r.seq_pos, r.seq_len);
      // KCL's checkpoint names the user record even when it is its aggregate's last.
      s.ck.sub = leases_ ? std::max(r.sub, 0) : r.last_sub ? -1 : r.sub;
      s.committed = next;
      s.checkpointed = true;
    }
    // Delivered to its end: its children may be read.
    s.ck.end = s.fetched_all && s.committed == s.fetched() && !plan;
    if (leases_) {
      if (s.ck.end) {
        lease.checkpoint = kShardEnd;
        lease.sub = 0;
        lease.children.clear();
        for (const auto& c : shards_) {
          if (c->parent == s.id || c->adjacent_parent == s.id) lease.children.push_back(c->id);
        }
      } else if (!s.ck.sequence.empty()) {
        lease.checkpoint = s.ck.sequence;
        lease.sub = s.ck.sub;
      }
      lease.pending.clear();
      lease.pending_sub = 0;
      lease.pending_state.clear();
      if (plan) {
        if (plan_last < s.base || plan_last - s.base >= s.recs.size()) {
          s.ck = before;
          s.committed = committed_before;
          s.checkpointed = checkpointed_before;
          return Internal("shard " + s.id + ": offset " + std::to_string(plan_last) +
                          " is not held");
        }
        const Rec& r = s.recs[plan_last - s.base];
        lease.pending.assign(s.seqs, r.seq_pos, r.seq_len);
        lease.pending_sub = std::max(r.sub, 0);
        lease.pending_state = EncodeJournalEntry(*plan);
      }
    }
    s.ck.plan = std::move(plan);
    if (!leases_) {
      stored_[s.id] = s.ck;
      snapshot = stored_;
    }
  }
  Status st = leases_ ? leases_->Checkpoint(&lease) : WriteKinesisCheckpoints(state_dir_, snapshot);
  if (st.ok() && leases_) held_[lease.key] = Held{lease, NowMs()};
  if (!st.ok() && st.code() == Code::kCancelled && leases_) {
    // Taken by another worker: its records are that one's now.
    Lose(shards_[index]->id, st.message());
    return st;
  }
  std::unique_lock<std::mutex> lock(mu_);
  Shard& s = *shards_[index];
  if (!st.ok()) {
    s.ck = before;
    s.committed = committed_before;
    s.checkpointed = checkpointed_before;
    if (!leases_) stored_[s.id] = before;
    counters_.commit_errors++;
    counters_.last_error = "checkpoint: " + st.message();
    return st;
  }
  if (s.ck.end) {
    ended_leases_.insert(s.id);
    poll_cv_.notify_all();
    if (leases_) {
      // Nothing more to do with it: no longer renewed, and no worker takes an ended lease.
      held_.erase(s.id);
      s.owned = false;
    }
  }
  Compact(&s);
  return Status::Ok();
}

Status KinesisSource::Checkpoint(std::span<const broker::ShardPosition> positions) {
  for (const broker::ShardPosition& pos : positions) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (pos.shard_index >= shards_.size()) return NotFound("no such shard");
    }
    RETURN_IF_ERROR(Store(pos.shard_index, pos.next_offset, std::nullopt));
  }
  return Status::Ok();
}

Status KinesisSource::RecordPlan(const JournalEntry& entry) {
  if (entry.ranges.size() != 1) return InvalidArgument("a kinesis batch holds one shard");
  const ShardRange& r = entry.ranges[0];
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (r.shard >= shards_.size()) return NotFound("no such shard");
    if (r.first < shards_[r.shard]->committed) {
      return Internal("a plan starts before the shard's checkpoint");
    }
  }
  // Kept relative to the checkpoint, which moves to the record before the batch.
  JournalEntry plan = entry;
  plan.ranges[0] = {0, 0, r.last - r.first};
  {
    std::lock_guard<std::mutex> lock(mu_);
    const Shard& s = *shards_[r.shard];
    if (r.first >= s.base && r.first - s.base < s.recs.size()) {
      const Rec& rec = s.recs[r.first - s.base];
      plan.source_from.assign(s.seqs, rec.seq_pos, rec.seq_len);
      plan.source_from += ":" + std::to_string(rec.sub);
    }
  }
  return Store(r.shard, r.first, std::move(plan), r.last);
}

std::optional<JournalEntry> KinesisSource::TakePlan(uint32_t shard, uint64_t next) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shard >= shards_.size()) return std::nullopt;
  Shard* s = shards_[shard].get();
  std::optional<JournalEntry> plan = std::move(s->plan);
  s->plan.reset();
  if (!plan || next != 0 || s->committed != 0) return std::nullopt;
  counters_.plans_replayed++;
  return plan;
}

void KinesisSource::Compact(Shard* s) {
  // Records before both the read head and the checkpoint are needed no more.
  size_t drop = std::min<uint64_t>(s->head, s->committed > s->base ? s->committed - s->base : 0);
  if (drop < 1024 || drop < s->recs.size() / 2) return;
  size_t data_cut = drop < s->recs.size() ? s->recs[drop].pos : s->data.size();
  size_t seq_cut = drop < s->recs.size() ? s->recs[drop].seq_pos : s->seqs.size();
  s->data.erase(0, data_cut);
  s->seqs.erase(0, seq_cut);
  s->recs.erase(s->recs.begin(), s->recs.begin() + static_cast<ptrdiff_t>(drop));
  for (Rec& r : s->recs) {
    r.pos -= data_cut;
    r.seq_pos -= seq_cut;
  }
  s->base += drop;
  s->head -= drop;
  s->head_bytes -= data_cut;
}

std::string KinesisSource::RangeSeed(uint32_t shard, uint64_t first, uint64_t last) const {
  // Local offsets start again at 0 after a restart: the records' sequence numbers (and
  // sub-sequence numbers) name the range instead, the same in every run.
  std::lock_guard<std::mutex> lock(mu_);
  const Shard& s = *shards_.at(shard);
  auto position = [&](uint64_t offset) {
    if (offset < s.base || offset - s.base >= s.recs.size()) return std::to_string(offset);
    const Rec& r = s.recs[offset - s.base];
    std::string p(s.seqs, r.seq_pos, r.seq_len);
    if (r.sub >= 0) p += "." + std::to_string(r.sub);
    return p;
  };
  return s.id + ":" + position(first) + "-" + position(last);
}

void KinesisSource::Describe(uint32_t shard, uint64_t offset, FailedRecord* f) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (shard >= shards_.size()) return;
  const Shard& s = *shards_[shard];
  f->shard_id = s.id;
  if (offset >= s.base && offset - s.base < s.recs.size()) {
    const Rec& r = s.recs[offset - s.base];
    f->sequence_number.assign(s.seqs, r.seq_pos, r.seq_len);
  }
}

std::string KinesisSource::RangeLabel(uint32_t shard) const {
  std::lock_guard<std::mutex> lock(mu_);
  return shard < shards_.size() ? shards_[shard]->id : std::to_string(shard);
}

uint64_t KinesisSource::Generation(uint32_t shard) const {
  std::lock_guard<std::mutex> lock(mu_);
  return shard < shards_.size() ? shards_[shard]->generation : 0;
}

void KinesisSource::NoteDropped(uint32_t /*shard*/) {
  std::lock_guard<std::mutex> lock(mu_);
  counters_.batches_dropped++;
}

SourceStats KinesisSource::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  SourceStats st = counters_;
  if (leases_) {
    st.leases_held = 0;
    for (const auto& s : shards_) st.leases_held += s->owned ? 1 : 0;
  }
  for (const auto& s : shards_) {
    if (!s->started || s->ck.end) continue;
    SourceShardStats sh;
    sh.id = s->id;
    sh.committed = s->checkpointed || s->committed > 0 ? static_cast<int64_t>(s->committed) : -1;
    if (s->fetched_all) sh.end = static_cast<int64_t>(s->fetched());
    sh.lag = s->fetched() - s->committed;
    sh.buffered = s->recs.size() - s->head;
    sh.millis_behind = s->millis_behind;
    st.shards.push_back(std::move(sh));
  }
  return st;
}

}  // namespace sluice::buffer
