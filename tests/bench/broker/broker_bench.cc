// Broker throughput and latency: appends of 100 B / 1 KiB / 10 KiB records in batches of 500
// (fsync: interval, group commit on the daemon's timer), reads from the page cache, and
// put-to-visible latency; the sealed variants on an encrypted stream (broker/FORMAT.md). Data goes
// to a temporary directory under $TMPDIR, removed at exit.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "broker/broker.h"

namespace sluice::broker {
namespace {

struct BenchDir {
  BenchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-bench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path = tmpl;
  }
  ~BenchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::filesystem::path path;
};

std::unique_ptr<Broker> OpenBroker(const BenchDir& dir) {
  BrokerOptions o;
  o.data_dir = dir.path;
  // A master key for the sealed (encrypted) variants; the plain ones do not use it.
  auto ring = Keyring::Parse("bench " + std::string(43, 'A') + "=\n", "bench keyring");
  if (!ring.ok()) std::abort();
  o.keyring = std::make_shared<const Keyring>(std::move(*ring));
  auto b = Broker::Open(o);
  if (!b.ok()) std::abort();
  return std::move(*b);
}

Stream* MakeStream(Broker* b, const std::string& name, int shards, bool sealed = false) {
  StreamOptions so;
  so.name = name;
  so.shards = shards;
  so.fsync = FsyncPolicy::kInterval;
  so.encryption.enabled = sealed;
  auto s = b->CreateStream(so);
  if (!s.ok()) std::abort();
  return *s;
}

void BM_Append(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  const int shards = static_cast<int>(state.range(1));
  BenchDir dir;
  auto broker = OpenBroker(dir);
  Stream* s = MakeStream(broker.get(), "bench", shards, state.range(2) != 0);
  std::string data(size, 'x');
  std::vector<std::string> keys;
  for (int i = 0; i < 500; ++i) keys.push_back("partition-" + std::to_string(i));
  std::vector<PutRecordIn> batch;
  for (int i = 0; i < 500; ++i) batch.push_back({keys[i], data, std::nullopt});
  std::vector<PutRecordOut> out;
  // The daemon's group-commit timer, off the appending thread: fdatasync every 100 ms.
  std::atomic<bool> stop{false};
  std::thread syncer([&] {
    while (!stop.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      (void)broker->SyncDue();
    }
  });
  for (auto _ : state) {
    if (!s->PutBatch(batch, &out).ok() || !out.back().status.ok()) {
      state.SkipWithError("put failed");
      break;
    }
  }
  stop = true;
  syncer.join();
  (void)s->Sync();
  state.SetItemsProcessed(state.iterations() * 500);
  state.SetBytesProcessed(state.iterations() * 500 * static_cast<int64_t>(size));
}
BENCHMARK(BM_Append)
    ->ArgNames({"bytes", "shards", "sealed"})
    ->Args({100, 1, 0})
    ->Args({1024, 1, 0})
    ->Args({10240, 1, 0})
    ->Args({100, 4, 0})
    ->Args({100, 1, 1})
    ->Args({1024, 1, 1})
    ->Args({10240, 1, 1})
    ->MinTime(2.0)
    ->UseRealTime();

void BM_Read(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  BenchDir dir;
  auto broker = OpenBroker(dir);
  Stream* s = MakeStream(broker.get(), "bench", 1, state.range(1) != 0);
  std::string data(size, 'r');
  std::vector<PutRecordIn> batch(500, PutRecordIn{"pk", data, std::nullopt});
  std::vector<PutRecordOut> out;
  const size_t total = size_t{256} << 20;  // 256 MiB, kept in the page cache
  for (size_t put = 0; put < total; put += 500 * size) (void)s->PutBatch(batch, &out);
  const uint64_t end = *s->EndOffset(0);
  ReadBatch b;
  uint64_t from = 0;
  int64_t bytes = 0, records = 0;
  for (auto _ : state) {
    if (!s->Read(0, from, ReadLimits{}, &b).ok()) {
      state.SkipWithError("read failed");
      break;
    }
    for (const auto& r : b.records) bytes += static_cast<int64_t>(r.data.size());
    records += static_cast<int64_t>(b.records.size());
    from = b.next_offset >= end ? 0 : b.next_offset;
  }
  state.SetItemsProcessed(records);
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_Read)
    ->ArgNames({"bytes", "sealed"})
    ->Args({100, 0})
    ->Args({1024, 0})
    ->Args({10240, 0})
    ->Args({100, 1})
    ->Args({1024, 1})
    ->Args({10240, 1})
    ->MinTime(2.0)
    ->UseRealTime();

// Put-to-visible: a reader blocked in WaitForData sees each single-record put; percentiles of
// the time from the start of PutBatch to the reader holding the record.
void BM_PutToVisible(benchmark::State& state) {
  BenchDir dir;
  auto broker = OpenBroker(dir);
  Stream* s = MakeStream(broker.get(), "bench", 1);
  std::string data(100, 'l');
  PutRecordIn in{"pk", data, std::nullopt};
  std::vector<PutRecordOut> out;
  std::vector<double> lat_us;
  std::atomic<int64_t> put_start_ns{0};
  std::atomic<uint64_t> seen{0};
  std::atomic<bool> stop{false};
  std::vector<int64_t> reader_lat;
  reader_lat.reserve(1 << 20);
  std::thread reader([&] {
    ReadBatch b;
    uint64_t next = 0;
    while (!stop.load()) {
      if (!s->WaitForData(0, next, std::chrono::milliseconds(50))) continue;
      if (!s->Read(0, next, ReadLimits{}, &b).ok() || b.records.empty()) continue;
      int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count();
      reader_lat.push_back(now - put_start_ns.load());
      next = b.next_offset;
      seen.store(next);
    }
  });
  uint64_t n = 0;
  for (auto _ : state) {
    put_start_ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::steady_clock::now().time_since_epoch())
                           .count());
    (void)s->PutBatch({&in, 1}, &out);
    ++n;
    while (seen.load() < n) {
    }
  }
  stop = true;
  reader.join();
  std::sort(reader_lat.begin(), reader_lat.end());
  if (!reader_lat.empty()) {
    state.counters["p50_us"] = static_cast<double>(reader_lat[reader_lat.size() / 2]) / 1000.0;
    state.counters["p99_us"] =
        static_cast<double>(reader_lat[reader_lat.size() * 99 / 100]) / 1000.0;
  }
}
BENCHMARK(BM_PutToVisible)->Iterations(20000)->UseRealTime();

}  // namespace
}  // namespace sluice::broker

BENCHMARK_MAIN();
