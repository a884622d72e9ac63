// Transform cost per record: the same function (drop the records whose path starts with
// /health, add a field to the others) on the same 200-byte JSON records, as a lua transform in
// the process and as an exec transform (a Python child speaking the Lambda contract). The
// counter records_per_cpu_s divides the records by the CPU time of the process and of its
// children (the exec child is reaped at the end of each run, so its time is counted, start-up
// included).
// Run: sluice_transform_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "buffer/exec_transform.h"
#include "buffer/lua_transform.h"

namespace sluice::buffer {
namespace {

constexpr size_t kRecordBytes = 200;
constexpr size_t kBatchRecords = 5000;  // one 1 MiB invocation of the exec transform

constexpr const char* kLua = R"(
function filter(tag, timestamp, record)
  if record.path:sub(1, 7) == "/health" then return -1, timestamp, record end
  record.env = "prod"
  return 2, timestamp, record
end
)";

constexpr const char* kPython = R"(import base64, json, sys
for line in sys.stdin:
    event = json.loads(line)
    out = []
    for r in event["records"]:
        record = json.loads(base64.b64decode(r["data"]))
        if record["path"].startswith("/health"):
            out.append({"recordId": r["recordId"], "result": "Dropped"})
            continue
        record["env"] = "prod"
        data = json.dumps(record, separators=(",", ":")).encode()
        out.append({"recordId": r["recordId"], "result": "Ok",
                    "data": base64.b64encode(data).decode()})
    sys.stdout.write(json.dumps({"records": out}) + "\n")
    sys.stdout.flush()
)";

struct Corpus {
  std::vector<std::string> data, ids;
  std::vector<TransformIn> in;
};

const Corpus& Records() {
  static const Corpus corpus = [] {
    Corpus c;
    std::mt19937_64 rng(42);
    static const char* kPaths[] = {"/api/v1/items/", "/static/app.js?v=", "/login?u=", "/health/"};
    for (size_t i = 0; i < kBatchRecords; ++i) {
      std::string s = R"({"time":"2026-11-22T05:00:)" + std::to_string(10 + rng() % 50) +
                      R"(Z","client":"10.0.)" + std::to_string(rng() % 256) + "." +
                      std::to_string(rng() % 256) + R"(","method":"GET","path":")" +
                      kPaths[rng() % 4] + std::to_string(rng() % 100000) +
                      R"(","status":200,"bytes":)" + std::to_string(rng() % 50000) +
                      R"(,"agent":"curl/8.0","pad":")";
      s.append(kRecordBytes - s.size() - 2, 'x');
      s += "\"}";
      c.data.push_back(std::move(s));
      c.ids.push_back("0-" + std::to_string(i));
    }
    for (size_t i = 0; i < kBatchRecords; ++i) {
      c.in.push_back({c.ids[i], 1767312000000 + static_cast<int64_t>(i), c.data[i]});
    }
    return c;
  }();
  return corpus;
}

double CpuSeconds() {
  double s = 0;
  for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
    rusage ru;
    getrusage(who, &ru);
    s += static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  }
  return s;
}

template <typename MakeFn>
void RunTransform(benchmark::State& state, MakeFn make) {
  const Corpus& c = Records();
  uint64_t records = 0, kept = 0, failed = 0;
  const double cpu0 = CpuSeconds();
  {
    auto t = make();
    if (!t.ok()) {
      state.SkipWithError(t.status().message().c_str());
      return;
    }
    for (auto _ : state) {
      std::vector<TransformOut> out = (*t)->Apply(c.in);
      records += out.size();
      for (const TransformOut& o : out) {
        kept += o.result == TransformOut::Result::kOk;
        failed += o.result == TransformOut::Result::kProcessingFailed;
      }
    }
  }  // an exec child is reaped here: its CPU time joins RUSAGE_CHILDREN
  const double cpu = CpuSeconds() - cpu0;
  if (failed != 0) state.SkipWithError("records failed");
  state.SetItemsProcessed(static_cast<int64_t>(records));
  state.counters["records_per_cpu_s"] = static_cast<double>(records) / cpu;
  state.counters["kept_pct"] = 100.0 * static_cast<double>(kept) / static_cast<double>(records);
}

void BM_LuaTransform(benchmark::State& state) {
  RunTransform(state, [] {
    LuaTransformOptions o;
    o.code = kLua;
    o.call = "filter";
    return LuaTransform::Create(o, "bench");
  });
}
BENCHMARK(BM_LuaTransform)->Unit(benchmark::kMillisecond);

// The Python script, in a temporary file removed at exit.
struct ScriptFile {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("sluice_transform_bench_" + std::to_string(::getpid()) + ".py");
  ScriptFile() { std::ofstream(path) << kPython; }
  ~ScriptFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

void BM_ExecTransform(benchmark::State& state) {
  static const ScriptFile script;
  RunTransform(state, [] {
    return ExecTransform::Create({"python3", script.path.string()}, "bench",
                                 std::chrono::milliseconds(60000), 0);
  });
}
BENCHMARK(BM_ExecTransform)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sluice::buffer

BENCHMARK_MAIN();
