// Fuzz target: the HTTP server's request path behind TLS. A real HttpServer with a TLS context
// (a self-signed P-256 certificate made at start-up) on a libuv loop; a client on the same loop
// completes a TLS handshake through memory BIOs, then sends the input as application data, so
// the bytes reach the sessions (HTTP/1.1 or HTTP/2) through the server's TLS layer: records split
// and joined, answers sealed, close_notify and errors in the middle of a request. The first
// input byte picks: bit 0, ALPN h2 offered and the HTTP/2 preface sent first; bit 1, the input is
// sent raw instead of after a handshake (bytes that are not TLS, a broken ClientHello); bit 2, the
// client sends close_notify after the request. Beyond "no crash, no sanitizer report": the
// server's count of held bytes returns to zero once every connection is closed.
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "core/http/http_server.h"
#include "core/http/tls_server.h"

namespace {

namespace http = sluice::http;

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// A self-signed certificate and its key in two owner-only temporary files.
void MakeCertificate(std::string* cert_path, std::string* key_path) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  if (key == nullptr || X509_sign(x, key, EVP_sha256()) == 0) std::abort();
  char cert_tmpl[] = "/tmp/sluice-fuzz-cert-XXXXXX";
  char key_tmpl[] = "/tmp/sluice-fuzz-key-XXXXXX";
  int cfd = mkstemp(cert_tmpl), kfd = mkstemp(key_tmpl);
  if (cfd < 0 || kfd < 0) std::abort();
  FILE* cf = fdopen(cfd, "w");
  FILE* kf = fdopen(kfd, "w");
  PEM_write_X509(cf, x);
  PEM_write_PrivateKey(kf, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(cf);
  std::fclose(kf);
  X509_free(x);
  EVP_PKEY_free(key);
  *cert_path = cert_tmpl;
  *key_path = key_tmpl;
}

struct Client {
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_shutdown_t shutdown;
  uv_timer_t timer;
  SSL* ssl = nullptr;
  BIO* in = nullptr;
  BIO* out = nullptr;
  std::string payload;
  bool raw = false;
  bool close_notify = false;
  bool sent = false;
  bool shut = false;
  int open_handles = 0;
  bool done = false;

  void Write(std::string bytes) {
    if (bytes.empty() || shut) return;
    struct Req {
      uv_write_t req;
      std::string data;
    };
    auto* r = new Req{{}, std::move(bytes)};
    uv_buf_t b = uv_buf_init(r->data.data(), static_cast<unsigned>(r->data.size()));
    if (uv_write(&r->req, reinterpret_cast<uv_stream_t*>(&tcp), &b, 1,
                 [](uv_write_t* w, int) { delete reinterpret_cast<Req*>(w); }) != 0) {
      delete r;
    }
  }

  // What the TLS engine has for the server goes on the wire.
  void Pump() {
    size_t n = BIO_ctrl_pending(out);
    if (n == 0) return;
    std::string bytes(n, '\0');
    int got = BIO_read(out, bytes.data(), static_cast<int>(n));
    bytes.resize(got > 0 ? static_cast<size_t>(got) : 0);
    Write(std::move(bytes));
  }

  void HalfClose() {
    if (shut) return;
    shut = true;
    uv_shutdown(&shutdown, reinterpret_cast<uv_stream_t*>(&tcp), [](uv_shutdown_t*, int) {});
  }

  void Advance() {
    if (raw || done) return;
    if (!SSL_is_init_finished(ssl)) {
      int r = SSL_do_handshake(ssl);
      Pump();
      if (r != 1) {
        int e = SSL_get_error(ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) Finish();
        return;
      }
    }
    if (!sent) {
      sent = true;
      size_t off = 0;
      while (off < payload.size()) {
        // Records of varied sizes: the server's record reassembly and 16 KiB reads.
        size_t chunk = std::min<size_t>(payload.size() - off, 1 + (off * 7919 + 13) % 20000);
        if (SSL_write(ssl, payload.data() + off, static_cast<int>(chunk)) <= 0) break;
        off += chunk;
      }
      if (close_notify) SSL_shutdown(ssl);
      Pump();
      HalfClose();
    }
    char buf[16384];
    while (SSL_read(ssl, buf, sizeof(buf)) > 0) {
    }
  }

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
  std::unique_ptr<http::HttpServer> server;
  SSL_CTX* client_ctx = nullptr;

  Fixture() {
    uv_loop_init(&loop);
    std::string cert, key;
    MakeCertificate(&cert, &key);
    auto tls = http::TlsServerContext::Load({cert, key, ""}, "fuzz.tls");
    if (!tls.ok()) std::abort();
    unlink(cert.c_str());
    unlink(key.c_str());
    http::HttpServerOptions o;
    o.max_body_size = 64 * 1024;
    o.max_connection_output = 4096;
    o.max_buffered_bytes = 256 * 1024;
    o.request_timeout_ms = 100;
    o.idle_timeout_ms = 100;
    o.tls = *tls;
    auto s = http::HttpServer::Create(&loop, o, [](http::HttpRequest& req, http::HttpResponse* r) {
      if (req.target == "/stream") {
        r->stream = [](std::shared_ptr<http::HttpBodyWriter> w) {
          w->Write("part one ");
          w->Write(std::string(20000, 'x'));
          w->End();
        };
        return;
      }
      r->body = req.method + " " + req.target + " " + std::to_string(req.body.size()) +
                std::string(req.target.size() % 7 == 0 ? 40000 : 10, '.');
    });
    if (!s.ok() || !(*s)->Start().ok()) std::abort();
    server = std::move(*s);
    client_ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, nullptr);  // self-signed, on loopback
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
  const bool h2 = data[0] & 1;
  Client c;
  c.raw = data[0] & 2;
  c.close_notify = data[0] & 4;
  c.payload = h2 ? std::string(kPreface) : std::string();
  c.payload.append(reinterpret_cast<const char*>(data + 1), size - 1);
  c.ssl = SSL_new(f.client_ctx);
  c.in = BIO_new(BIO_s_mem());
  c.out = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(c.in, -1);
  SSL_set_bio(c.ssl, c.in, c.out);
  SSL_set_connect_state(c.ssl);
  if (h2) {
    static const unsigned char kAlpn[] = "\x02h2\x08http/1.1";
    SSL_set_alpn_protos(c.ssl, kAlpn, sizeof(kAlpn) - 1);
  }
  uv_tcp_init(&f.loop, &c.tcp);
  uv_timer_init(&f.loop, &c.timer);
  c.tcp.data = c.timer.data = c.connect.data = c.shutdown.data = &c;
  c.open_handles = 2;
  sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", f.server->port(), &addr);
  uv_timer_start(
      &c.timer, [](uv_timer_t* t) { static_cast<Client*>(t->data)->Finish(); }, 300, 0);
  uv_tcp_connect(&c.connect, &c.tcp, reinterpret_cast<sockaddr*>(&addr),
                 [](uv_connect_t* req, int st) {
                   auto* c = static_cast<Client*>(req->data);
                   if (st != 0) {
                     c->Finish();
                     return;
                   }
                   if (c->raw) {
                     c->Write(c->payload);
                     c->HalfClose();
                   } else {
                     c->Advance();  // the ClientHello
                   }
                   uv_read_start(
                       reinterpret_cast<uv_stream_t*>(&c->tcp),
                       [](uv_handle_t*, size_t, uv_buf_t* buf) {
                         static char storage[65536];
                         *buf = uv_buf_init(storage, sizeof storage);
                       },
                       [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
                         auto* c = static_cast<Client*>(s->data);
                         if (n < 0) {
                           c->Finish();
                           return;
                         }
                         if (n > 0 && !c->raw) {
                           BIO_write(c->in, buf->base, static_cast<int>(n));
                           c->Advance();
                         }
                       });
                 });
  while (c.open_handles > 0) uv_run(&f.loop, UV_RUN_ONCE);
  SSL_free(c.ssl);
  for (int i = 0; i < 20 && f.server->connection_count() > 0; ++i) uv_run(&f.loop, UV_RUN_NOWAIT);
  if (f.server->connection_count() == 0 && f.server->buffered_bytes() != 0) std::abort();
  return 0;
}
