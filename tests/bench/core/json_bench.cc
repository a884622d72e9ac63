// core/json.h against RapidJSON's own recursive DOM parse, on the records it meets most: JSON log
// lines of ~250 bytes (an nginx access log through log_to_json, with a nested object), one
// Document per record as the partitioner and the agent's field keys parse them. Prints MB/s.
//
//   build/release/tests/bench/core/core_bench
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "core/json.h"

namespace {

std::vector<std::string> Records() {
  std::vector<std::string> out;
  for (int i = 0; i < 10000; ++i) {
    out.push_back(
        "{\"host\":\"10.0." + std::to_string(i % 250) + ".7\",\"user\":{\"id\":\"u" +
        std::to_string(i % 977) +
        "\",\"tier\":\"gold\"},\"time\":\"22/Nov/2026:10:00:00 +0000\",\"method\":\"GET\","
        "\"path\":\"/api/v1/orders/" +
        std::to_string(i) + "\",\"status\":" + std::to_string(i % 7 ? 200 : 503) +
        ",\"size\":" + std::to_string(1000 + i) +
        ",\"referer\":\"-\",\"agent\":\"Mozilla/5.0 (X11; Linux x86_64)\",\"level\":\"info\"}");
  }
  return out;
}

template <bool kBounded>
void BM_ParseRecord(benchmark::State& state) {
  std::vector<std::string> records = Records();
  size_t bytes = 0;
  for (auto _ : state) {
    for (const std::string& r : records) {
      rapidjson::Document d;
      if constexpr (kBounded) {
        benchmark::DoNotOptimize(sluice::ParseJson(r, &d).ok());
      } else {
        d.Parse(r.data(), r.size());
        benchmark::DoNotOptimize(d.HasParseError());
      }
      bytes += r.size();
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * records.size()));
}
BENCHMARK_TEMPLATE(BM_ParseRecord, true)->Name("BM_ParseRecord/core_json_bounded");

// As the partitioner and the agent's field keys parse: a JsonArena's buffer reused per record.
void BM_ParseRecordArena(benchmark::State& state) {
  std::vector<std::string> records = Records();
  sluice::JsonArena arena;
  size_t bytes = 0;
  for (auto _ : state) {
    for (const std::string& r : records) {
      rapidjson::Document& d = arena.Fresh();
      benchmark::DoNotOptimize(sluice::ParseJson(r, &d).ok());
      bytes += r.size();
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * records.size()));
}
BENCHMARK(BM_ParseRecordArena)->Name("BM_ParseRecord/core_json_bounded_arena");
BENCHMARK_TEMPLATE(BM_ParseRecord, false)->Name("BM_ParseRecord/rapidjson_recursive");

}  // namespace

BENCHMARK_MAIN();
