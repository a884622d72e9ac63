// A raw TCP client on a libuv loop for the HTTP server tests: sends bytes, collects what comes
// back until `done(received)` says so or the peer closes, then closes itself.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

namespace sluice::http::testing {

class RawClient {
 public:
  using Done = std::function<bool(const std::string& received)>;

  RawClient(uv_loop_t* loop, int port, std::string to_send, Done done)
      : to_send_(std::move(to_send)), done_(std::move(done)) {
    uv_tcp_init(loop, &tcp_);
    tcp_.data = this;
    sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    connect_.data = this;
    uv_tcp_connect(&connect_, &tcp_, reinterpret_cast<sockaddr*>(&addr),
                   [](uv_connect_t* c, int st) {
                     auto* self = static_cast<RawClient*>(c->data);
                     if (st != 0) {
                       self->Close();
                       return;
                     }
                     self->connected = true;
                     self->Send(self->to_send_);
                     uv_read_start(
                         reinterpret_cast<uv_stream_t*>(&self->tcp_),
                         [](uv_handle_t*, size_t n, uv_buf_t* b) {
                           b->base = new char[n];
                           b->len = n;
                         },
                         [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
                           auto* self = static_cast<RawClient*>(s->data);
                           if (n > 0) self->received.append(b->base, static_cast<size_t>(n));
                           delete[] b->base;
                           if (n < 0) {
                             self->peer_closed = true;
                             self->Close();
                           } else if (self->done_ && self->done_(self->received)) {
                             self->Close();
                           }
                         });
                   });
  }

  void Send(const std::string& bytes) {
    if (bytes.empty() || closed) return;
    auto* req = new uv_write_t;
    auto* copy = new std::string(bytes);
    req->data = copy;
    uv_buf_t buf = uv_buf_init(copy->data(), static_cast<unsigned>(copy->size()));
    uv_write(req, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1, [](uv_write_t* r, int) {
      delete static_cast<std::string*>(r->data);
      delete r;
    });
  }

  void Close() {
    if (closed) return;
    closed = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), [](uv_handle_t* h) {
      auto* self = static_cast<RawClient*>(h->data);
      if (self->on_closed) self->on_closed();
    });
  }

  std::string received;
  bool connected = false;
  bool peer_closed = false;
  bool closed = false;
  std::function<void()> on_closed;

 private:
  uv_tcp_t tcp_;
  uv_connect_t connect_;
  std::string to_send_;
  Done done_;
};

// Number of complete "HTTP/1.1 NNN" status lines in `s`, not counting 100 Continue.
inline int CountResponses(const std::string& s) {
  int n = 0;
  for (size_t p = s.find("HTTP/1.1 "); p != std::string::npos; p = s.find("HTTP/1.1 ", p + 1)) {
    if (s.compare(p + 9, 3, "100") != 0) n++;
  }
  return n;
}

}  // namespace sluice::http::testing
