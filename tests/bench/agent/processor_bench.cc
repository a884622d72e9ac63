// Processing steps: records per second of each step alone and of chains, on ~200-byte JSON app
// lines and nginx combined lines (a varied set, reused in turn), in one thread. Each benchmark
// reports items/s (records per second; one thread, so records per CPU second) and bytes/s.
//
//   ./sluice_processor_bench [--benchmark_filter=Grep]
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "agent/tail/processor.h"

namespace sluice::agent {
namespace {

std::vector<std::string> JsonLines() {
  std::vector<std::string> out;
  const char* paths[] = {"/api/v1/orders", "/health", "/api/v1/users/42", "/static/app.js"};
  for (int i = 0; i < 1024; ++i) {
    out.push_back(R"({"ts":"2026-12-06T10:00:)" + std::to_string(10 + i % 50) +
                  R"(.123Z","level":"info","path":")" + paths[i % 4] + R"(","status":)" +
                  std::to_string(i % 7 == 0 ? 503 : 200) + R"(,"client_ip":"10.1.)" +
                  std::to_string(i % 250) + "." + std::to_string(i % 200) + R"(","ms":)" +
                  std::to_string(i % 97) + R"(,"user":{"id":)" + std::to_string(i) +
                  R"(,"plan":"pro"},"msg":"handled"})");
  }
  return out;
}

std::vector<std::string> NginxLines() {
  std::vector<std::string> out;
  const char* reqs[] = {"GET /api/v1/orders HTTP/1.1", "GET /health HTTP/1.1",
                        "POST /api/v1/users HTTP/1.1", "GET /static/app.js HTTP/2.0"};
  for (int i = 0; i < 1024; ++i) {
    out.push_back("10.1." + std::to_string(i % 250) + "." + std::to_string(i % 200) +
                  " - - [06/Dec/2026:10:00:" + std::to_string(10 + i % 50) + " +0000] \"" +
                  reqs[i % 4] + "\" " + std::to_string(i % 7 == 0 ? 503 : 200) + " " +
                  std::to_string(512 + i) + " \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"");
  }
  return out;
}

ProcessingStep Kind(ProcessingStep::Kind k) {
  ProcessingStep s;
  s.kind = k;
  return s;
}

ProcessingStep Grep(std::string field, std::string pattern, bool drop) {
  ProcessingStep s = Kind(ProcessingStep::Kind::kGrep);
  s.field = std::move(field);
  s.pattern = std::move(pattern);
  s.drop = drop;
  return s;
}

ProcessingStep LogToJson(std::string format) {
  ProcessingStep s = Kind(ProcessingStep::Kind::kLogToJson);
  s.log_format = std::move(format);
  return s;
}

void Run(benchmark::State& state, const std::vector<std::string>& lines,
         const std::vector<ProcessingStep>& steps) {
  auto p = Processor::Create(steps);
  if (!p.ok()) {
    state.SkipWithError(p.status().message().c_str());
    return;
  }
  RecordContext ctx{"/var/log/app.log", 0, 1796500000000, "host-1", "app"};
  size_t i = 0;
  uint64_t bytes = 0, kept = 0;
  for (auto _ : state) {
    const std::string& line = lines[i++ & 1023];
    ProcessResult r = (*p)->Process(line, ctx);
    benchmark::DoNotOptimize(r.data.data());
    bytes += line.size();
    kept += r.dropped ? 0 : 1;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["kept"] =
      benchmark::Counter(static_cast<double>(kept) / static_cast<double>(state.iterations()));
}

void BM_Json(benchmark::State& state) {
  static const auto lines = JsonLines();
  Run(state, lines, {Kind(ProcessingStep::Kind::kJson)});
}
BENCHMARK(BM_Json);

void BM_GrepField(benchmark::State& state) {
  static const auto lines = JsonLines();
  Run(state, lines, {Grep("path", "^/health", true)});
}
BENCHMARK(BM_GrepField);

void BM_GrepNestedField(benchmark::State& state) {
  static const auto lines = JsonLines();
  Run(state, lines, {Grep("user.plan", "^free$", true)});
}
BENCHMARK(BM_GrepNestedField);

void BM_GrepRecord(benchmark::State& state) {
  static const auto lines = NginxLines();
  Run(state, lines, {Grep("", "\"GET /health ", true)});
}
BENCHMARK(BM_GrepRecord);

void BM_JsonThenGrep(benchmark::State& state) {
  static const auto lines = JsonLines();
  Run(state, lines, {Kind(ProcessingStep::Kind::kJson), Grep("path", "^/health", true)});
}
BENCHMARK(BM_JsonThenGrep);

void BM_LogToJsonCombined(benchmark::State& state) {
  static const auto lines = NginxLines();
  Run(state, lines, {LogToJson("combined_apache")});
}
BENCHMARK(BM_LogToJsonCombined);

void BM_LogToJsonThenGrep(benchmark::State& state) {
  static const auto lines = NginxLines();
  Run(state, lines, {LogToJson("combined_apache"), Grep("request", "^GET /health", true)});
}
BENCHMARK(BM_LogToJsonThenGrep);

std::vector<std::string> LogfmtLines() {
  std::vector<std::string> out;
  for (int i = 0; i < 1024; ++i) {
    out.push_back("ts=2026-12-06T10:00:" + std::to_string(10 + i % 50) +
                  ".123Z level=" + (i % 4 == 0 ? "debug" : "info") +
                  " msg=\"handled request\" path=/api/v1/orders/" + std::to_string(i) +
                  " status=200 ms=" + std::to_string(i % 97) + " user=" + std::to_string(i));
  }
  return out;
}

void BM_Logfmt(benchmark::State& state) {
  static const auto lines = LogfmtLines();
  Run(state, lines, {Kind(ProcessingStep::Kind::kLogfmt)});
}
BENCHMARK(BM_Logfmt);

void BM_LogfmtThenGrep(benchmark::State& state) {
  static const auto lines = LogfmtLines();
  Run(state, lines, {Kind(ProcessingStep::Kind::kLogfmt), Grep("level", "^debug$", true)});
}
BENCHMARK(BM_LogfmtThenGrep);

void BM_AddMetadata(benchmark::State& state) {
  static const auto lines = JsonLines();
  ProcessingStep meta = Kind(ProcessingStep::Kind::kAddMetadata);
  meta.add_host = meta.add_file = meta.add_timestamp = true;
  Run(state, lines, {Kind(ProcessingStep::Kind::kJson), meta});
}
BENCHMARK(BM_AddMetadata);

ProcessingStep MaskIp(std::string with) {
  ProcessingStep s = Kind(ProcessingStep::Kind::kMask);
  s.mask_kind = "ipv4";
  s.field = "client_ip";
  s.mask_with = std::move(with);
  s.keep = 24;
  s.hash_key = "bench-key";
  return s;
}

ProcessingStep Timestamp() {
  ProcessingStep s = Kind(ProcessingStep::Kind::kTimestamp);
  s.field = "ts";
  s.time_format = "rfc3339";
  return s;
}

// The issue's example chain: json + mask + grep (goal: 1 M records/s per core).
void BM_JsonMaskGrep(benchmark::State& state) {
  static const auto lines = JsonLines();
  Run(state, lines,
      {Kind(ProcessingStep::Kind::kJson), MaskIp("redact"), Grep("path", "^/health", true)});
}
BENCHMARK(BM_JsonMaskGrep);

void BM_JsonTimestampMaskGrep(benchmark::State& state) {
  static const auto lines = JsonLines();
  Run(state, lines,
      {Kind(ProcessingStep::Kind::kJson), Timestamp(), MaskIp("redact"),
       Grep("path", "^/health", true)});
}
BENCHMARK(BM_JsonTimestampMaskGrep);

void BM_MaskHash(benchmark::State& state) {
  static const auto lines = JsonLines();
  Run(state, lines, {Kind(ProcessingStep::Kind::kJson), MaskIp("hash")});
}
BENCHMARK(BM_MaskHash);

void BM_MaskPrefix(benchmark::State& state) {
  static const auto lines = JsonLines();
  Run(state, lines, {Kind(ProcessingStep::Kind::kJson), MaskIp("prefix")});
}
BENCHMARK(BM_MaskPrefix);

void BM_MaskWholeRecord(benchmark::State& state) {
  static const auto lines = NginxLines();
  ProcessingStep m = MaskIp("redact");
  m.field.clear();
  Run(state, lines, {m});
}
BENCHMARK(BM_MaskWholeRecord);

void BM_Timestamp(benchmark::State& state) {
  static const auto lines = JsonLines();
  Run(state, lines, {Timestamp()});
}
BENCHMARK(BM_Timestamp);

void BM_TimestampCommonLog(benchmark::State& state) {
  static const auto lines = NginxLines();
  ProcessingStep t = Timestamp();
  t.field = "datetime";
  t.time_format = "common_log";
  Run(state, lines, {LogToJson("combined_apache"), t});
}
BENCHMARK(BM_TimestampCommonLog);

void BM_TimestampStrptime(benchmark::State& state) {
  static const auto lines = NginxLines();
  ProcessingStep t = Timestamp();
  t.field = "datetime";
  t.time_format = "%d/%b/%Y:%H:%M:%S %z";
  Run(state, lines, {LogToJson("combined_apache"), t});
}
BENCHMARK(BM_TimestampStrptime);

void BM_Modify(benchmark::State& state) {
  static const auto lines = JsonLines();
  ProcessingStep m = Kind(ProcessingStep::Kind::kModify);
  m.rename = {{"msg", "message"}};
  m.set = {{"env", "prod"}};
  m.remove = {"ms"};
  Run(state, lines, {Kind(ProcessingStep::Kind::kJson), m});
}
BENCHMARK(BM_Modify);

void BM_RegexTyped(benchmark::State& state) {
  static const auto lines = NginxLines();
  ProcessingStep r = Kind(ProcessingStep::Kind::kRegex);
  r.pattern = R"(^(?<remote>\S+) \S+ \S+ \[(?<time>[^\]]+)\] "(?<method>\S+) (?<path>\S+) )"
              R"([^"]*" (?<status>\d+) (?<bytes>\d+))";
  r.types = {{"status", "int"}, {"bytes", "int"}};
  Run(state, lines, {r});
}
BENCHMARK(BM_RegexTyped);

void BM_Throttle(benchmark::State& state) {
  static const auto lines = JsonLines();
  ProcessingStep t = Kind(ProcessingStep::Kind::kThrottle);
  t.rate = 1000000000;
  t.field = "path";
  Run(state, lines, {t});
}
BENCHMARK(BM_Throttle);

}  // namespace
}  // namespace sluice::agent

BENCHMARK_MAIN();
