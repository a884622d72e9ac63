// Fuzz target: the Kinesis Data Streams and Firehose JSON APIs (KinesisApi::Handle and
// FirehoseApi::Handle: X-Amz-Target operation plus JSON body in, status plus JSON body out) over a
// real broker in a temporary directory. The first input byte picks the operation (high bit
// clear: a Kinesis_20131202 one; set: a Firehose_20150804 one); the rest is the body. Every answer
// must be a JSON object, with a Kinesis error type exactly when the status is not 200. The broker
// keeps its state across inputs, so sequences of calls (create, put, iterate, get, reshard) are
// reached from the seed corpus.
#include <rapidjson/document.h>
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "broker/api/firehose_api.h"
#include "broker/api/kinesis_api.h"
#include "broker/broker.h"

namespace {

namespace broker = sluice::broker;

const char* const kOperations[] = {
    "CreateStream",
    "DeleteStream",
    "DescribeStream",
    "DescribeStreamSummary",
    "ListStreams",
    "ListShards",
    "SplitShard",
    "MergeShards",
    "UpdateShardCount",
    "IncreaseStreamRetentionPeriod",
    "DecreaseStreamRetentionPeriod",
    "AddTagsToStream",
    "RemoveTagsFromStream",
    "ListTagsForStream",
    "PutRecord",
    "PutRecords",
    "GetShardIterator",
    "GetRecords",
    "RegisterStreamConsumer",
    "DescribeStreamConsumer",
    "ListStreamConsumers",
    "DeregisterStreamConsumer",
    "SubscribeToShard",
    "NoSuchOperation",
};

const char* const kFirehoseOperations[] = {
    "CreateDeliveryStream",
    "DeleteDeliveryStream",
    "DescribeDeliveryStream",
    "ListDeliveryStreams",
    "PutRecord",
    "PutRecordBatch",
    "NoSuchOperation",
};

struct World {
  std::filesystem::path dir;
  std::unique_ptr<broker::Broker> broker;
  std::unique_ptr<broker::api::KinesisApi> api;
  std::unique_ptr<broker::api::FirehoseApi> firehose;
};

World* g_world = nullptr;

World* MakeWorld() {
  auto* w = g_world = new World;
  char tmpl[] = "/tmp/sluice-fuzz-kinesis-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) std::abort();
  w->dir = tmpl;
  broker::BrokerOptions bo;
  bo.data_dir = w->dir;
  bo.disk_quota_bytes = 64 << 20;
  bo.segment_bytes = 1 << 20;
  auto b = broker::Broker::Open(bo);
  if (!b.ok()) std::abort();
  w->broker = std::move(*b);
  broker::StreamOptions so;
  so.name = "fuzz";
  so.shards = 2;
  so.fsync = broker::FsyncPolicy::kNever;
  if (!w->broker->CreateStream(so).ok()) std::abort();
  broker::api::ApiOptions ao;
  ao.data_dir = w->dir;
  ao.max_shards_per_stream = 8;
  ao.firehose_deliveries = {{"direct", ""}, {"from-stream", "fuzz"}};
  auto api = broker::api::KinesisApi::Create(w->broker.get(), ao);
  if (!api.ok()) std::abort();
  w->api = std::move(*api);
  auto firehose = broker::api::FirehoseApi::Create(w->broker.get(), ao);
  if (!firehose.ok()) std::abort();
  w->firehose = std::move(*firehose);
  std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(g_world->dir, ec);
  });
  return w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = MakeWorld();
  if (size == 0) return 0;
  std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  broker::api::ApiReply reply;
  if (data[0] & 0x80) {
    std::string op = kFirehoseOperations[(data[0] & 0x7f) % (sizeof(kFirehoseOperations) /
                                                             sizeof(kFirehoseOperations[0]))];
    world->firehose->Handle(op, body, &reply);
  } else if (std::string op = kOperations[data[0] % (sizeof(kOperations) / sizeof(kOperations[0]))];
             op == "SubscribeToShard") {
    broker::api::SubscriptionStart start;
    if (world->api->PrepareSubscribe(body, &reply, &start)) return 0;
  } else {
    world->api->Handle(op, body, &reply);
  }
  rapidjson::Document doc;
  doc.Parse(reply.body.data(), reply.body.size());
  if (doc.HasParseError() || !doc.IsObject()) std::abort();
  if ((reply.status == 200) != reply.error_type.empty()) std::abort();
  return 0;
}
