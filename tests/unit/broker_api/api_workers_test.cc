// The Kinesis API's worker threads (broker.api.workers): PutRecords and Firehose-less puts run
// beside the event loop while the loop deletes and creates the stream they write to. Every call
// gets an answer (200, or ResourceNotFoundException while the stream is gone), none is lost, and
// under ThreadSanitizer (the tsan preset runs this test) no data race shows: a stream is never
// freed under a put in flight (StreamRemovalLock).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "broker/api/kinesis_api.h"

namespace sluice::broker::api {
namespace {

// A blocking HTTP/1.1 client on one kept-alive connection.
class Client {
 public:
  explicit Client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~Client() { ::close(fd_); }
  bool ok() const { return ok_; }

  // POSTs a Kinesis call; returns "<status> <body>", or "" when the connection failed.
  std::string Call(const std::string& operation, const std::string& body) {
    std::string req = "POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: Kinesis_20131202." +
                      operation +
                      "\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body;
    if (::write(fd_, req.data(), req.size()) != static_cast<ssize_t>(req.size())) return "";
    while (true) {
      size_t head = in_.find("\r\n\r\n");
      if (head != std::string::npos) {
        size_t cl = in_.find("Content-Length: ");
        if (cl == std::string::npos || cl > head) return "";
        size_t len = std::stoul(in_.substr(cl + 16));
        if (in_.size() >= head + 4 + len) {
          std::string answer = in_.substr(9, 3) + " " + in_.substr(head + 4, len);
          in_.erase(0, head + 4 + len);
          return answer;
        }
      }
      char buf[65536];
      ssize_t n = ::read(fd_, buf, sizeof(buf));
      if (n <= 0) return "";
      in_.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
  std::string in_;
};

TEST(KinesisApiWorkersTest, PutsOnWorkersWhileTheLoopDeletesAndCreatesTheStream) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("sluice_api_workers_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  BrokerOptions bo;
  bo.data_dir = dir;
  auto broker = Broker::Open(bo);
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ApiOptions ao;
  ao.data_dir = dir;
  ao.listen = "127.0.0.1:0";
  ao.workers = 2;
  auto server = KinesisApiServer::Create(&loop, broker->get(), ao);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  ASSERT_TRUE((*server)->Start().ok());
  const int port = (*server)->port();

  // The loop runs on its own thread until `stop` is signalled.
  uv_async_t stop;
  stop.data = server->get();
  uv_async_init(&loop, &stop, [](uv_async_t* h) {
    static_cast<KinesisApiServer*>(h->data)->Stop(
        [h] { uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr); });
  });
  std::thread loop_thread([&loop] { uv_run(&loop, UV_RUN_DEFAULT); });

  // ON_DEMAND: the workers put as fast as they can (a ShardCount alone is PROVISIONED).
  const std::string create =
      R"({"StreamName":"s","ShardCount":2,"StreamModeDetails":{"StreamMode":"ON_DEMAND"}})";
  {
    Client admin(port);
    ASSERT_TRUE(admin.ok());
    ASSERT_EQ(admin.Call("CreateStream", create).substr(0, 3), "200");
  }
  std::string records = R"({"StreamName":"s","Records":[)";
  for (int i = 0; i < 20; ++i) {
    if (i > 0) records += ",";
    records += R"({"Data":"aGVsbG8=","PartitionKey":"k)" + std::to_string(i) + "\"}";
  }
  records += "]}";

  constexpr int kPutters = 3, kCalls = 150;
  std::atomic<int> accepted{0}, not_found{0}, other{0};
  std::vector<std::thread> putters;
  for (int t = 0; t < kPutters; ++t) {
    putters.emplace_back([&] {
      Client c(port);
      for (int i = 0; i < kCalls; ++i) {
        std::string a = c.Call("PutRecords", records);
        if (a.rfind("200 ", 0) == 0 && a.find("\"FailedRecordCount\":0") != std::string::npos) {
          ++accepted;
        } else if (a.rfind("400 ", 0) == 0 &&
                   a.find("ResourceNotFoundException") != std::string::npos) {
          ++not_found;
        } else {
          ++other;
          ADD_FAILURE() << "unexpected answer: " << a.substr(0, 300);
        }
      }
    });
  }
  {
    Client admin(port);
    for (int i = 0; i < 15; ++i) {
      std::string d = admin.Call("DeleteStream", R"({"StreamName":"s"})");
      EXPECT_EQ(d.substr(0, 3), "200") << d;
      std::string c = admin.Call("CreateStream", create);
      EXPECT_EQ(c.substr(0, 3), "200") << c;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  for (std::thread& t : putters) t.join();
  EXPECT_EQ(accepted + not_found + other, kPutters * kCalls);
  EXPECT_GT(accepted.load(), 0);
  EXPECT_EQ(other.load(), 0);

  uv_async_send(&stop);
  loop_thread.join();
  server->reset();
  EXPECT_EQ(uv_loop_close(&loop), 0);
  broker->reset();
  std::filesystem::remove_all(dir);
}

// A put is acknowledged only once its records are durable (durable_acks.h): with nothing else
// committing (no SyncDue timer here), every answer finds the stream's durable generation past the
// write generation from before the put was sent, on the loop and on workers, with concurrent
// putters sharing commits.
void PutsAreAnsweredWhenDurable(int workers) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("sluice_api_durable_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  BrokerOptions bo;
  bo.data_dir = dir;
  auto broker = Broker::Open(bo);
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ApiOptions ao;
  ao.data_dir = dir;
  ao.listen = "127.0.0.1:0";
  ao.workers = workers;
  auto server = KinesisApiServer::Create(&loop, broker->get(), ao);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  ASSERT_TRUE((*server)->Start().ok());
  const int port = (*server)->port();
  uv_async_t stop;
  stop.data = server->get();
  uv_async_init(&loop, &stop, [](uv_async_t* h) {
    static_cast<KinesisApiServer*>(h->data)->Stop(
        [h] { uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr); });
  });
  std::thread loop_thread([&loop] { uv_run(&loop, UV_RUN_DEFAULT); });
  {
    Client admin(port);
    ASSERT_EQ(admin
                  .Call("CreateStream", R"({"StreamName":"d","ShardCount":2,)"
                                        R"("StreamModeDetails":{"StreamMode":"ON_DEMAND"}})")
                  .substr(0, 3),
              "200");
  }
  Result<Stream*> s = (*broker)->GetStream("d");
  ASSERT_TRUE(s.ok());
  ASSERT_EQ((*s)->options().fsync, FsyncPolicy::kInterval);
  constexpr int kPutters = 4, kCalls = 50;
  std::atomic<int> early{0}, ok{0};
  std::vector<std::thread> putters;
  for (int t = 0; t < kPutters; ++t) {
    putters.emplace_back([&, t] {
      Client c(port);
      for (int i = 0; i < kCalls; ++i) {
        std::string one = R"({"StreamName":"d","Records":[{"Data":"aGVsbG8=","PartitionKey":"k)" +
                          std::to_string(t * kCalls + i) + "\"}]}";
        // This put's generation is above the write generation before it is sent.
        uint64_t before = (*s)->WriteGeneration();
        std::string a = i % 2 ? c.Call("PutRecords", one)
                              : c.Call("PutRecord", R"({"StreamName":"d","Data":"aGk=",)"
                                                    R"("PartitionKey":"p)" +
                                                        std::to_string(i) + "\"}");
        if (a.rfind("200 ", 0) == 0) ++ok;
        if ((*s)->DurableGeneration() <= before) ++early;
      }
    });
  }
  for (std::thread& t : putters) t.join();
  EXPECT_EQ(ok.load(), kPutters * kCalls);
  EXPECT_EQ(early.load(), 0);
  EXPECT_EQ((*s)->DurableGeneration(), (*s)->WriteGeneration());
  uv_async_send(&stop);
  loop_thread.join();
  server->reset();
  EXPECT_EQ(uv_loop_close(&loop), 0);
  broker->reset();
  std::filesystem::remove_all(dir);
}

TEST(KinesisApiDurableTest, PutsOnTheLoopAreAnsweredWhenDurable) { PutsAreAnsweredWhenDurable(0); }
TEST(KinesisApiDurableTest, PutsOnWorkersAreAnsweredWhenDurable) { PutsAreAnsweredWhenDurable(2); }

}  // namespace
}  // namespace sluice::broker::api
