// sluice-loggen: writes realistic, numbered log lines for demos, end-to-end tests and benchmarks.
//
//   sluice-loggen --out FILE [--format combined|json|java] [--lines N | --bytes SIZE]
//                 [--rate LINES_PER_SEC] [--start N]
//
// Every line carries its sequence number ("seq=N" in combined, "seq":N in json, the first line of
// each event in java), so a reader can count what arrived. Writes in large blocks; with --rate it
// paces itself in 100 ms steps and appends (O_APPEND) so rotation by rename keeps working.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "core/units.h"

namespace {

const char* const kPaths[] = {"/",      "/index.html",      "/api/v1/orders", "/static/app.js",
                              "/login", "/api/v1/users/42", "/healthz",       "/search?q=logs"};
const char* const kAgents[] = {"Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", "curl/7.88.1",
                               "Mozilla/5.0 (Macintosh) Safari/605.1.15"};
const int kStatus[] = {200, 200, 200, 200, 304, 404, 500, 201};

void AppendLine(const std::string& format, uint64_t seq, std::string* out) {
  char buf[512];
  time_t now = time(nullptr);
  tm t{};
  gmtime_r(&now, &t);
  char stamp[64];
  int n = 0;
  if (format == "json") {
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &t);
    n = std::snprintf(buf, sizeof buf,
                      "{\"ts\":\"%s\",\"level\":\"%s\",\"service\":\"checkout\",\"seq\":%llu,"
                      "\"customer\":{\"id\":\"c-%llu\"},\"msg\":\"order placed\",\"ms\":%llu}\n",
                      stamp, seq % 10 == 0 ? "warn" : "info", static_cast<unsigned long long>(seq),
                      static_cast<unsigned long long>(seq % 97),
                      static_cast<unsigned long long>(seq % 250));
  } else if (format == "java") {
    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &t);
    n = std::snprintf(buf, sizeof buf,
                      "%s ERROR [main] c.e.Service - seq=%llu request failed\n"
                      "java.lang.IllegalStateException: boom\n"
                      "\tat com.example.Service.handle(Service.java:42)\n"
                      "\tat com.example.Main.main(Main.java:7)\n",
                      stamp, static_cast<unsigned long long>(seq));
  } else {
    strftime(stamp, sizeof stamp, "%d/%b/%Y:%H:%M:%S +0000", &t);
    n = std::snprintf(buf, sizeof buf,
                      "10.0.%llu.%llu - - [%s] \"GET %s HTTP/1.1\" %d %llu \"-\" \"%s\" seq=%llu\n",
                      static_cast<unsigned long long>(seq / 256 % 256),
                      static_cast<unsigned long long>(seq % 256), stamp, kPaths[seq % 8],
                      kStatus[seq % 8], static_cast<unsigned long long>(200 + seq % 5000),
                      kAgents[seq % 3], static_cast<unsigned long long>(seq));
  }
  out->append(buf, static_cast<size_t>(n));
}

bool WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t w = write(fd, data.data() + off, data.size() - off);
    if (w < 0) return false;
    off += static_cast<size_t>(w);
  }
  return true;
}

int Usage() {
  std::fprintf(stderr,
               "usage: sluice-loggen --out FILE [--format combined|json|java] [--lines N | "
               "--bytes SIZE] [--rate LINES_PER_SEC] [--start N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out_path, format = "combined";
  uint64_t lines = 0, bytes = 0, rate = 0, seq = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--out") {
      out_path = v;
    } else if (k == "--format") {
      format = v;
    } else if (k == "--lines") {
      lines = std::strtoull(v.c_str(), nullptr, 10);
    } else if (k == "--bytes") {
      auto b = sluice::ParseSize(v);
      if (!b.ok()) return Usage();
      bytes = *b;
    } else if (k == "--rate") {
      rate = std::strtoull(v.c_str(), nullptr, 10);
    } else if (k == "--start") {
      seq = std::strtoull(v.c_str(), nullptr, 10);
    } else {
      return Usage();
    }
  }
  if (out_path.empty() || (argc % 2) != 1) return Usage();
  if (format != "combined" && format != "json" && format != "java") return Usage();
  uint64_t written_lines = 0, written_bytes = 0;
  std::string block;
  auto done = [&] {
    return (lines != 0 && written_lines >= lines) || (bytes != 0 && written_bytes >= bytes);
  };
  auto start = std::chrono::steady_clock::now();
  while (!done()) {
    uint64_t want = rate ? std::max<uint64_t>(1, rate / 10) : 4096;
    block.clear();
    for (uint64_t i = 0; i < want && !done(); ++i) {
      size_t before = block.size();
      AppendLine(format, seq++, &block);
      ++written_lines;
      written_bytes += block.size() - before;
    }
    // Reopened per block so that a rename rotation moves on to the new file.
    int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0 || !WriteAll(fd, block)) {
      std::perror(out_path.c_str());
      return 1;
    }
    close(fd);
    if (rate) {
      auto due = start + std::chrono::microseconds(written_lines * 1'000'000 / rate);
      std::this_thread::sleep_until(due);
    }
  }
  std::printf("%llu lines, %llu bytes\n", static_cast<unsigned long long>(written_lines),
              static_cast<unsigned long long>(written_bytes));
  return 0;
}
