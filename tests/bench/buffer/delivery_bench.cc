// Delivery throughput: codecs alone (the three gzip writers side by side), and broker ->
// delivery stream -> blackhole / file sink with none, gzip and snappy. Bytes are record bytes
// before compression. Run: sluice_delivery_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <random>
#include <thread>

#include "broker/broker.h"
#include "buffer/codec.h"
#include "buffer/delivery_stream.h"

namespace sluice::buffer {
namespace {

constexpr size_t kRecordBytes = 200;
constexpr size_t kTotalBytes = 64u << 20;

std::string LogLine(std::mt19937_64& rng) {
  static const char* kPaths[] = {"/api/v1/items", "/static/app.js", "/login", "/health"};
  std::string s = "10.0." + std::to_string(rng() % 256) + "." + std::to_string(rng() % 256) +
                  " - - [22/Nov/2026:05:00:" + std::to_string(10 + rng() % 50) + " +0000] \"GET " +
                  kPaths[rng() % 4] + "/" + std::to_string(rng() % 100000) + " HTTP/1.1\" 200 " +
                  std::to_string(rng() % 50000) + " \"-\" \"curl/8.0\"";
  s.resize(kRecordBytes - 1, ' ');
  return s;
}

const std::string& Corpus() {
  static const std::string corpus = [] {
    std::mt19937_64 rng(42);
    std::string s;
    while (s.size() < (8u << 20)) s += LogLine(rng) + "\n";
    return s;
  }();
  return corpus;
}

void BM_Codec(benchmark::State& state, Compression c, GzipBackend g) {
  ObjectEncoder enc(c, g);
  std::string out;
  const std::string& in = Corpus();
  for (auto _ : state) {
    if (!enc.Encode(in, &out).ok()) state.SkipWithError("encode failed");
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * in.size()));
  state.counters["ratio"] = static_cast<double>(in.size()) / static_cast<double>(out.size());
}
BENCHMARK_CAPTURE(BM_Codec, gzip_zlib_1, Compression::kGzip, GzipBackend::kZlib);
BENCHMARK_CAPTURE(BM_Codec, gzip_libdeflate_1, Compression::kGzip, GzipBackend::kLibdeflate);
BENCHMARK_CAPTURE(BM_Codec, gzip_isal_1, Compression::kGzip, GzipBackend::kIsal);
BENCHMARK_CAPTURE(BM_Codec, zip, Compression::kZip, GzipBackend::kIsal);
BENCHMARK_CAPTURE(BM_Codec, snappy, Compression::kSnappy, GzipBackend::kIsal);
BENCHMARK_CAPTURE(BM_Codec, hadoop_snappy, Compression::kHadoopSnappy, GzipBackend::kIsal);

// One broker with kTotalBytes of records in 2 shards, shared by the pipeline benchmarks.
struct Fixture {
  std::filesystem::path root;
  std::unique_ptr<broker::Broker> broker;
  broker::Stream* stream = nullptr;
  uint64_t records = 0;
  Fixture() {
    root = std::filesystem::temp_directory_path() / ("sluice-bench-" + std::to_string(::getpid()));
    std::filesystem::remove_all(root);
    broker::BrokerOptions bo;
    bo.data_dir = root / "data";
    broker = std::move(*broker::Broker::Open(bo));
    broker::StreamOptions so;
    so.name = "bench";
    so.shards = 2;
    so.fsync = broker::FsyncPolicy::kNever;
    stream = *broker->CreateStream(so);
    std::mt19937_64 rng(1);
    std::vector<std::string> data, keys;
    for (int i = 0; i < 500; ++i) {
      data.push_back(LogLine(rng));
      keys.push_back("key-" + std::to_string(i));
    }
    std::vector<broker::PutRecordIn> in;
    for (int i = 0; i < 500; ++i) in.push_back({keys[i], data[i], std::nullopt});
    std::vector<broker::PutRecordOut> out;
    for (size_t bytes = 0; bytes < kTotalBytes; bytes += 500 * (kRecordBytes - 1)) {
      if (!stream->PutBatch(in, &out).ok()) std::abort();
      records += 500;
    }
  }
  ~Fixture() {
    broker.reset();
    std::filesystem::remove_all(root);
  }
};

Fixture& Shared() {
  static Fixture f;
  return f;
}

double ProcessCpuSeconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Process CPU (all threads) per GB of records is reported as cpu_s_per_GB.
void BM_Pipeline(benchmark::State& state, const char* sink, Compression c) {
  Fixture& f = Shared();
  PluginHost host({SLUICE_PLUGIN_DIR});
  int run = 0;
  double cpu = 0;
  for (auto _ : state) {
    double cpu0 = ProcessCpuSeconds();
    DeliveryOptions o;
    o.name = std::string("bench-") + sink + "-" + std::to_string(::getpid()) + "-" +
             std::to_string(run++) + "-" + std::to_string(static_cast<int>(c));
    o.stream = "bench";
    o.record_delimiter = "\n";
    o.compression = c;
    o.buffer_interval = std::chrono::milliseconds(900000);
    o.sink.type = sink;
    if (std::string(sink) == "file") {
      SinkOption path;
      path.key = "path";
      path.value = (f.root / "out").string();
      o.sink.options.push_back(path);
      SinkOption fsync;
      fsync.key = "fsync";
      fsync.value = "false";
      o.sink.options.push_back(fsync);
    }
    auto ds = DeliveryStream::Create(o, f.stream, &host, f.root / "state" / o.name, Clock::Real());
    if (!ds.ok()) {
      state.SkipWithError(ds.status().ToString().c_str());
      return;
    }
    (void)(*ds)->Start();
    while ((*ds)->stats().records_in < f.records) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    (*ds)->Stop(std::chrono::milliseconds(60000));
    if ((*ds)->stats().records_delivered != f.records) state.SkipWithError("records lost");
    cpu += ProcessCpuSeconds() - cpu0;
    state.PauseTiming();
    std::filesystem::remove_all(f.root / "out");
    state.ResumeTiming();
  }
  double bytes = static_cast<double>(state.iterations() * f.records * (kRecordBytes - 1));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["cpu_s_per_GB"] = cpu / (bytes / 1e9);
}
BENCHMARK_CAPTURE(BM_Pipeline, blackhole_none, "blackhole", Compression::kNone)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Pipeline, blackhole_gzip, "blackhole", Compression::kGzip)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Pipeline, blackhole_snappy, "blackhole", Compression::kSnappy)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Pipeline, file_none, "file", Compression::kNone)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Pipeline, file_gzip, "file", Compression::kGzip)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Pipeline, file_snappy, "file", Compression::kSnappy)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sluice::buffer

BENCHMARK_MAIN();
