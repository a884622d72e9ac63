// Tailing throughput: one generated access log (~200-byte lines) tailed into a real broker
// stream (fsync: interval, group-committed every 100 ms on the broker's maintenance thread as the
// daemon does; and fsync: never),
// beside `cat FILE > /dev/null` on the same file in the same run.
//
//   SLUICE_BENCH_BYTES=1073741824 SLUICE_BENCH_DIR=/var/tmp ./sluice_tail_bench
//   SLUICE_BENCH_FILE=access.log ./sluice_tail_bench     (tail an existing file)
//
// Reports MB/s and lines/s (as bytes/items per second), CPU seconds per GB and peak RSS.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "agent/tail/flow.h"
#include "broker/broker.h"
#include "broker/maintenance.h"
#include "core/clock.h"

namespace sluice::agent {
namespace {

namespace fs = std::filesystem;

struct Input {
  fs::path dir;
  fs::path file;
  uint64_t bytes = 0;
  uint64_t lines = 0;
};

const Input& GetInput() {
  static Input in = [] {
    Input i;
    const char* base = std::getenv("SLUICE_BENCH_DIR");
    i.dir = fs::path(base ? base : fs::temp_directory_path().c_str()) /
            ("sluice_tail_bench_" + std::to_string(getpid()));
    fs::remove_all(i.dir);
    fs::create_directories(i.dir / "logs");
    i.file = i.dir / "logs" / "access.log";
    if (const char* given = std::getenv("SLUICE_BENCH_FILE")) {
      // An existing file instead of a generated one (e.g. to profile the tailer alone).
      fs::create_symlink(fs::absolute(given), i.file);
      std::ifstream f(given, std::ios::binary);
      std::string block(1 << 20, '\0');
      while (f.read(block.data(), static_cast<std::streamsize>(block.size())) || f.gcount() > 0) {
        std::string_view v(block.data(), static_cast<size_t>(f.gcount()));
        i.bytes += v.size();
        i.lines += static_cast<uint64_t>(std::count(v.begin(), v.end(), '\n'));
      }
      return i;
    }
    const char* env = std::getenv("SLUICE_BENCH_BYTES");
    uint64_t want = env ? std::strtoull(env, nullptr, 10) : (1ull << 30);
    std::ofstream out(i.file, std::ios::binary);
    std::string buf;
    char line[512];
    uint64_t n = 0;
    while (i.bytes < want) {
      int len =
          std::snprintf(line, sizeof(line),
                        "10.%u.%u.%u - user%llu [22/Nov/2026:04:%02u:%02u +0000] \"GET "
                        "/api/v1/items/%llu?page=%u "
                        "HTTP/1.1\" %u %u \"https://example.com/\" \"Mozilla/5.0 (X11; Linux "
                        "x86_64) AppleWebKit/537.36 (KHTML, like Gecko)\"\n",
                        static_cast<unsigned>(n % 256), static_cast<unsigned>((n / 256) % 256),
                        static_cast<unsigned>(n % 251), static_cast<unsigned long long>(n % 1000),
                        static_cast<unsigned>(n / 60 % 60), static_cast<unsigned>(n % 60),
                        static_cast<unsigned long long>(n), static_cast<unsigned>(n % 97),
                        n % 10 == 0 ? 404u : 200u, static_cast<unsigned>(100 + n % 5000));
      buf.append(line, static_cast<size_t>(len));
      i.bytes += static_cast<uint64_t>(len);
      ++n;
      if (buf.size() > (4u << 20)) {
        out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
        buf.clear();
      }
    }
    out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
    i.lines = n;
    return i;
  }();
  return in;
}

double CpuSeconds() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double PeakRssMiB() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

void BM_Cat(benchmark::State& state) {
  const Input& in = GetInput();
  std::string cmd = "cat '" + in.file.string() + "' > /dev/null";
  for (auto _ : state) {
    if (std::system(cmd.c_str()) != 0) state.SkipWithError("cat failed");
  }
  state.SetBytesProcessed(static_cast<int64_t>(in.bytes * state.iterations()));
  state.SetItemsProcessed(static_cast<int64_t>(in.lines * state.iterations()));
}

void BM_TailIntoBroker(benchmark::State& state) {
  const Input& in = GetInput();
  double cpu = 0;
  for (auto _ : state) {
    state.PauseTiming();
    fs::remove_all(in.dir / "data");
    fs::remove_all(in.dir / "cp");
    broker::BrokerOptions bo;
    bo.data_dir = in.dir / "data";
    auto b = broker::Broker::Open(bo);
    if (!b.ok()) {
      state.SkipWithError(b.status().ToString().c_str());
      return;
    }
    broker::StreamOptions so;
    so.name = "bench";
    const bool random_keys = state.range(1) == 1;
    so.shards = random_keys ? 2 : 1;
    so.fsync = state.range(0) == 0 ? broker::FsyncPolicy::kInterval : broker::FsyncPolicy::kNever;
    so.fsync_interval = std::chrono::milliseconds(100);
    auto stream = (*b)->CreateStream(so);
    uv_loop_t loop;
    uv_loop_init(&loop);
    FlowOptions o;
    o.name = "bench";
    o.paths = {(in.dir / "logs" / "*.log").string()};
    o.stream = "bench";
    o.initial_position = InitialPosition::kStartOfFile;
    o.partition_key = random_keys ? PartitionKeyKind::kRandom : PartitionKeyKind::kFile;
    auto flow = Flow::Create(&loop, o, *stream, in.dir / "cp", Clock::Real());
    if (!flow.ok()) {
      state.SkipWithError(flow.status().ToString().c_str());
      return;
    }
    struct Ctx {
      Flow* flow;
      broker::Broker* broker;
      uint64_t lines;
    } ctx{flow->get(), b->get(), in.lines};
    uv_timer_t timer;
    uv_timer_init(&loop, &timer);
    timer.data = &ctx;
    double cpu0 = CpuSeconds();
    state.ResumeTiming();
    // Group commit and retention off the loop, as in the daemon.
    auto maintenance = broker::MaintenanceThread::Start(b->get());
    if (!(*flow)->Start().ok()) state.SkipWithError("start failed");
    // A check for the end of the run.
    uv_timer_start(
        &timer,
        [](uv_timer_t* t) {
          auto* c = static_cast<Ctx*>(t->data);
          if (c->flow->stats().records_put >= c->lines) uv_stop(t->loop);
        },
        5, 5);
    uv_run(&loop, UV_RUN_DEFAULT);
    maintenance->Stop();
    state.PauseTiming();
    cpu += CpuSeconds() - cpu0;
    FlowStats s = (*flow)->stats();
    state.counters["records_put"] = static_cast<double>(s.records_put);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
    (*flow)->Stop([] {});
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) state.SkipWithError("loop not closed");
    flow->reset();
    b->reset();
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<int64_t>(in.bytes * state.iterations()));
  state.SetItemsProcessed(static_cast<int64_t>(in.lines * state.iterations()));
  state.counters["cpu_s_per_GB"] =
      cpu / static_cast<double>(state.iterations()) / (static_cast<double>(in.bytes) / 1e9);
  state.counters["peak_rss_MiB"] = PeakRssMiB();
  state.counters["file_MB"] = static_cast<double>(in.bytes) / 1e6;
}

// Discovery of 10,000 files in 100 nested directories (Start: globbing, identity, watches), then
// idle CPU while nothing is written, over SLUICE_BENCH_IDLE_MS (default 5000) of loop time.
void BM_Discover10kThenIdle(benchmark::State& state) {
  const Input& in = GetInput();
  fs::path root = in.dir / "many";
  for (int d = 0; d < 100; ++d) {
    fs::path sub = root / (std::string("app").append(std::to_string(d))) / "logs";
    fs::create_directories(sub);
    for (int f = 0; f < 100; ++f)
      std::ofstream(sub / std::string("f").append(std::to_string(f)).append(".log")) << "x\n";
  }
  const char* idle_env = std::getenv("SLUICE_BENCH_IDLE_MS");
  const uint64_t idle_ms = idle_env ? std::strtoull(idle_env, nullptr, 10) : 5000;
  double idle_cpu_pct = 0;
  uint64_t files = 0;
  for (auto _ : state) {
    state.PauseTiming();
    fs::remove_all(in.dir / "data2");
    fs::remove_all(in.dir / "cp2");
    broker::BrokerOptions bo;
    bo.data_dir = in.dir / "data2";
    auto b = broker::Broker::Open(bo);
    broker::StreamOptions so;
    so.name = "many";
    auto stream = (*b)->CreateStream(so);
    uv_loop_t loop;
    uv_loop_init(&loop);
    FlowOptions o;
    o.name = "many";
    o.paths = {(root / "**" / "*.log").string()};
    o.stream = "many";
    o.initial_position = InitialPosition::kStartOfFile;
    o.max_open_files = 20000;
    auto flow = Flow::Create(&loop, o, *stream, in.dir / "cp2", Clock::Real());
    state.ResumeTiming();
    if (!(*flow)->Start().ok()) state.SkipWithError("start failed");
    state.PauseTiming();
    files = (*flow)->stats().files_tracked;
    // Let the first pass read the 10,000 lines, then measure a quiet loop.
    uv_timer_t timer;
    uv_timer_init(&loop, &timer);
    uv_timer_start(
        &timer, [](uv_timer_t* t) { uv_stop(t->loop); }, 1000, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    double cpu0 = CpuSeconds();
    uv_timer_start(
        &timer, [](uv_timer_t* t) { uv_stop(t->loop); }, idle_ms, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    idle_cpu_pct = (CpuSeconds() - cpu0) / (static_cast<double>(idle_ms) / 1000.0) * 100.0;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
    (*flow)->Stop([] {});
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) state.SkipWithError("loop not closed");
    flow->reset();
    b->reset();
    state.ResumeTiming();
  }
  state.counters["files"] = static_cast<double>(files);
  state.counters["idle_cpu_pct"] = idle_cpu_pct;
}

BENCHMARK(BM_Cat)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);
// First arg 0: fsync interval (100 ms group commit); 1: fsync never (the tailer's own cost).
// Second arg 0: partition_key file, one shard; 1: partition_key random over two shards.
BENCHMARK(BM_TailIntoBroker)
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({0, 1})
    ->Args({1, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(2);
BENCHMARK(BM_Discover10kThenIdle)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace
}  // namespace sluice::agent

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  const auto& in = sluice::agent::GetInput();
  std::filesystem::remove_all(in.dir);
  return 0;
}
