// kinesis_loadgen: a C++ load generator for any Kinesis-compatible endpoint on 127.0.0.1 over
// HTTP/1.1 keep-alive (sluice's API or kinesalite), for the benchmark in docs/performance.md.
//
//   kinesis_loadgen put --port N --stream S [--connections 4] [--seconds 5] [--records 500]
//                       [--size 100]
//   kinesis_loadgen get --port N --stream S --shards K
//
// put: each connection sends the same PutRecords body (records x size bytes, distinct partition
// keys) back to back; prints records/s of accepted records. get: reads every shard from
// TRIM_HORIZON to the end with GetRecords (Limit 10000), one connection per shard; prints
// records/s. Requests carry a
// well-formed but unverifiable Authorization header (neither server is run with credentials).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <rapidjson/document.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/base64.h"

namespace {

class Conn {
 public:
  explicit Conn(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      perror("connect");
      exit(1);
    }
  }
  ~Conn() { close(fd_); }

  // One POST; returns the status and fills *body.
  int Call(const std::string& op, const std::string& payload, std::string* body) {
    std::string req =
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\n"
        "X-Amz-Target: Kinesis_20131202." +
        op +
        "\r\nX-Amz-Date: 20150830T123600Z\r\nAuthorization: AWS4-HMAC-SHA256 "
        "Credential=AKIDLOADGEN/20150830/us-east-1/kinesis/aws4_request, SignedHeaders=host, "
        "Signature=00\r\nContent-Length: " +
        std::to_string(payload.size()) + "\r\n\r\n";
    req += payload;
    for (size_t off = 0; off < req.size();) {
      ssize_t n = write(fd_, req.data() + off, req.size() - off);
      if (n <= 0) return -1;
      off += static_cast<size_t>(n);
    }
    size_t header_end;
    while ((header_end = in_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return -1;
    }
    int status = atoi(in_.c_str() + 9);
    size_t cl = 0;
    for (size_t p = 0; p < header_end;) {
      size_t eol = in_.find("\r\n", p);
      if (strncasecmp(in_.c_str() + p, "content-length:", 15) == 0) {
        cl = strtoull(in_.c_str() + p + 15, nullptr, 10);
      }
      p = eol + 2;
    }
    while (in_.size() < header_end + 4 + cl) {
      if (!Fill()) return -1;
    }
    body->assign(in_, header_end + 4, cl);
    in_.erase(0, header_end + 4 + cl);
    return status;
  }

 private:
  bool Fill() {
    char buf[65536];
    ssize_t n = read(fd_, buf, sizeof(buf));
    if (n <= 0) return false;
    in_.append(buf, static_cast<size_t>(n));
    return true;
  }
  int fd_;
  std::string in_;
};

std::string Arg(int argc, char** argv, const char* name, const char* def) {
  for (int i = 2; i + 1 < argc; i++) {
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  if (def == nullptr) {
    fprintf(stderr, "kinesis_loadgen: %s is required\n", name);
    exit(2);
  }
  return def;
}

int Put(int port, const std::string& stream, int conns, double seconds, int records, int size) {
  std::string data = sluice::Base64Encode(std::string(static_cast<size_t>(size), 'x'));
  std::string body = R"({"StreamName":")" + stream + R"(","Records":[)";
  for (int i = 0; i < records; i++) {
    body += std::string(i ? "," : "") + R"({"PartitionKey":"pk-)" + std::to_string(i) +
            R"(","Data":")" + data + R"("})";
  }
  body += "]}";
  std::atomic<uint64_t> ok{0}, failed{0};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < conns; t++) {
    threads.emplace_back([&] {
      Conn c(port);
      std::string resp;
      while (std::chrono::steady_clock::now() < deadline) {
        int status = c.Call("PutRecords", body, &resp);
        if (status == 200 && resp.find("\"FailedRecordCount\":0") != std::string::npos) {
          ok += static_cast<uint64_t>(records);
        } else {
          failed++;
          if (status < 0) return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  printf(
      "{\"op\":\"put\",\"records\":%llu,\"failed_requests\":%llu,\"seconds\":%.3f,"
      "\"records_per_sec\":%.0f}\n",
      static_cast<unsigned long long>(ok.load()), static_cast<unsigned long long>(failed.load()),
      secs, static_cast<double>(ok.load()) / secs);
  return 0;
}

// Reads one shard from TRIM_HORIZON to its end; returns the record count or -1.
int64_t ReadShard(int port, const std::string& stream, int s) {
  Conn c(port);
  std::string resp;
  int64_t total = 0;
  char shard[32];
  snprintf(shard, sizeof(shard), "shardId-%012d", s);
  int status = c.Call("GetShardIterator",
                      R"({"StreamName":")" + stream + R"(","ShardId":")" + shard +
                          R"(","ShardIteratorType":"TRIM_HORIZON"})",
                      &resp);
  rapidjson::Document d;
  resp.reserve(resp.size() + 16);  // RapidJSON's SSE4.2 scanner reads past the end
  d.Parse(resp.c_str());
  if (status != 200 || !d.HasMember("ShardIterator")) {
    fprintf(stderr, "GetShardIterator: %d %s\n", status, resp.c_str());
    return -1;
  }
  std::string it = d["ShardIterator"].GetString();
  for (;;) {
    status = c.Call("GetRecords", R"({"ShardIterator":")" + it + R"(","Limit":10000})", &resp);
    if (status != 200) {
      fprintf(stderr, "GetRecords: %d %s\n", status, resp.substr(0, 200).c_str());
      return -1;
    }
    // Light client-side work, so the server is what is measured: count records by their
    // SequenceNumber keys and cut NextShardIterator out of the text.
    size_t n = 0;
    for (size_t p = resp.find("\"SequenceNumber\""); p != std::string::npos;
         p = resp.find("\"SequenceNumber\"", p + 16)) {
      n++;
    }
    total += static_cast<int64_t>(n);
    size_t k = resp.find("\"NextShardIterator\":\"");
    if (n == 0 || k == std::string::npos) break;
    k += 21;
    it = resp.substr(k, resp.find('"', k) - k);
  }
  return total;
}

// One connection per shard, all shards at once.
int Get(int port, const std::string& stream, int shards) {
  std::atomic<int64_t> total{0};
  std::atomic<bool> failed{false};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int s = 0; s < shards; s++) {
    threads.emplace_back([&, s] {
      int64_t n = ReadShard(port, stream, s);
      if (n < 0)
        failed = true;
      else
        total += n;
    });
  }
  for (auto& t : threads) t.join();
  if (failed) return 1;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  printf("{\"op\":\"get\",\"records\":%lld,\"seconds\":%.3f,\"records_per_sec\":%.0f}\n",
         static_cast<long long>(total.load()), secs, static_cast<double>(total.load()) / secs);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: kinesis_loadgen put|get --port N --stream S [options]\n");
    return 2;
  }
  std::string op = argv[1];
  int port = atoi(Arg(argc, argv, "--port", nullptr).c_str());
  std::string stream = Arg(argc, argv, "--stream", nullptr);
  if (op == "put") {
    return Put(port, stream, atoi(Arg(argc, argv, "--connections", "4").c_str()),
               atof(Arg(argc, argv, "--seconds", "5").c_str()),
               atoi(Arg(argc, argv, "--records", "500").c_str()),
               atoi(Arg(argc, argv, "--size", "100").c_str()));
  }
  if (op == "get") return Get(port, stream, atoi(Arg(argc, argv, "--shards", "1").c_str()));
  fprintf(stderr, "kinesis_loadgen: unknown operation %s\n", op.c_str());
  return 2;
}
