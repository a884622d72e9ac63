// Delivery from Kafka: a topic of 64 partitions in librdkafka's mock cluster (the real protocol,
// served by the kafka_mock_cluster helper in its own process), filled with 200-byte records, read
// by deliveries with a kafka source into the blackhole sink.
//   /1: one instance reads all 64 partitions.
//   /2: two instances in one consumer group share them (as two machines would; here both are in
//       this process, so their CPU per GB, not their wall clock, says what a second machine adds).
// Timed from the group's first assignment (the mock's 3 s join delay is not throughput) to the
// last record delivered. cpu_s_per_GB: this process's CPU (consumers, engine, sink; not the
// cluster's) per GB of record values. Records: SLUICE_BENCH_KAFKA_RECORDS (default 1,280,000;
// the mock keeps about 5 MiB per partition).
// Run: sluice_kafka_source_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "buffer/delivery_stream.h"
#include "buffer/kafka_source.h"

extern char** environ;

namespace sluice::buffer {
namespace {

constexpr size_t kValueBytes = 200;
// The mock cluster keeps about 5 MiB per partition (older records expire): 64 partitions of
// 20,000 records each by default.
constexpr int kPartitions = 64;

double CpuSeconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// A figure of /proc/self/status in MiB: VmHWM (peak RSS since ResetPeakRss), VmRSS.
double StatusMiB(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(field);
  while (std::getline(status, line)) {
    if (line.compare(0, n, field) == 0) return std::strtod(line.c_str() + n, nullptr) / 1024.0;
  }
  return 0;
}

// Starts VmHWM again from the current RSS (the producer that filled the topic is not counted).
void ResetPeakRss() { std::ofstream("/proc/self/clear_refs") << "5"; }

uint64_t RecordCount() {
  const char* n = std::getenv("SLUICE_BENCH_KAFKA_RECORDS");
  return n != nullptr ? std::strtoull(n, nullptr, 10) : 64 * 20'000;
}

// The mock cluster in a child process, with the topic filled.
struct Cluster {
  pid_t pid = -1;
  int in = -1;  // its stdin: it serves until this closes
  std::string bootstrap;
  uint64_t records = RecordCount();

  Cluster() {
    int to[2], from[2];
    if (pipe(to) != 0 || pipe(from) != 0) std::abort();
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, to[0], 0);
    posix_spawn_file_actions_adddup2(&fa, from[1], 1);
    posix_spawn_file_actions_addclose(&fa, to[1]);
    posix_spawn_file_actions_addclose(&fa, from[0]);
    std::string parts = std::to_string(kPartitions);
    const char* argv[] = {SLUICE_KAFKA_MOCK_CLUSTER, "bench", parts.c_str(), "1", nullptr};
    if (posix_spawn(&pid, argv[0], &fa, nullptr, const_cast<char**>(argv), environ) != 0) {
      std::abort();
    }
    posix_spawn_file_actions_destroy(&fa);
    close(to[0]);
    close(from[1]);
    in = to[1];
    FILE* out = fdopen(from[0], "r");
    char line[4096];
    if (fgets(line, sizeof line, out) == nullptr || std::strncmp(line, "BOOTSTRAP ", 10) != 0) {
      std::abort();
    }
    bootstrap = std::string(line + 10);
    while (!bootstrap.empty() && (bootstrap.back() == '\n' || bootstrap.back() == '\r')) {
      bootstrap.pop_back();
    }
    Fill();
  }
  ~Cluster() {
    close(in);
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
  }

  void Fill() {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "20", err, sizeof err);
    rd_kafka_conf_set(conf, "batch.size", "1000000", err, sizeof err);
    rd_kafka_conf_set(conf, "queue.buffering.max.kbytes", "1048576", err, sizeof err);
    rd_kafka_t* p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (p == nullptr) std::abort();
    std::string value(kValueBytes, 'x');
    for (uint64_t i = 0; i < records; ++i) {
      std::string head = "10.0.0." + std::to_string(i % 256) + " GET /api/v1/items/" +
                         std::to_string(i) + " HTTP/1.1 200 ";
      value.replace(0, head.size(), head);
      for (;;) {
        rd_kafka_resp_err_t e =
            rd_kafka_producev(p, RD_KAFKA_V_TOPIC("bench"),
                              RD_KAFKA_V_PARTITION(static_cast<int32_t>(i * kPartitions / records)),
                              RD_KAFKA_V_VALUE(value.data(), value.size()),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) std::abort();
        rd_kafka_poll(p, 10);
      }
    }
    if (rd_kafka_flush(p, 120000) != RD_KAFKA_RESP_ERR_NO_ERROR) std::abort();
    rd_kafka_destroy(p);
  }
};

Cluster& Shared() {
  static Cluster c;
  return c;
}

void BM_KafkaSource(benchmark::State& state) {
  Cluster& c = Shared();
  const int instances = static_cast<int>(state.range(0));
  PluginHost host({SLUICE_PLUGIN_DIR});
  const auto root =
      std::filesystem::temp_directory_path() / ("sluice-kafka-bench-" + std::to_string(::getpid()));
  static int run = 0;
  double cpu = 0;
  uint64_t read = 0, objects = 0;
  double read_seconds = 0, peak_rss = 0;
  for (auto _ : state) {
    const std::string group = "bench-" + std::to_string(run++);
    ResetPeakRss();
    const double base_rss = StatusMiB("VmRSS:");
    std::vector<std::unique_ptr<DeliveryStream>> ds;
    for (int i = 0; i < instances; ++i) {
      DeliveryOptions o;
      o.name = "kafka-bench";
      o.kafka.emplace();
      o.kafka->brokers = c.bootstrap;
      o.kafka->topics = {"bench"};
      o.kafka->group = group;
      if (const char* props = std::getenv("SLUICE_BENCH_KAFKA_PROPERTIES")) {
        // "key=value,key=value": librdkafka consumer properties to try.
        std::string all = props;
        for (size_t at = 0; at < all.size();) {
          size_t comma = all.find(',', at);
          std::string kv =
              all.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
          size_t eq = kv.find('=');
          if (eq != std::string::npos)
            o.kafka->properties.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
          at = comma == std::string::npos ? all.size() : comma + 1;
        }
      }
      o.record_delimiter = "\n";
      o.buffer_interval = std::chrono::milliseconds(1000);
      o.buffer_size = 5u << 20;
      o.sink.type = "blackhole";
      auto d = DeliveryStream::Create(o, std::make_unique<KafkaSource>(*o.kafka, 64u << 20), &host,
                                      root / (group + "-" + std::to_string(i)), Clock::Real());
      if (!d.ok()) {
        state.SkipWithError(d.status().ToString().c_str());
        return;
      }
      ds.push_back(std::move(*d));
    }
    for (auto& d : ds) (void)d->Start();
    // The group's join (the mock delays the first one 3 s) is not throughput.
    auto assigned = [&] {
      size_t n = 0;
      for (auto& d : ds) n += d->stats().source.shards.size();
      return n == kPartitions;
    };
    while (!assigned()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    auto t0 = std::chrono::steady_clock::now();
    double cpu0 = CpuSeconds();
    auto delivered = [&] {
      uint64_t n = 0;
      for (auto& d : ds) n += d->stats().records_delivered;
      return n;
    };
    auto deadline = t0 + std::chrono::seconds(300);
    double read_s = 0;
    while (delivered() < c.records && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(500));
      if (read_s == 0) {
        uint64_t in = 0;
        for (auto& d : ds) in += d->stats().records_in;
        if (in >= c.records) {
          read_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        }
      }
    }
    read_seconds += read_s;
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    cpu += CpuSeconds() - cpu0;
    uint64_t got = delivered();
    for (auto& d : ds) read += d->stats().records_in;
    for (auto& d : ds) objects += d->stats().objects_delivered;
    peak_rss = std::max(peak_rss, StatusMiB("VmHWM:") - base_rss);
    for (auto& d : ds) d->Stop(std::chrono::milliseconds(10000));
    ds.clear();
    state.SetIterationTime(seconds);
    if (got != c.records) {
      state.SkipWithError(
          ("delivered " + std::to_string(got) + " of " + std::to_string(c.records)).c_str());
      return;
    }
  }
  std::filesystem::remove_all(root);
  double bytes = static_cast<double>(state.iterations() * c.records * kValueBytes);
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * c.records));
  state.counters["cpu_s_per_GB"] = cpu / (bytes / 1e9);
  // When the last record was read (the rest is the last batches' buffer interval and delivery).
  state.counters["read_s"] = read_seconds / static_cast<double>(state.iterations());
  // How far the process's RSS grew while delivering (peak less the RSS before the deliveries).
  state.counters["rss_growth_MiB"] = peak_rss;
  state.counters["objects"] =
      static_cast<double>(objects) / static_cast<double>(state.iterations());
  // Records read more than once (a rebalance moving partitions with unsent batches).
  state.counters["reread"] =
      static_cast<double>(read) / static_cast<double>(state.iterations() * c.records) - 1.0;
}
BENCHMARK(BM_KafkaSource)->Arg(1)->Arg(2)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sluice::buffer

BENCHMARK_MAIN();
