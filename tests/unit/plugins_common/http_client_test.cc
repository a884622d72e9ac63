// HttpClient against a local server: bodies both ways, headers, keep-alive across requests,
// timeouts and refused connections reported as retryable errors; TLS verification against a TLS
// server with a certificate from a CA made in the test.
#include "plugins/common/http_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

#include "tests/unit/plugins_common/test_http_server.h"

namespace sluice::sink {
namespace {

using test::TestHttpServer;
using test::TestRequest;
using test::TestResponse;

TEST(HttpClientTest, SendsBodyAndHeadersAndKeepsTheConnection) {
  std::vector<TestRequest> seen;
  TestHttpServer server([&](const TestRequest& r) {
    seen.push_back(r);
    TestResponse resp;
    resp.status = r.method == "PUT" ? 201 : 200;
    resp.body = "echo:" + r.body;
    resp.headers["ETag"] = "\"abc\"";
    return resp;
  });
  auto client = HttpClient::Create({});
  ASSERT_TRUE(client.ok());
  std::string body(300000, 'x');
  body[7] = '\0';
  HttpRequest req;
  req.method = "PUT";
  req.url = server.url() + "/k%20y?a=1";
  req.headers = {{"X-Test", "1"}, {"Content-MD5", "abc"}};
  req.body = body;
  Result<HttpResponse> r = (*client)->Send(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "echo:" + body);
  EXPECT_EQ(r->Header("etag"), "\"abc\"");
  HttpRequest get;
  get.url = server.url() + "/x";
  for (int i = 0; i < 3; ++i) {
    r = (*client)->Send(get);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200);
  }
  HttpRequest post;
  post.method = "POST";
  post.url = server.url() + "/p";
  r = (*client)->Send(post);  // a POST without a body still sends Content-Length: 0
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen[0].target, "/k%20y?a=1");
  EXPECT_EQ(seen[0].headers["x-test"], "1");
  EXPECT_EQ(seen[0].headers.count("expect"), 0u);
  EXPECT_EQ(seen[0].headers.count("content-type"), 0u);
  EXPECT_EQ(seen[0].body, body);
  EXPECT_EQ(seen[1].method, "GET");
  EXPECT_EQ(seen[4].method, "POST");
  EXPECT_EQ(seen[4].headers["content-length"], "0");
  EXPECT_EQ(server.connections(), 1);  // one connection for every request
}

TEST(HttpClientTest, TimeoutsAndRefusedConnectionsAreRetryable) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse r;
    r.delay_ms = 600;
    return r;
  });
  HttpOptions o;
  o.timeout_ms = 150;
  auto client = HttpClient::Create(o);
  ASSERT_TRUE(client.ok());
  HttpRequest req;
  req.url = server.url() + "/slow";
  Result<HttpResponse> r = (*client)->Send(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("imeout"), std::string::npos) << r.status().message();

  int port;
  {
    TestHttpServer gone([](const TestRequest&) { return TestResponse{}; });
    port = gone.port();
  }
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  r = (*client)->Send(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);

  req.url = "nope://x";
  r = (*client)->Send(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

TEST(HttpClientTest, DroppedConnectionIsRetryable) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse r;
    r.drop = true;
    return r;
  });
  auto client = HttpClient::Create({});
  ASSERT_TRUE(client.ok());
  HttpRequest req;
  req.url = server.url() + "/";
  Result<HttpResponse> r = (*client)->Send(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
}

// A TLS server on 127.0.0.1 with a certificate for "localhost" signed by a CA made here by the
// openssl command: it answers every request 200 "tls ok".
class TlsServer {
 public:
  explicit TlsServer(const std::filesystem::path& dir) : dir_(dir) {
    std::signal(SIGPIPE, SIG_IGN);  // a client that refused the certificate has hung up
    std::filesystem::create_directories(dir);
    auto sh = [&](const std::string& cmd) {
      return std::system(("cd '" + dir.string() + "' && " + cmd + " >/dev/null 2>&1").c_str());
    };
    ok_ = sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
             "-subj /CN=sluice-test-ca") == 0 &&
          sh("openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
             "-subj /CN=localhost") == 0 &&
          sh("printf 'subjectAltName=DNS:localhost\\n' > san.ext && openssl x509 -req -in "
             "server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
             "-extfile san.ext") == 0;
    if (!ok_) return;
    ctx_ = SSL_CTX_new(TLS_server_method());
    ok_ = SSL_CTX_use_certificate_file(ctx_, (dir / "server.pem").c_str(), SSL_FILETYPE_PEM) == 1 &&
          SSL_CTX_use_PrivateKey_file(ctx_, (dir / "server.key").c_str(), SSL_FILETYPE_PEM) == 1;
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ok_ = ok_ && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
          listen(fd_, 8) == 0 && getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TlsServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    if (thread_.joinable()) thread_.join();
    if (ctx_) SSL_CTX_free(ctx_);
    std::filesystem::remove_all(dir_);
  }
  bool ok() const { return ok_; }
  int port() const { return port_; }
  std::string ca() const { return (dir_ / "ca.pem").string(); }
  int handshakes() const { return handshakes_; }

 private:
  void Serve() {
    while (!stop_) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, c);
      if (SSL_accept(ssl) == 1) {
        ++handshakes_;
        std::string req;
        char buf[4096];
        int n;
        while (req.find("\r\n\r\n") == std::string::npos &&
               (n = SSL_read(ssl, buf, sizeof(buf))) > 0) {
          req.append(buf, static_cast<size_t>(n));
        }
        const char kAnswer[] =
            "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\ntls ok";
        SSL_write(ssl, kAnswer, sizeof(kAnswer) - 1);
        SSL_shutdown(ssl);
      }
      SSL_free(ssl);
      close(c);
    }
  }

  std::filesystem::path dir_;
  bool ok_ = false;
  SSL_CTX* ctx_ = nullptr;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> handshakes_{0};
  std::thread thread_;
};

TEST(HttpClientTest, TlsVerificationIsOnByDefault) {
  TlsServer server(std::filesystem::temp_directory_path() /
                   ("sluice-tls-" + std::to_string(getpid())));
  ASSERT_TRUE(server.ok()) << "the openssl command could not make the test certificates";
  auto send = [&](const HttpOptions& o, const std::string& host) {
    auto client = HttpClient::Create(o);
    EXPECT_TRUE(client.ok());
    HttpRequest req;
    req.url = "https://" + host + ":" + std::to_string(server.port()) + "/";
    return (*client)->Send(req);
  };
  // Unknown CA: refused by default.
  Result<HttpResponse> r = send({}, "localhost");
  EXPECT_FALSE(r.ok());
  // Its CA given: accepted.
  HttpOptions with_ca;
  with_ca.ca_file = server.ca();
  r = send(with_ca, "localhost");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "tls ok");
  // The CA known but the name wrong (the certificate is for localhost, not 127.0.0.1): refused.
  with_ca.insecure_skip_verify = false;
  r = send(with_ca, "127.0.0.1");
  EXPECT_FALSE(r.ok());
  // Verification off explicitly: accepted without the CA.
  HttpOptions insecure;
  insecure.insecure_skip_verify = true;
  r = send(insecure, "127.0.0.1");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "tls ok");
  // A CA file that does not exist is an error, never a fallback to no verification.
  HttpOptions missing;
  missing.ca_file = "/nonexistent/ca.pem";
  EXPECT_FALSE(send(missing, "localhost").ok());
}

// A server with a thread per connection whose handler waits until `expect` requests are in it at
// once (or 5 s pass): the started requests must all be in flight together for it to answer at once.
class GatheringServer {
 public:
  explicit GatheringServer(int expect) : expect_(expect) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 16);
    accept_ = std::thread([this] {
      while (true) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        std::lock_guard<std::mutex> lock(mu_);
        conns_.emplace_back([this, c] { Serve(c); });
      }
    });
  }
  ~GatheringServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    accept_.join();
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& t : conns_) t.join();
  }
  int port() const { return port_; }
  int most_at_once() const { return most_; }

 private:
  void Serve(int c) {
    std::string in;
    char buf[4096];
    while (true) {
      size_t head = in.find("\r\n\r\n");
      if (head != std::string::npos) {
        size_t cl = in.find("Content-Length: ");
        size_t body = cl == std::string::npos ? 0 : std::stoul(in.substr(cl + 16));
        if (in.size() >= head + 4 + body) {
          std::string text = in.substr(head + 4, body);
          in.erase(0, head + 4 + body);
          Gather();
          std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(text.size()) +
                             "\r\n\r\n" + text;
          (void)!::write(c, resp.data(), resp.size());
          continue;
        }
      }
      ssize_t n = ::read(c, buf, sizeof(buf));
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
    }
    ::close(c);
  }
  void Gather() {
    std::unique_lock<std::mutex> lock(mu_);
    ++inside_;
    most_ = std::max(most_.load(), inside_);
    cv_.notify_all();
    cv_.wait_for(lock, std::chrono::seconds(5), [this] { return inside_ >= expect_ || done_; });
    done_ = true;  // the gathering is over: later requests pass at once
    --inside_;
  }

  int expect_;
  int fd_ = -1;
  int port_ = 0;
  std::thread accept_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> conns_;
  int inside_ = 0;
  bool done_ = false;
  std::atomic<int> most_{0};
};

TEST(HttpClientTest, StartedRequestsRunTogetherAndWaitGivesEachAnswer) {
  GatheringServer server(4);
  int refused;
  {
    TestHttpServer gone([](const TestRequest&) { return TestResponse{}; });
    refused = gone.port();
  }
  auto client = HttpClient::Create({});
  ASSERT_TRUE(client.ok());
  std::vector<std::string> bodies = {"zero", "one", "two", "gone", "three"};
  std::vector<HttpRequest> reqs(bodies.size());
  for (size_t i = 0; i < bodies.size(); ++i) {
    reqs[i].method = "POST";
    reqs[i].url = "http://127.0.0.1:" + std::to_string(i == 3 ? refused : server.port()) + "/";
    reqs[i].body = bodies[i];
  }
  for (int round = 0; round < 2; ++round) {  // the second on the connections the first kept
    for (size_t i = 0; i < reqs.size(); ++i) ASSERT_TRUE((*client)->Start(i, reqs[i]).ok());
    EXPECT_FALSE((*client)->Start(1, reqs[1]).ok());  // slot 1 is busy
    EXPECT_EQ((*client)->in_flight(), reqs.size());
    std::vector<bool> seen(reqs.size(), false);
    for (size_t n = 0; n < reqs.size(); ++n) {
      auto [slot, answer] = (*client)->Wait();
      ASSERT_LT(slot, reqs.size());
      EXPECT_FALSE(seen[slot]);
      seen[slot] = true;
      if (slot == 3) {
        ASSERT_FALSE(answer.ok());
        EXPECT_EQ(answer.status().code(), Code::kUnavailable);
        continue;
      }
      ASSERT_TRUE(answer.ok()) << slot << ": " << answer.status().ToString();
      EXPECT_EQ(answer->status, 200);
      EXPECT_EQ(answer->body, bodies[slot]);
    }
    EXPECT_EQ((*client)->in_flight(), 0u);
    EXPECT_FALSE((*client)->Wait().second.ok());  // nothing in flight
    EXPECT_EQ(server.most_at_once(), 4) << "round " << round;
  }
}

TEST(HttpClientTest, RetryAfterSeconds) {
  EXPECT_EQ(RetryAfterMs("3"), 3000u);
  EXPECT_EQ(RetryAfterMs(""), 0u);
  EXPECT_EQ(RetryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT"), 0u);
  EXPECT_EQ(RetryAfterMs("999999"), 3600000u);
}

}  // namespace
}  // namespace sluice::sink
