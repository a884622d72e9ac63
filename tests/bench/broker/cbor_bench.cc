// The CBOR form of the Kinesis API (broker/api/cbor_transcode.h) on its hot calls: a PutRecords
// request of 500 records of 1 KiB read the JSON way (parse + base64-decode every Data, as the
// operation does) and the CBOR way (CborToJson first, then the same), and a GetRecords answer of
// 500 such records turned into CBOR. Prints bytes/s of the request or answer.
//
//   build/release/tests/bench/broker/cbor_bench
#include <benchmark/benchmark.h>

#include <random>
#include <string>

#include "broker/api/aws_json.h"
#include "broker/api/cbor_transcode.h"
#include "core/base64.h"

namespace {

constexpr int kRecords = 500;
constexpr size_t kRecordBytes = 1024;

std::string RecordData(int i) {
  std::mt19937 rng(static_cast<unsigned>(i));
  std::string d(kRecordBytes, '\0');
  for (char& c : d) c = static_cast<char>(rng());
  return d;
}

// CBOR head, shortest form.
void Head(int major, uint64_t v, std::string* out) {
  auto m = static_cast<char>(major << 5);
  if (v < 24) {
    out->push_back(static_cast<char>(m | static_cast<char>(v)));
  } else if (v <= 0xff) {
    out->push_back(static_cast<char>(m | 24));
    out->push_back(static_cast<char>(v));
  } else {
    out->push_back(static_cast<char>(m | 25));
    out->push_back(static_cast<char>(v >> 8));
    out->push_back(static_cast<char>(v));
  }
}
void Text(std::string_view s, std::string* out) {
  Head(3, s.size(), out);
  out->append(s);
}

std::string PutRecordsJson() {
  std::string j = R"({"StreamName":"bench","Records":[)";
  for (int i = 0; i < kRecords; ++i) {
    if (i > 0) j += ',';
    j += R"({"Data":")" + sluice::Base64Encode(RecordData(i)) + R"(","PartitionKey":"pk-)" +
         std::to_string(i) + "\"}";
  }
  return j + "]}";
}

// The same request as the AWS SDK for Java writes it: Data as byte strings.
std::string PutRecordsCbor() {
  std::string c;
  Head(5, 2, &c);
  Text("StreamName", &c);
  Text("bench", &c);
  Text("Records", &c);
  Head(4, kRecords, &c);
  for (int i = 0; i < kRecords; ++i) {
    Head(5, 2, &c);
    Text("Data", &c);
    std::string d = RecordData(i);
    Head(2, d.size(), &c);
    c += d;
    Text("PartitionKey", &c);
    Text("pk-" + std::to_string(i), &c);
  }
  return c;
}

// What PutRecords does with the JSON before appending: parse it, decode every record's Data.
size_t ReadPut(std::string& json, rapidjson::Document* doc, std::string* scratch) {
  if (!sluice::broker::api::ParseRequestObject(json, doc).ok()) abort();
  size_t bytes = 0;
  for (const rapidjson::Value& r : (*doc)["Records"].GetArray()) {
    scratch->clear();
    const rapidjson::Value& d = r["Data"];
    if (!sluice::Base64DecodeAppend(std::string_view(d.GetString(), d.GetStringLength()), scratch)
             .ok()) {
      abort();
    }
    bytes += scratch->size();
  }
  return bytes;
}

void BM_PutRecordsJson(benchmark::State& state) {
  const std::string body = PutRecordsJson();
  std::string json;
  std::string scratch;
  for (auto _ : state) {
    json = body;  // parsed in place, as the server does with the request's body
    rapidjson::Document doc;
    benchmark::DoNotOptimize(ReadPut(json, &doc, &scratch));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.counters["body_bytes"] = static_cast<double>(body.size());
}
BENCHMARK(BM_PutRecordsJson);

void BM_PutRecordsCbor(benchmark::State& state) {
  const std::string body = PutRecordsCbor();
  std::string scratch;
  for (auto _ : state) {
    std::string json;
    if (!sluice::broker::api::CborToJson(body, &json).ok()) abort();
    rapidjson::Document doc;
    benchmark::DoNotOptimize(ReadPut(json, &doc, &scratch));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.counters["body_bytes"] = static_cast<double>(body.size());
}
BENCHMARK(BM_PutRecordsCbor);

// The transcoding step alone.
void BM_PutRecordsCborToJson(benchmark::State& state) {
  const std::string body = PutRecordsCbor();
  for (auto _ : state) {
    std::string json;
    if (!sluice::broker::api::CborToJson(body, &json).ok()) abort();
    benchmark::DoNotOptimize(json.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_PutRecordsCborToJson);

void BM_GetRecordsAnswerToCbor(benchmark::State& state) {
  std::string answer = R"({"Records":[)";
  for (int i = 0; i < kRecords; ++i) {
    if (i > 0) answer += ',';
    answer += R"({"SequenceNumber":"49590338271490256608559692538361571095921575989136588898",)"
              R"("ApproximateArrivalTimestamp":1700000000.123,"Data":")" +
              sluice::Base64Encode(RecordData(i)) + R"(","PartitionKey":"pk-)" + std::to_string(i) +
              "\"}";
  }
  answer += R"(],"NextShardIterator":"AAAA","MillisBehindLatest":0})";
  for (auto _ : state) {
    std::string cbor;
    if (!sluice::broker::api::JsonToCbor(answer, &cbor).ok()) abort();
    benchmark::DoNotOptimize(cbor.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * answer.size()));
}
BENCHMARK(BM_GetRecordsAnswerToCbor);

}  // namespace

BENCHMARK_MAIN();
