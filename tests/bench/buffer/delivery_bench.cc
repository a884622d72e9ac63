// Delivery throughput: codecs alone (the three gzip writers side by side), and broker ->
// delivery stream -> blackhole / file sink with none, gzip and snappy, the sink in the process or
// (`_process`: isolation: process) in a child process. Bytes are record bytes before compression.
// Run: sluice_delivery_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <thread>

#include "broker/broker.h"
#include "buffer/codec.h"
#include "buffer/delivery_stream.h"
#include "buffer/plugin_process.h"

namespace sluice::buffer {
namespace {

constexpr size_t kRecordBytes = 200;
constexpr size_t kTotalBytes = 256u << 20;

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
    // The records are the codec benchmark's corpus lines, in order and wrapping around: 8 MiB
    // of distinct lines, so a codec meets the same data here as in BM_Codec.
    std::vector<std::string_view> lines;
    std::string_view corpus = Corpus();
    for (size_t at = 0; at < corpus.size();) {
      size_t nl = corpus.find('\n', at);
      lines.push_back(corpus.substr(at, nl - at));
      at = nl + 1;
    }
    std::vector<std::string> keys;
    for (int i = 0; i < 500; ++i) keys.push_back("key-" + std::to_string(i));
    std::vector<broker::PutRecordIn> in(500);
    std::vector<broker::PutRecordOut> out;
    size_t next = 0;
    for (size_t bytes = 0; bytes < kTotalBytes; bytes += 500 * (kRecordBytes - 1)) {
      for (int i = 0; i < 500; ++i) in[i] = {keys[i], lines[next++ % lines.size()], std::nullopt};
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

double CpuSeconds(int who) {
  rusage ru;
  getrusage(who, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// The delivery stream's CPU: the process's (all threads) less this thread's, which only polls
// for the end of the run, plus its plugin children's (isolation: process) once they are reaped.
double DeliveryCpuSeconds() {
  return CpuSeconds(RUSAGE_SELF) - CpuSeconds(RUSAGE_THREAD) + CpuSeconds(RUSAGE_CHILDREN);
}

// The delivery stream's CPU (all its threads) per GB of records is reported as cpu_s_per_GB.
// `isolation`: where the sink runs; a child process is this binary run as `plugin-host --fd N`
// (see main), as the daemon runs itself.
void BM_Pipeline(benchmark::State& state, const char* sink, Compression c, bool encrypt = false,
                 Isolation isolation = Isolation::kInProcess) {
  Fixture& f = Shared();
  PluginHost host({SLUICE_PLUGIN_DIR});
  static int run = 0;  // benchmark calls this function more than once: names must not repeat
  double cpu = 0;
  for (auto _ : state) {
    double cpu0 = DeliveryCpuSeconds();
    DeliveryOptions o;
    o.name = std::string("bench-") + sink + "-" + std::to_string(::getpid()) + "-" +
             std::to_string(run++) + "-" + std::to_string(static_cast<int>(c));
    o.stream = "bench";
    o.record_delimiter = "\n";
    o.compression = c;
    o.buffer_interval = std::chrono::milliseconds(900000);
    o.sink.type = sink;
    o.sink.isolation = isolation;
    o.buffer_size = 5u << 20;  // 5 MiB objects (the sinks' default, said here)
    if (encrypt) {
      std::filesystem::path keyring = f.root / "keyring";
      if (!std::filesystem::exists(keyring)) {
        std::ofstream(keyring) << "bench " << std::string(43, 'A') << "=\n";
        std::filesystem::permissions(
            keyring, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
      }
      o.encryption_keyring = keyring.string();
      o.encryption_key_id = "bench";
    }
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
    // Starting a delivery (for isolation: process, a child: about 9 ms, once per delivery and
    // restart) is not part of its throughput: timed from the first read to the last delivery.
    state.PauseTiming();
    auto ds = DeliveryStream::Create(o, f.stream, &host, f.root / "state" / o.name, Clock::Real());
    state.ResumeTiming();
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
    ds->reset();  // a plugin child ends here: its CPU is counted once it is reaped
    state.PauseTiming();
    while (PluginChildrenExiting() > 0) std::this_thread::sleep_for(std::chrono::microseconds(100));
    cpu += DeliveryCpuSeconds() - cpu0;
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
BENCHMARK_CAPTURE(BM_Pipeline, blackhole_none_process, "blackhole", Compression::kNone, false,
                  Isolation::kProcess)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Pipeline, file_none_process, "file", Compression::kNone, false,
                  Isolation::kProcess)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Pipeline, blackhole_gzip_process, "blackhole", Compression::kGzip, false,
                  Isolation::kProcess)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Pipeline, file_gzip_process, "file", Compression::kGzip, false,
                  Isolation::kProcess)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Pipeline, file_gzip, "file", Compression::kGzip)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Pipeline, file_snappy, "file", Compression::kSnappy)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Pipeline, file_aes_gcm, "file", Compression::kNone, true)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The part of every pipeline that is the broker's: reading the whole stream (both shards) with
// the delivery's read size (5 MiB), the segment bytes in the page cache. pread, CRC32C of every
// frame, frame decoding; nothing is buffered or sent. This thread's CPU per GB.
void BM_BrokerRead(benchmark::State& state) {
  Fixture& f = Shared();
  broker::ReadBatch rb;
  broker::ReadLimits limits;
  limits.max_bytes = 5 << 20;
  double cpu = 0;
  for (auto _ : state) {
    double cpu0 = CpuSeconds(RUSAGE_THREAD);
    uint64_t records = 0;
    for (uint32_t shard = 0; shard < 2; ++shard) {
      uint64_t from = 0;
      do {
        if (!f.stream->Read(shard, from, limits, &rb).ok()) state.SkipWithError("read failed");
        records += rb.records.size();
        from = rb.next_offset;
      } while (!rb.records.empty());
    }
    if (records != f.records) state.SkipWithError("records missing");
    cpu += CpuSeconds(RUSAGE_THREAD) - cpu0;
  }
  double bytes = static_cast<double>(state.iterations() * f.records * (kRecordBytes - 1));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["cpu_s_per_GB"] = cpu / (bytes / 1e9);
}
BENCHMARK(BM_BrokerRead)->UseRealTime()->Unit(benchmark::kMillisecond);

// Stock tools on the same records (newline-framed, as the pipelines deliver them), for scale:
// `gzip -1` and `openssl enc` (AES-256-CTR: `enc` has no GCM mode). MB/s per CPU second of the
// child process; the file is in the page cache.
void BM_Tool(benchmark::State& state, const char* command) {
  Fixture& f = Shared();
  std::filesystem::path input = f.root / "records.txt";
  if (!std::filesystem::exists(input)) {
    std::ofstream out(input, std::ios::binary);
    broker::ReadBatch rb;
    for (uint32_t shard = 0; shard < 2; ++shard) {
      for (uint64_t off = 0;;) {
        if (!f.stream->Read(shard, off, broker::ReadLimits{}, &rb).ok() || rb.records.empty()) {
          break;
        }
        for (const auto& r : rb.records) out << r.data << '\n';
        off = rb.next_offset;
      }
    }
  }
  std::string cmd = std::string(command) + " < " + input.string() + " > /dev/null";
  double cpu = 0;
  for (auto _ : state) {
    rusage before, after;
    getrusage(RUSAGE_CHILDREN, &before);
    if (std::system(cmd.c_str()) != 0) {
      state.SkipWithError(("failed: " + cmd).c_str());
      return;
    }
    getrusage(RUSAGE_CHILDREN, &after);
    auto secs = [](const rusage& r) {
      return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
             static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
    };
    cpu += secs(after) - secs(before);
  }
  double bytes = static_cast<double>(state.iterations()) *
                 static_cast<double>(std::filesystem::file_size(input));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["cpu_s_per_GB"] = cpu / (bytes / 1e9);
}
BENCHMARK_CAPTURE(BM_Tool, gzip_1, "gzip -1 -c")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Tool, openssl_aes_256_ctr,
                  "openssl enc -aes-256-ctr -K "
                  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f -iv "
                  "000102030405060708090a0b0c0d0e0f")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sluice::buffer

// The benchmark, or (`plugin-host --fd N`) the child process of a sink under isolation: process.
int main(int argc, char** argv) {
  if (argc == 4 && std::string_view(argv[1]) == "plugin-host") {
    return sluice::buffer::PluginChildMain(std::atoi(argv[3]));
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
