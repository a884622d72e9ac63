// Fuzz target: the HTTP server's sessions (HTTP/1.1 through http-parser, HTTP/2 through nghttp2)
// as a peer reaches them, over a loopback TCP connection to a real HttpServer on a libuv loop.
// The first input byte picks the protocol (low bit set: the HTTP/2 connection preface is sent
// first) and a small output bound (bit 1), so that the paths that stall a pipelining client and
// refuse HTTP/2 streams are reached; the rest is sent as it is, then the client half-closes and
// reads until the server closes or 200 ms pass. The handler echoes the target and body size and
// streams a chunked body for "/stream". Beyond "no crash, no sanitizer report": the server's
// count of held bytes returns to zero once every connection is closed.
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "core/http/http_server.h"

namespace {

namespace http = sluice::http;

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct Client {
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_write_t write;
  uv_shutdown_t shutdown;
  uv_timer_t timer;
  std::string out;
  int open_handles = 0;
  bool done = false;

  void Finish() {
    if (done) return;
    done = true;
    uv_timer_stop(&timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp),
             [](uv_handle_t* h) { static_cast<Client*>(h->data)->open_handles--; });
    uv_close(reinterpret_cast<uv_handle_t*>(&timer),
             [](uv_handle_t* h) { static_cast<Client*>(h->data)->open_handles--; });
  }
};

struct Fixture {
  uv_loop_t loop;
  std::unique_ptr<http::HttpServer> small;  // max_connection_output of 1 KiB
  std::unique_ptr<http::HttpServer> large;

  Fixture() {
    uv_loop_init(&loop);
    small = Start(1024);
    large = Start(4 << 20);
  }

  std::unique_ptr<http::HttpServer> Start(size_t output) {
    http::HttpServerOptions o;
    o.max_body_size = 64 * 1024;
    o.max_connection_output = output;
    o.max_buffered_bytes = 256 * 1024;
    o.request_timeout_ms = 100;
    o.idle_timeout_ms = 100;
    auto s = http::HttpServer::Create(&loop, o, [](http::HttpRequest& req, http::HttpResponse* r) {
      if (req.target == "/stream") {
        r->stream = [](std::shared_ptr<http::HttpBodyWriter> w) {
          w->Write("part one ");
          w->Write(std::string(3000, 'x'));
          w->End();
        };
        return;
      }
      r->body = req.method + " " + req.target + " " + std::to_string(req.body.size()) +
                std::string(req.target.size() % 7 == 0 ? 5000 : 10, '.');
    });
    if (!s.ok() || !(*s)->Start().ok()) std::abort();
    return std::move(*s);
  }
};

Fixture& Shared() {
  static Fixture* f = new Fixture();  // lives for the process: libFuzzer never returns
  return *f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Fixture& f = Shared();
  bool h2 = data[0] & 1;
  http::HttpServer* server = (data[0] & 2) ? f.small.get() : f.large.get();
  Client c;
  c.out = h2 ? std::string(kPreface) : std::string();
  c.out.append(reinterpret_cast<const char*>(data + 1), size - 1);
  uv_tcp_init(&f.loop, &c.tcp);
  uv_timer_init(&f.loop, &c.timer);
  c.tcp.data = c.timer.data = c.connect.data = c.write.data = c.shutdown.data = &c;
  c.open_handles = 2;
  sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", server->port(), &addr);
  uv_timer_start(
      &c.timer, [](uv_timer_t* t) { static_cast<Client*>(t->data)->Finish(); }, 200, 0);
  uv_tcp_connect(&c.connect, &c.tcp, reinterpret_cast<sockaddr*>(&addr),
                 [](uv_connect_t* req, int st) {
                   auto* c = static_cast<Client*>(req->data);
                   if (st != 0) {
                     c->Finish();
                     return;
                   }
                   uv_buf_t b = uv_buf_init(c->out.data(), static_cast<unsigned>(c->out.size()));
                   uv_write(&c->write, reinterpret_cast<uv_stream_t*>(&c->tcp), &b, 1,
                            [](uv_write_t*, int) {});
                   uv_shutdown(&c->shutdown, reinterpret_cast<uv_stream_t*>(&c->tcp),
                               [](uv_shutdown_t*, int) {});
                   uv_read_start(
                       reinterpret_cast<uv_stream_t*>(&c->tcp),
                       [](uv_handle_t*, size_t, uv_buf_t* buf) {
                         static char storage[65536];
                         *buf = uv_buf_init(storage, sizeof storage);
                       },
                       [](uv_stream_t* s, ssize_t n, const uv_buf_t*) {
                         if (n < 0) static_cast<Client*>(s->data)->Finish();
                       });
                 });
  while (c.open_handles > 0) uv_run(&f.loop, UV_RUN_ONCE);
  // Let the server see the close of its side too.
  for (int i = 0; i < 20 && server->connection_count() > 0; ++i) uv_run(&f.loop, UV_RUN_NOWAIT);
  if (server->connection_count() == 0 && server->buffered_bytes() != 0) std::abort();
  return 0;
}
