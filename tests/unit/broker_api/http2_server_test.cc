// HTTP/2 prior-knowledge tests: an nghttp2 client session over a raw libuv TCP client.
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <cstring>
#include <map>

#include "core/http/http_server.h"
#include "tests/unit/broker_api/test_client.h"

namespace sluice::http {
namespace {

struct H2Result {
  int status = 0;
  std::string body;
  bool closed = false;
  uint32_t error_code = 0;  // of the stream's close
};

// Sends `count` POST requests with `body` on one HTTP/2 connection and collects the answers.
class H2Client {
 public:
  // `stall`: send the request headers, then never the body (a stalled client).
  // `content_length`: sent as that header when set. `initial_window`: the window the client
  // grants each stream (SETTINGS_INITIAL_WINDOW_SIZE).
  H2Client(uv_loop_t* loop, int port, int count, std::string body, bool stall = false,
           const char* content_length = nullptr, uint32_t initial_window = 65535)
      : body_(std::move(body)), stall_(stall) {
    nghttp2_session_callbacks* cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* n, size_t nl,
                const uint8_t* v, size_t vl, uint8_t, void* u) {
          auto* self = static_cast<H2Client*>(u);
          if (std::string_view(reinterpret_cast<const char*>(n), nl) == ":status") {
            self->results[f->hd.stream_id].status =
                std::stoi(std::string(reinterpret_cast<const char*>(v), vl));
          }
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cbs, [](nghttp2_session*, uint8_t, int32_t id, const uint8_t* d, size_t n, void* u) {
          static_cast<H2Client*>(u)->results[id].body.append(reinterpret_cast<const char*>(d), n);
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cbs, [](nghttp2_session*, int32_t id, uint32_t error_code, void* u) {
          auto* self = static_cast<H2Client*>(u);
          self->results[id].closed = true;
          self->results[id].error_code = error_code;
          if (++self->done_ == self->count_) self->finished = true;
          return 0;
        });
    nghttp2_session_client_new(&session_, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_settings_entry window{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, initial_window};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, &window, 1);
    count_ = count;
    for (int i = 0; i < count; i++) {
      nghttp2_nv nva[] = {MakeNv(":method", "POST"),
                          MakeNv(":scheme", "http"),
                          MakeNv(":path", "/p"),
                          MakeNv(":authority", "localhost"),
                          MakeNv("x-test", "yes"),
                          MakeNv("content-length", content_length ? content_length : "")};
      nghttp2_data_provider prd;
      prd.source.ptr = this;
      prd.read_callback = [](nghttp2_session*, int32_t id, uint8_t* buf, size_t len,
                             uint32_t* flags, nghttp2_data_source* src, void*) -> ssize_t {
        auto* self = static_cast<H2Client*>(src->ptr);
        if (self->stall_) return NGHTTP2_ERR_DEFERRED;
        size_t& off = self->sent_[id];
        size_t n = std::min(len, self->body_.size() - off);
        memcpy(buf, self->body_.data() + off, n);
        off += n;
        if (off == self->body_.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
        return static_cast<ssize_t>(n);
      };
      nghttp2_submit_request(session_, nullptr, nva, content_length ? 6 : 5, &prd, nullptr);
    }
    client_ =
        std::make_unique<testing::RawClient>(loop, port, Drain(), [this](const std::string& r) {
          Recv(r);
          return finished;
        });
  }
  ~H2Client() { nghttp2_session_del(session_); }

  static nghttp2_nv MakeNv(const char* k, const char* v) {
    return {reinterpret_cast<uint8_t*>(const_cast<char*>(k)),
            reinterpret_cast<uint8_t*>(const_cast<char*>(v)), strlen(k), strlen(v),
            NGHTTP2_NV_FLAG_NONE};
  }

  std::string Drain() {
    std::string out;
    const uint8_t* data;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(session_, &data)) > 0) {
      out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    return out;
  }

  void Recv(const std::string& all) {
    nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(all.data()) + consumed_,
                             all.size() - consumed_);
    consumed_ = all.size();
    client_->Send(Drain());
  }

  std::map<int32_t, H2Result> results;
  bool finished = false;
  std::unique_ptr<testing::RawClient> client_;

 private:
  nghttp2_session* session_;
  std::string body_;
  bool stall_ = false;
  std::map<int32_t, size_t> sent_;
  size_t consumed_ = 0;
  int count_ = 0;
  int done_ = 0;
};

// Closes `client` after `ms` unless it closed before: a test that would otherwise wait forever
// ends, and its expectations tell.
void CloseAfter(uv_loop_t* loop, testing::RawClient* client, uint64_t ms) {
  struct Guard {
    uv_timer_t timer;
    testing::RawClient* client;
    uint64_t deadline;
  };
  auto* g = new Guard{{}, client, uv_now(loop) + ms};
  uv_timer_init(loop, &g->timer);
  g->timer.data = g;
  uv_timer_start(
      &g->timer,
      [](uv_timer_t* t) {
        auto* g = static_cast<Guard*>(t->data);
        if (!g->client->closed && uv_now(t->loop) < g->deadline) return;
        g->client->Close();
        uv_timer_stop(t);
        uv_close(reinterpret_cast<uv_handle_t*>(t),
                 [](uv_handle_t* h) { delete static_cast<Guard*>(h->data); });
      },
      5, 5);
}

class Http2ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
  void TearDown() override {
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }
  void Start(HttpServerOptions opts, HttpHandler h) {
    auto s = HttpServer::Create(&loop_, opts, std::move(h));
    ASSERT_TRUE(s.ok());
    server_ = std::move(*s);
    ASSERT_TRUE(server_->Start().ok());
  }
  void Run(H2Client* c) {
    c->client_->on_closed = [this] { server_->Stop([] {}); };
    uv_run(&loop_, UV_RUN_DEFAULT);
  }
  uv_loop_t loop_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(Http2ServerTest, ServesConcurrentStreamsWithLargeBodies) {
  std::vector<HttpRequest> seen;
  Start({}, [&seen](HttpRequest& req, HttpResponse* resp) {
    seen.push_back(req);
    resp->headers.emplace_back("Content-Type", "text/plain");
    resp->body = std::to_string(req.body.size());
  });
  std::string body(3 << 20, 'x');  // beyond the default 64 KiB flow-control window
  H2Client c(&loop_, server_->port(), 3, body);
  Run(&c);
  ASSERT_TRUE(c.finished);
  ASSERT_EQ(c.results.size(), 3u);
  for (auto& [id, r] : c.results) {
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, std::to_string(body.size()));
  }
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_TRUE(seen[0].http2);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/p");
  ASSERT_NE(seen[0].Header("host"), nullptr);  // from :authority, as SigV4 signs it
  EXPECT_EQ(*seen[0].Header("host"), "localhost");
  EXPECT_EQ(*seen[0].Header("x-test"), "yes");
  ASSERT_NE(seen[0].Header(":authority"), nullptr);  // SDKs sign it over HTTP/2
}

// The first of three streams is answered 30 ms later from a timer (a deferred answer); the
// others at once: every stream gets its own answer, the deferred one last.
TEST_F(Http2ServerTest, DeferredAnswerLetsOtherStreamsGoOn) {
  struct Later {
    uv_timer_t timer;
    std::shared_ptr<HttpResponder> responder;
    std::vector<int>* order;
  };
  std::vector<int> order;  // the requests answered, in order (1: the deferred one)
  int n = 0;
  Start({}, [&](HttpRequest&, HttpResponse* resp) {
    int k = ++n;
    if (k > 1) {
      order.push_back(k);
      resp->body = "now";
      return;
    }
    resp->defer = [this, &order](std::shared_ptr<HttpResponder> r) {
      auto* l = new Later{{}, std::move(r), &order};
      uv_timer_init(&loop_, &l->timer);
      l->timer.data = l;
      uv_timer_start(
          &l->timer,
          [](uv_timer_t* h) {
            auto* l = static_cast<Later*>(h->data);
            l->order->push_back(1);
            HttpResponse resp;
            resp.status = 201;
            resp.body = "later";
            l->responder->Complete(std::move(resp));
            uv_close(reinterpret_cast<uv_handle_t*>(h),
                     [](uv_handle_t* c) { delete static_cast<Later*>(c->data); });
          },
          30, 0);
    };
  });
  H2Client c(&loop_, server_->port(), 3, "x");
  Run(&c);
  ASSERT_TRUE(c.finished);
  ASSERT_EQ(c.results.size(), 3u);
  int later = 0;
  for (auto& [id, r] : c.results) later += r.status == 201 && r.body == "later" ? 1 : 0;
  EXPECT_EQ(later, 1);
  EXPECT_EQ(order, (std::vector<int>{2, 3, 1}));
}

TEST_F(Http2ServerTest, BodyOverLimitGets413) {
  HttpServerOptions opts;
  opts.max_body_size = 1000;
  int handled = 0;
  Start(opts, [&handled](HttpRequest&, HttpResponse*) { handled++; });
  H2Client c(&loop_, server_->port(), 1, std::string(5000, 'y'));
  Run(&c);
  ASSERT_TRUE(c.finished);
  EXPECT_EQ(c.results.begin()->second.status, 413);
  EXPECT_NE(c.results.begin()->second.body.find("limit of 1000 bytes"), std::string::npos);
  EXPECT_EQ(handled, 0);
}

TEST_F(Http2ServerTest, StreamsResponseBodyAsWritten) {
  std::shared_ptr<HttpBodyWriter> writer;
  uv_timer_t later;
  uv_timer_init(&loop_, &later);
  later.data = &writer;
  Start({}, [&](HttpRequest&, HttpResponse* resp) {
    resp->stream = [&](std::shared_ptr<HttpBodyWriter> w) {
      writer = w;
      w->Write("first;");
      // The rest comes from a later loop turn, as a live subscription would.
      uv_timer_start(
          &later,
          [](uv_timer_t* t) {
            auto& w = *static_cast<std::shared_ptr<HttpBodyWriter>*>(t->data);
            w->Write("second;");
            w->End();
            uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
          },
          1, 0);
    };
  });
  H2Client c(&loop_, server_->port(), 1, "");
  Run(&c);
  ASSERT_TRUE(c.finished);
  EXPECT_EQ(c.results.begin()->second.status, 200);
  EXPECT_EQ(c.results.begin()->second.body, "first;second;");
  EXPECT_FALSE(writer->open());
}

TEST_F(Http2ServerTest, StalledRequestBodyTimesOut) {
  HttpServerOptions opts;
  opts.request_timeout_ms = 30;
  int handled = 0;
  Start(opts, [&handled](HttpRequest&, HttpResponse*) { handled++; });
  H2Client c(&loop_, server_->port(), 1, "never sent", /*stall=*/true);
  Run(&c);
  EXPECT_TRUE(c.client_->peer_closed);  // closed by the server, not by the client
  EXPECT_FALSE(c.finished);
  EXPECT_EQ(handled, 0);
}

// A content-length past the body limit is answered 413 at the headers, and the stream is reset
// (NO_ERROR) so that the body is not sent: the client, which never ends its stream, sees it
// closed.
TEST_F(Http2ServerTest, ContentLengthPastTheLimitIsRefusedAtTheHeaders) {
  HttpServerOptions opts;
  opts.max_body_size = 1000;
  int handled = 0;
  Start(opts, [&handled](HttpRequest&, HttpResponse*) { handled++; });
  H2Client c(&loop_, server_->port(), 1, std::string(5000, 'y'), /*stall=*/true, "5000");
  CloseAfter(&loop_, c.client_.get(), 3000);
  Run(&c);
  ASSERT_TRUE(c.finished);
  const H2Result& r = c.results.begin()->second;
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("limit of 1000 bytes"), std::string::npos);
  EXPECT_EQ(r.error_code, static_cast<uint32_t>(NGHTTP2_NO_ERROR));
  EXPECT_EQ(handled, 0);
}

// Frames of the connection alone (PINGs) are no activity: a connection without streams is
// closed at the idle timeout however often it pings.
TEST_F(Http2ServerTest, PingsAloneDoNotKeepAConnectionOpen) {
  HttpServerOptions opts;
  opts.idle_timeout_ms = 50;
  Start(opts, [](HttpRequest&, HttpResponse*) {});
  std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + std::string("\0\0\0\4\0\0\0\0\0", 9);
  testing::RawClient client(&loop_, server_->port(), preface, nullptr);
  struct Pinger {
    uv_timer_t timer;
    testing::RawClient* client;
  } pinger{{}, &client};
  uv_timer_init(&loop_, &pinger.timer);
  pinger.timer.data = &pinger;
  uv_timer_start(
      &pinger.timer,
      [](uv_timer_t* t) {
        auto* p = static_cast<Pinger*>(t->data);
        if (p->client->closed) {
          uv_timer_stop(t);
          uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
          return;
        }
        p->client->Send(std::string("\0\0\x08\x06\0\0\0\0\0", 9) + "pingpong");
      },
      5, 5);
  CloseAfter(&loop_, &client, 3000);
  client.on_closed = [this] { server_->Stop([] {}); };
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_TRUE(client.peer_closed);  // by the server, before the guard
}

// A streamed answer the peer takes nothing of (it grants no window) is no activity: the
// connection is closed at the idle timeout, and the writer learns it.
TEST_F(Http2ServerTest, StreamedAnswerNobodyTakesIsClosedAtTheIdleTimeout) {
  HttpServerOptions opts;
  opts.idle_timeout_ms = 50;
  std::shared_ptr<HttpBodyWriter> writer;
  Start(opts, [&writer](HttpRequest&, HttpResponse* resp) {
    resp->stream = [&writer](std::shared_ptr<HttpBodyWriter> w) {
      writer = w;
      w->Write("an event nobody reads");
    };
  });
  H2Client c(&loop_, server_->port(), 1, "x", /*stall=*/false, nullptr, /*initial_window=*/0);
  CloseAfter(&loop_, c.client_.get(), 3000);
  Run(&c);
  EXPECT_TRUE(c.client_->peer_closed);
  EXPECT_FALSE(c.finished);
  ASSERT_NE(writer, nullptr);
  EXPECT_FALSE(writer->open());
}

}  // namespace
}  // namespace sluice::http
