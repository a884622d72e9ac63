// Syslog over TCP: 1,000,000 RFC 5424 messages (~130 bytes, octet-counted) sent over 4
// connections by 4 client threads, into the syslog source (format: rfc5424, parsed into JSON)
// on a libuv loop, put into a real broker stream (2 shards, fsync: interval 100 ms, group commit
// on the maintenance thread as the daemon does).
//
//   SLUICE_BENCH_MESSAGES=1000000 SLUICE_BENCH_DIR=/var/tmp ./sluice_syslog_bench
//
// Reports messages/s (items per second) and the CPU seconds of the daemon side (the loop and
// the broker's maintenance thread: the process's CPU less the client threads' own), per run and
// per million messages.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "agent/input/input_source.h"
#include "broker/broker.h"
#include "broker/maintenance.h"
#include "core/clock.h"

namespace sluice::agent {
namespace {

namespace fs = std::filesystem;
constexpr int kConnections = 4;

double CpuSeconds(int who) {
  struct rusage ru;
  getrusage(who, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

uint64_t Messages() {
  const char* env = std::getenv("SLUICE_BENCH_MESSAGES");
  return env ? std::strtoull(env, nullptr, 10) : 1000000;
}

// A loopback port free now (bound to 0, read back, closed): the source is told it in advance.
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    return -1;
  }
  close(fd);
  return ntohs(a.sin_port);
}

// The octet-counted messages of connection `c`: every kConnections-th of `total`.
std::string Payload(int c, uint64_t total) {
  std::string out;
  char msg[256];
  for (uint64_t i = static_cast<uint64_t>(c); i < total; i += kConnections) {
    int len = std::snprintf(msg, sizeof msg,
                            "<165>1 2026-11-22T04:%02u:%02u.%03uZ host%d.example.com app %llu "
                            "ID47 - user %llu fetched /api/v1/items/%llu in %u ms",
                            static_cast<unsigned>(i / 60 % 60), static_cast<unsigned>(i % 60),
                            static_cast<unsigned>(i % 1000), c,
                            static_cast<unsigned long long>(1000 + i % 30000),
                            static_cast<unsigned long long>(i % 1000),
                            static_cast<unsigned long long>(i), static_cast<unsigned>(i % 500));
    out += std::to_string(len);
    out += ' ';
    out.append(msg, static_cast<size_t>(len));
  }
  return out;
}

// Connects to the source (retrying until it listens), writes `data`, closes; adds its own CPU
// time to `*cpu`.
void Send(int port, const std::string& data, std::atomic<double>* cpu) {
  int fd = -1;
  for (int attempt = 0; attempt < 2000; ++attempt) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) break;
    close(fd);
    fd = -1;
    usleep(1000);  // the loop thread has not bound yet (startup only)
  }
  if (fd < 0) return;
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  close(fd);
  double mine = CpuSeconds(RUSAGE_THREAD), seen = cpu->load();
  while (!cpu->compare_exchange_weak(seen, seen + mine)) {
  }
}

void BM_SyslogTcpIntoBroker(benchmark::State& state) {
  const uint64_t total = Messages();
  const char* base = std::getenv("SLUICE_BENCH_DIR");
  const fs::path dir = fs::path(base ? base : fs::temp_directory_path().c_str()) /
                       ("sluice_syslog_bench_" + std::to_string(getpid()));
  std::vector<std::string> payloads;
  uint64_t bytes = 0;
  for (int c = 0; c < kConnections; ++c) {
    payloads.push_back(Payload(c, total));
    bytes += payloads.back().size();
  }
  double daemon_cpu = 0;
  for (auto _ : state) {
    state.PauseTiming();
    fs::remove_all(dir);
    broker::BrokerOptions bo;
    bo.data_dir = dir / "data";
    auto b = broker::Broker::Open(bo);
    if (!b.ok()) {
      state.SkipWithError(b.status().ToString().c_str());
      return;
    }
    broker::StreamOptions so;
    so.name = "bench";
    so.shards = 2;
    so.fsync = broker::FsyncPolicy::kInterval;
    so.fsync_interval = std::chrono::milliseconds(100);
    auto stream = (*b)->CreateStream(so);
    const int port = FreePort();
    uv_loop_t loop;
    uv_loop_init(&loop);
    FlowOptions o;
    o.name = "bench";
    o.type = SourceType::kSyslog;
    o.syslog.listen = "tcp://127.0.0.1:" + std::to_string(port);
    o.syslog.format = SyslogOptions::Format::kRfc5424;
    o.stream = "bench";
    auto source = CreateInputSource(&loop, o, *stream, dir / "cp", Clock::Real());
    if (!source.ok()) {
      state.SkipWithError(source.status().ToString().c_str());
      return;
    }
    struct Ctx {
      Source* source;
      uint64_t total;
    } ctx{source->get(), total};
    uv_timer_t timer;
    uv_timer_init(&loop, &timer);
    timer.data = &ctx;
    const double cpu0 = CpuSeconds(RUSAGE_SELF);
    std::atomic<double> client_cpu{0};
    state.ResumeTiming();
    auto maintenance = broker::MaintenanceThread::Start(b->get());
    if (Status st = (*source)->Start(); !st.ok()) {
      state.SkipWithError(st.ToString().c_str());
      return;
    }
    std::vector<std::thread> clients;
    for (int c = 0; c < kConnections; ++c) {
      clients.emplace_back(Send, port, std::cref(payloads[static_cast<size_t>(c)]), &client_cpu);
    }
    uv_timer_start(
        &timer,
        [](uv_timer_t* t) {
          auto* c = static_cast<Ctx*>(t->data);
          if (c->source->stats().records_put >= c->total) uv_stop(t->loop);
        },
        5, 5);
    uv_run(&loop, UV_RUN_DEFAULT);
    maintenance->Stop();
    state.PauseTiming();
    for (std::thread& t : clients) t.join();
    daemon_cpu += CpuSeconds(RUSAGE_SELF) - cpu0 - client_cpu.load();
    FlowStats s = (*source)->stats();
    state.counters["records_put"] = static_cast<double>(s.records_put);
    state.counters["parse_failures"] = static_cast<double>(s.parse_failures);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
    (*source)->Stop([] {});
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) state.SkipWithError("loop not closed");
    source->reset();
    b->reset();
    state.ResumeTiming();
  }
  fs::remove_all(dir);
  const double runs = static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<int64_t>(total * state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes * state.iterations()));
  state.counters["cpu_s"] = daemon_cpu / runs;
  state.counters["cpu_s_per_M_msgs"] = daemon_cpu / runs / (static_cast<double>(total) / 1e6);
}

BENCHMARK(BM_SyslogTcpIntoBroker)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

}  // namespace
}  // namespace sluice::agent

BENCHMARK_MAIN();
