#include "core/http/http_server.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include "tests/unit/broker_api/test_client.h"

namespace sluice::http {
namespace {

using testing::CountResponses;
using testing::RawClient;

class HttpServerTest : public ::testing::Test {
 public:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
  void TearDown() override {
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  void StartServer(HttpServerOptions opts = {}) {
    auto s = HttpServer::Create(&loop_, opts, [this](HttpRequest& req, HttpResponse* resp) {
      requests_.push_back(req);
      resp->status = req.target == "/missing" ? 404 : 200;
      resp->headers.emplace_back("Content-Type", "text/plain");
      resp->body = req.method + " " + req.target + " " + std::to_string(req.body.size());
    });
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_GT(server_->port(), 0);
  }

  // Runs a client to completion, then stops the server.
  std::string Exchange(const std::string& send, RawClient::Done done) {
    RawClient client(&loop_, server_->port(), send, std::move(done));
    client.on_closed = [this] { server_->Stop([this] { stopped_++; }); };
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(stopped_, 1);
    peer_closed_ = client.peer_closed;
    return client.received;
  }

  uv_loop_t loop_;
  std::unique_ptr<HttpServer> server_;
  std::vector<HttpRequest> requests_;
  int stopped_ = 0;
  bool peer_closed_ = false;
};

TEST_F(HttpServerTest, KeepAliveServesPipelinedRequestsInOrder) {
  StartServer();
  std::string req1 =
      "POST /a HTTP/1.1\r\nHost: x\r\nX-Amz-Target: T\r\nContent-Length: 5\r\n\r\nhello";
  std::string req2 = "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string got = Exchange(req1 + req2, [](const std::string& r) {
    return CountResponses(r) == 2 && r.find("GET /missing 0") != std::string::npos;
  });
  ASSERT_EQ(requests_.size(), 2u);
  EXPECT_EQ(requests_[0].body, "hello");
  ASSERT_NE(requests_[0].Header("x-amz-target"), nullptr);
  EXPECT_EQ(*requests_[0].Header("x-amz-target"), "T");
  EXPECT_LT(got.find("HTTP/1.1 200 OK"), got.find("HTTP/1.1 404 Not Found"));
  EXPECT_NE(got.find("Connection: keep-alive"), std::string::npos);
  EXPECT_FALSE(peer_closed_);
}

// A handler that defers every request whose target starts with /slow and answers it 20 ms later
// from a timer on the loop (as a worker's result comes back); others are answered at once.
struct Deferrer {
  explicit Deferrer(uv_loop_t* loop) : loop(loop) {}
  void Handle(HttpRequest& req, HttpResponse* resp) {
    events.push_back("handle " + req.target);
    if (req.target.rfind("/slow", 0) != 0) {
      resp->body = "now " + req.target;
      return;
    }
    std::string target = req.target, body = std::move(req.body);
    resp->defer = [this, target, body](std::shared_ptr<HttpResponder> r) {
      auto* t = new Later{{}, this, std::move(r), target + " " + body};
      uv_timer_init(loop, &t->timer);
      t->timer.data = t;
      uv_timer_start(
          &t->timer,
          [](uv_timer_t* h) {
            auto* l = static_cast<Later*>(h->data);
            l->owner->events.push_back("complete " + l->text);
            HttpResponse resp;
            resp.status = 202;
            resp.body = "later " + l->text;
            l->responder->Complete(std::move(resp));
            uv_close(reinterpret_cast<uv_handle_t*>(h),
                     [](uv_handle_t* c) { delete static_cast<Later*>(c->data); });
          },
          20, 0);
    };
  }
  struct Later {
    uv_timer_t timer;
    Deferrer* owner;
    std::shared_ptr<HttpResponder> responder;
    std::string text;
  };
  uv_loop_t* loop;
  std::vector<std::string> events;
};

TEST_F(HttpServerTest, DeferredAnswersKeepPipelinedRequestsInOrder) {
  Deferrer d(&loop_);
  auto s = HttpServer::Create(&loop_, {},
                              [&d](HttpRequest& req, HttpResponse* resp) { d.Handle(req, resp); });
  ASSERT_TRUE(s.ok());
  server_ = std::move(*s);
  ASSERT_TRUE(server_->Start().ok());
  std::string reqs = "POST /slow1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab" +
                     std::string("GET /fast2 HTTP/1.1\r\nHost: x\r\n\r\n") +
                     "GET /slow3 HTTP/1.1\r\nHost: x\r\n\r\n" +
                     "GET /fast4 HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string got = Exchange(reqs, [](const std::string& r) { return CountResponses(r) == 4; });
  // A request after a deferred one is not even parsed before that one's answer.
  EXPECT_EQ(d.events,
            (std::vector<std::string>{"handle /slow1", "complete /slow1 ab", "handle /fast2",
                                      "handle /slow3", "complete /slow3 ", "handle /fast4"}));
  size_t a = got.find("later /slow1 ab"), b = got.find("now /fast2"), c = got.find("later /slow3"),
         e = got.find("now /fast4");
  ASSERT_NE(e, std::string::npos) << got;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_LT(c, e);
  EXPECT_EQ(got.rfind("HTTP/1.1 202 ", 0), 0u) << got;
  EXPECT_FALSE(peer_closed_);
}

TEST_F(HttpServerTest, ADeferredAnswerAfterTheConnectionClosedIsDropped) {
  std::shared_ptr<HttpResponder> kept;
  auto s = HttpServer::Create(&loop_, {}, [&](HttpRequest&, HttpResponse* resp) {
    resp->defer = [&](std::shared_ptr<HttpResponder> r) {
      kept = std::move(r);
      // The server stops (closing the connection) before the answer comes.
      server_->Stop([&] {
        stopped_++;
        HttpResponse late;
        late.body = "too late";
        kept->Complete(std::move(late));  // the connection is gone: nothing happens
      });
    };
  });
  ASSERT_TRUE(s.ok());
  server_ = std::move(*s);
  ASSERT_TRUE(server_->Start().ok());
  RawClient client(&loop_, server_->port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_EQ(stopped_, 1);
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(client.received, "");
  EXPECT_TRUE(client.peer_closed);
}

TEST_F(HttpServerTest, ChunkedBodyAndExpectContinue) {
  StartServer();
  std::string req =
      "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  std::string got = Exchange(req, [](const std::string& r) { return CountResponses(r) == 1; });
  EXPECT_EQ(got.rfind("HTTP/1.1 100 Continue\r\n\r\n", 0), 0u);
  EXPECT_NE(got.find("POST / 5"), std::string::npos);
}

TEST_F(HttpServerTest, BodyOverLimitGets413AndClose) {
  HttpServerOptions opts;
  opts.max_body_size = 10;
  StartServer(opts);
  std::string got = Exchange("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n01234567890", nullptr);
  EXPECT_EQ(got.rfind("HTTP/1.1 413", 0), 0u) << got;
  EXPECT_NE(got.find("exceeds the limit of 10 bytes"), std::string::npos);
  EXPECT_TRUE(peer_closed_);
  EXPECT_TRUE(requests_.empty());
}

TEST_F(HttpServerTest, PipelinedRequestsPastTheOutputBoundAreAllAnsweredInOrder) {
  HttpServerOptions opts;
  opts.max_connection_output = 1;  // every answer fills the connection: parse one at a time
  StartServer(opts);
  std::string reqs;
  constexpr int kRequests = 3000;  // well past one 64 KiB read
  for (int i = 0; i < kRequests; ++i) {
    reqs += "GET /r" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  }
  std::string got =
      Exchange(reqs, [](const std::string& r) { return CountResponses(r) == kRequests; });
  ASSERT_EQ(requests_.size(), static_cast<size_t>(kRequests));
  EXPECT_EQ(requests_.back().target, "/r" + std::to_string(kRequests - 1));
  size_t a = got.find("GET /r1 0"), b = got.find("GET /r2999 0");
  ASSERT_NE(a, std::string::npos);
  ASSERT_NE(b, std::string::npos);
  EXPECT_LT(a, b);
  EXPECT_FALSE(peer_closed_);
}

TEST_F(HttpServerTest, Http11WithoutHostGets400) {
  StartServer();
  std::string got = Exchange("GET / HTTP/1.1\r\n\r\n", nullptr);
  EXPECT_EQ(got.rfind("HTTP/1.1 400", 0), 0u) << got;
  EXPECT_NE(got.find("without a Host header"), std::string::npos);
  EXPECT_TRUE(requests_.empty());
}

TEST_F(HttpServerTest, LongTargetGets414) {
  StartServer();
  std::string got =
      Exchange("GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", nullptr);
  EXPECT_EQ(got.rfind("HTTP/1.1 414", 0), 0u) << got.substr(0, 200);
  EXPECT_TRUE(requests_.empty());
}

TEST_F(HttpServerTest, BodiesPastTheServerBudgetGet503) {
  HttpServerOptions opts;
  opts.max_buffered_bytes = 50;
  StartServer(opts);
  std::string got = Exchange(
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'b'), nullptr);
  EXPECT_EQ(got.rfind("HTTP/1.1 503", 0), 0u) << got;
  EXPECT_TRUE(requests_.empty());
}

TEST_F(HttpServerTest, BodiesWithinTheServerBudgetAreServed) {
  HttpServerOptions opts;
  opts.max_buffered_bytes = 150;
  StartServer(opts);
  std::string one =
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'b');
  // Sequential requests release what they charged: the budget is not used up.
  std::string got =
      Exchange(one + one + one, [](const std::string& r) { return CountResponses(r) == 3; });
  EXPECT_EQ(requests_.size(), 3u);
  EXPECT_EQ(got.find("503"), std::string::npos) << got;
}

TEST_F(HttpServerTest, ChunkedBodyOverLimitGets413) {
  HttpServerOptions opts;
  opts.max_body_size = 4;
  StartServer(opts);
  std::string got = Exchange(
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
      "chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n",
      nullptr);
  EXPECT_EQ(got.rfind("HTTP/1.1 413", 0), 0u) << got;
  EXPECT_TRUE(requests_.empty());
}

TEST_F(HttpServerTest, MalformedRequestGets400) {
  StartServer();
  std::string got = Exchange("GARBAGE\r\n\r\n", nullptr);
  EXPECT_EQ(got.rfind("HTTP/1.1 400", 0), 0u) << got;
  EXPECT_NE(got.find("malformed HTTP/1.1 request"), std::string::npos);
  EXPECT_TRUE(peer_closed_);
}

TEST_F(HttpServerTest, IdleConnectionIsClosed) {
  HttpServerOptions opts;
  opts.idle_timeout_ms = 30;
  StartServer(opts);
  std::string got = Exchange("", nullptr);  // connect, send nothing
  EXPECT_TRUE(got.empty());
  EXPECT_TRUE(peer_closed_);
}

TEST_F(HttpServerTest, StalledRequestIsClosed) {
  HttpServerOptions opts;
  opts.request_timeout_ms = 30;
  StartServer(opts);
  // Half a request, then silence: closed by the request timeout, nothing handled.
  std::string got =
      Exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc", nullptr);
  EXPECT_EQ(got.rfind("HTTP/1.1 408 Request Timeout\r\n", 0), 0u) << got;
  EXPECT_NE(got.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(peer_closed_);
  EXPECT_TRUE(requests_.empty());
}

// Bytes that start no request (empty lines, the first bytes of the HTTP/2 preface) run the
// request clock too: a peer cannot hold a connection by sending them slowly. The idle timeout
// is far away, so only the request timeout can close these.
TEST_F(HttpServerTest, BytesBeforeARequestRunTheRequestClock) {
  HttpServerOptions opts;
  opts.request_timeout_ms = 30;
  opts.idle_timeout_ms = 60000;
  for (const char* send : {"\r\n\r\n", "PRI * HTTP/2.0\r\n"}) {
    StartServer(opts);
    uint64_t t0 = uv_now(&loop_);
    stopped_ = 0;
    Exchange(send, nullptr);
    EXPECT_TRUE(peer_closed_) << send;
    EXPECT_LT(uv_now(&loop_) - t0, 5000u) << send;
  }
  EXPECT_TRUE(requests_.empty());
}

TEST_F(HttpServerTest, StopClosesManyIdleConnections) {
  StartServer();
  std::vector<std::unique_ptr<RawClient>> clients;
  int closed = 0;
  for (int i = 0; i < 200; i++) {
    clients.push_back(std::make_unique<RawClient>(&loop_, server_->port(), "", nullptr));
    clients.back()->on_closed = [&closed] { closed++; };
  }
  // Stop once every connection is accepted.
  uv_timer_t check;
  uv_timer_init(&loop_, &check);
  check.data = this;
  uv_timer_start(
      &check,
      [](uv_timer_t* t) {
        auto* self = static_cast<HttpServerTest*>(t->data);
        if (self->server_->connection_count() < 200) return;
        uv_timer_stop(t);
        uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
        self->server_->Stop([self] { self->stopped_++; });
      },
      1, 1);
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_EQ(stopped_, 1);
  EXPECT_EQ(closed, 200);
  for (auto& c : clients) EXPECT_TRUE(c->peer_closed);
}

TEST_F(HttpServerTest, StreamedResponseUsesChunkedEncoding) {
  auto s = HttpServer::Create(&loop_, {}, [](HttpRequest&, HttpResponse* resp) {
    resp->stream = [](std::shared_ptr<HttpBodyWriter> w) {
      w->Write("part1");
      w->Write("part2");
      w->End();
    };
  });
  ASSERT_TRUE(s.ok());
  server_ = std::move(*s);
  ASSERT_TRUE(server_->Start().ok());
  std::string got = Exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n", nullptr);
  EXPECT_NE(got.find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_NE(got.find("5\r\npart1\r\n5\r\npart2\r\n0\r\n\r\n"), std::string::npos) << got;
}

TEST_F(HttpServerTest, RejectsBadOptions) {
  HttpServerOptions opts;
  opts.port = 70000;
  EXPECT_FALSE(HttpServer::Create(&loop_, opts, [](HttpRequest&, HttpResponse*) {}).ok());
  EXPECT_FALSE(HttpServer::Create(&loop_, {}, nullptr).ok());
}

}  // namespace
}  // namespace sluice::http
