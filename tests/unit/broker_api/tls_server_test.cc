// The HTTP server over TLS: handshakes with a real OpenSSL client (a blocking socket on the test
// thread, the server's loop on its own thread), ALPN, HTTP/1.1 and HTTP/2 requests through it,
// mutual TLS, refusals, and certificates reloaded without dropping open connections. The
// certificates come from tests/integration/tls/make_certs.sh.
#include "core/http/tls_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include "core/http/http_server.h"

// Client options are given by designated initializers naming only what a test sets.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace sluice::http {
namespace {

namespace fs = std::filesystem;

// The certificates, made once for the whole test program.
const fs::path& CertDir() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("sluice-tls-test-" + std::to_string(getpid()));
    std::string cmd = std::string("bash '") + SLUICE_SOURCE_DIR +
                      "/tests/integration/tls/make_certs.sh' '" + d.string() + "'";
    if (std::system(cmd.c_str()) != 0) return fs::path();
    return d;
  }();
  static const struct Cleanup {
    ~Cleanup() {
      std::error_code ec;
      if (!dir.empty()) fs::remove_all(dir, ec);
    }
  } cleanup;
  return dir;
}

std::string Cert(const char* name) { return (CertDir() / name).string(); }

// A server on its own loop thread; Post runs a function on that thread and waits for it.
class LoopServer {
 public:
  explicit LoopServer(HttpServerOptions opts) {
    uv_loop_init(&loop_);
    uv_async_init(&loop_, &async_, [](uv_async_t* a) {
      auto* self = static_cast<LoopServer*>(a->data);
      std::function<void()> fn;
      {
        std::lock_guard<std::mutex> lock(self->mu_);
        fn = std::move(self->posted_);
        self->posted_ = nullptr;
      }
      if (fn) fn();
    });
    async_.data = this;
    auto s = HttpServer::Create(&loop_, std::move(opts), [](HttpRequest& req, HttpResponse* resp) {
      resp->headers.emplace_back("content-type", "text/plain");
      resp->body = std::string(req.http2 ? "h2 " : "h1 ") + req.method + " " + req.target + " " +
                   std::to_string(req.body.size());
    });
    if (!s.ok()) {
      error_ = s.status().ToString();
      return;
    }
    server_ = std::move(*s);
    Status st = server_->Start();
    if (!st.ok()) {
      error_ = st.ToString();
      return;
    }
    port_ = server_->port();
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }

  ~LoopServer() {
    if (thread_.joinable()) {
      Post([this] {
        server_->Stop([this] { uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr); });
      });
      thread_.join();
    } else {
      if (server_) server_->Stop([] {});
      uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
      uv_run(&loop_, UV_RUN_DEFAULT);
    }
    uv_loop_close(&loop_);
  }

  void Post(std::function<void()> fn) {
    std::promise<void> done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      posted_ = [&] {
        fn();
        done.set_value();
      };
    }
    uv_async_send(&async_);
    done.get_future().wait();
  }

  int port() const { return port_; }
  const std::string& error() const { return error_; }
  HttpServer* server() { return server_.get(); }

 private:
  uv_loop_t loop_;
  uv_async_t async_;
  std::mutex mu_;
  std::function<void()> posted_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  int port_ = 0;
  std::string error_;
};

// A blocking TLS client over one TCP connection.
class Client {
 public:
  struct Options {
    std::string ca = Cert("ca.pem");
    std::string cert, key;  // a client certificate to present
    std::string alpn;       // wire-format protocol list, empty: none offered
    int max_version = 0;    // e.g. TLS1_1_VERSION to try an old one
    std::string server_name = "localhost";
  };

  Client(int port, const Options& o) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (!o.ca.empty()) SSL_CTX_load_verify_locations(ctx_, o.ca.c_str(), nullptr);
    if (!o.cert.empty()) {
      SSL_CTX_use_certificate_file(ctx_, o.cert.c_str(), SSL_FILETYPE_PEM);
      SSL_CTX_use_PrivateKey_file(ctx_, o.key.c_str(), SSL_FILETYPE_PEM);
    }
    if (o.max_version != 0) {
      SSL_CTX_set_min_proto_version(ctx_, 0);
      SSL_CTX_set_security_level(ctx_, 0);
      SSL_CTX_set_max_proto_version(ctx_, o.max_version);
    }
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return;
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, o.server_name.c_str());
    SSL_set1_host(ssl_, o.server_name.c_str());
    if (!o.alpn.empty()) {
      SSL_set_alpn_protos(ssl_, reinterpret_cast<const unsigned char*>(o.alpn.data()),
                          static_cast<unsigned>(o.alpn.size()));
    }
    connected_ = SSL_connect(ssl_) == 1;
    if (!connected_) {
      char buf[256] = "";
      ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
      error_ = buf;
    }
    ERR_clear_error();
  }

  ~Client() {
    if (ssl_) SSL_free(ssl_);
    if (fd_ >= 0) close(fd_);
    SSL_CTX_free(ctx_);
  }

  bool connected() const { return connected_; }
  const std::string& error() const { return error_; }
  std::string Alpn() const { return AlpnSelected(ssl_); }
  std::string PeerSubject() const {
    X509* c = SSL_get1_peer_certificate(ssl_);
    if (c == nullptr) return "";
    char buf[512];
    X509_NAME_oneline(X509_get_subject_name(c), buf, sizeof(buf));
    X509_free(c);
    return buf;
  }

  bool Write(const std::string& bytes) {
    return SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) ==
           static_cast<int>(bytes.size());
  }

  // Reads until `done(received)` or the connection ends; what arrived.
  std::string ReadUntil(const std::function<bool(const std::string&)>& done) {
    std::string got;
    char buf[16384];
    while (!done(got)) {
      int n = SSL_read(ssl_, buf, sizeof(buf));
      if (n <= 0) {
        peer_closed_ = true;
        break;
      }
      got.append(buf, static_cast<size_t>(n));
    }
    return got;
  }

  // One HTTP/1.1 request and its whole answer (Content-Length framed).
  std::string Get(const std::string& target) {
    if (!Write("GET " + target + " HTTP/1.1\r\nHost: localhost\r\n\r\n")) return "";
    return ReadUntil([](const std::string& r) {
      size_t head = r.find("\r\n\r\n");
      if (head == std::string::npos) return false;
      size_t cl = r.find("Content-Length: ");
      if (cl == std::string::npos) cl = r.find("content-length: ");
      if (cl == std::string::npos) return true;
      return r.size() >= head + 4 + std::stoul(r.substr(cl + 16));
    });
  }

  bool peer_closed() const { return peer_closed_; }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool connected_ = false;
  bool peer_closed_ = false;
  std::string error_;
};

class TlsServerTest : public ::testing::Test {
 public:
  void SetUp() override { ASSERT_FALSE(CertDir().empty()) << "make_certs.sh failed"; }

  static std::shared_ptr<TlsServerContext> Context(TlsServerFiles files) {
    auto c = TlsServerContext::Load(std::move(files), "broker.api.tls");
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : nullptr;
  }

  static HttpServerOptions Options(std::shared_ptr<TlsServerContext> tls) {
    HttpServerOptions o;
    o.tls = std::move(tls);
    return o;
  }
};

TEST_F(TlsServerTest, ServesHttp1OverTlsVerifiedByItsCa) {
  LoopServer s(Options(Context({Cert("server.pem"), Cert("server.key"), ""})));
  ASSERT_EQ(s.error(), "");
  Client c(s.port(), {.alpn = std::string("\x08http/1.1", 9)});
  ASSERT_TRUE(c.connected()) << c.error();
  EXPECT_EQ(c.Alpn(), "http/1.1");
  EXPECT_NE(c.PeerSubject().find("sluice test server"), std::string::npos);
  std::string r = c.Get("/hello");
  EXPECT_NE(r.find("HTTP/1.1 200"), std::string::npos) << r;
  EXPECT_NE(r.find("h1 GET /hello 0"), std::string::npos) << r;
  // Keep-alive over the same TLS session.
  r = c.Get("/again");
  EXPECT_NE(r.find("h1 GET /again 0"), std::string::npos) << r;
}

TEST_F(TlsServerTest, NegotiatesH2ByAlpnAndServesHttp2) {
  LoopServer s(Options(Context({Cert("server.pem"), Cert("server.key"), ""})));
  ASSERT_EQ(s.error(), "");
  Client c(s.port(), {.alpn = std::string("\x02h2\x08http/1.1", 12)});
  ASSERT_TRUE(c.connected()) << c.error();
  ASSERT_EQ(c.Alpn(), "h2");
  // One request through nghttp2's client session, over the TLS connection.
  struct State {
    std::string body;
    int status = 0;
    bool closed = false;
  } st;
  nghttp2_session_callbacks* cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_header_callback(
      cbs, [](nghttp2_session*, const nghttp2_frame*, const uint8_t* name, size_t namelen,
              const uint8_t* value, size_t valuelen, uint8_t, void* u) {
        if (std::string_view(reinterpret_cast<const char*>(name), namelen) == ":status") {
          static_cast<State*>(u)->status =
              std::stoi(std::string(reinterpret_cast<const char*>(value), valuelen));
        }
        return 0;
      });
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
      cbs, [](nghttp2_session*, uint8_t, int32_t, const uint8_t* data, size_t len, void* u) {
        static_cast<State*>(u)->body.append(reinterpret_cast<const char*>(data), len);
        return 0;
      });
  nghttp2_session_callbacks_set_on_stream_close_callback(
      cbs, [](nghttp2_session*, int32_t, uint32_t, void* u) {
        static_cast<State*>(u)->closed = true;
        return 0;
      });
  nghttp2_session* h2;
  nghttp2_session_client_new(&h2, cbs, &st);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_submit_settings(h2, NGHTTP2_FLAG_NONE, nullptr, 0);
  auto nv = [](const char* n, const char* v) {
    return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(n)),
                      reinterpret_cast<uint8_t*>(const_cast<char*>(v)), strlen(n), strlen(v),
                      NGHTTP2_NV_FLAG_NONE};
  };
  nghttp2_nv hdrs[] = {nv(":method", "GET"), nv(":scheme", "https"), nv(":path", "/over-h2"),
                       nv(":authority", "localhost")};
  ASSERT_GT(nghttp2_submit_request(h2, nullptr, hdrs, 4, nullptr, nullptr), 0);
  std::string out;
  const uint8_t* p;
  ssize_t n;
  while ((n = nghttp2_session_mem_send(h2, &p)) > 0)
    out.append(reinterpret_cast<const char*>(p), n);
  ASSERT_TRUE(c.Write(out));  // nghttp2 puts the client preface first
  size_t fed = 0;
  c.ReadUntil([&](const std::string& got) {
    if (got.size() > fed) {
      nghttp2_session_mem_recv(h2, reinterpret_cast<const uint8_t*>(got.data()) + fed,
                               got.size() - fed);
      fed = got.size();
      std::string more;
      while ((n = nghttp2_session_mem_send(h2, &p)) > 0) {
        more.append(reinterpret_cast<const char*>(p), n);
      }
      if (!more.empty()) c.Write(more);
    }
    return st.closed;
  });
  nghttp2_session_del(h2);
  EXPECT_EQ(st.status, 200);
  EXPECT_EQ(st.body, "h2 GET /over-h2 0");
}

TEST_F(TlsServerTest, RefusesAClientThatDoesNotTrustItsCertificate) {
  LoopServer s(Options(Context({Cert("rogue-server.pem"), Cert("rogue-server.key"), ""})));
  ASSERT_EQ(s.error(), "");
  Client c(s.port(), {});
  EXPECT_FALSE(c.connected());
  EXPECT_NE(c.error().find("certificate verify failed"), std::string::npos) << c.error();
}

TEST_F(TlsServerTest, RefusesTlsBelow12AndPlaintext) {
  LoopServer s(Options(Context({Cert("server.pem"), Cert("server.key"), ""})));
  ASSERT_EQ(s.error(), "");
  {
    Client old(s.port(), {.max_version = TLS1_1_VERSION});
    EXPECT_FALSE(old.connected());
  }
  // A plaintext request gets no HTTP answer: the bytes are not TLS.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(s.port()));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  std::string req = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  ASSERT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string got;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) got.append(buf, static_cast<size_t>(n));
  close(fd);
  EXPECT_EQ(got.find("HTTP/1.1"), std::string::npos) << got;
  uint64_t failures = 0;
  s.Post([&] { failures = s.server()->tls_handshake_failures(); });
  EXPECT_GE(failures, 2u);
}

TEST_F(TlsServerTest, MutualTlsNeedsAClientCertificateFromTheConfiguredCa) {
  LoopServer s(Options(Context({Cert("server.pem"), Cert("server.key"), Cert("ca.pem")})));
  ASSERT_EQ(s.error(), "");
  {
    Client none(s.port(), {});
    // TLS 1.3 reports the refusal on the first read, after the client's handshake finished.
    std::string r = none.connected() ? none.Get("/") : "";
    EXPECT_EQ(r.find("200"), std::string::npos) << r;
  }
  {
    Client rogue(s.port(), {.cert = Cert("rogue-client.pem"), .key = Cert("rogue-client.key")});
    std::string r = rogue.connected() ? rogue.Get("/") : "";
    EXPECT_EQ(r.find("200"), std::string::npos) << r;
  }
  Client good(s.port(), {.cert = Cert("client.pem"), .key = Cert("client.key")});
  ASSERT_TRUE(good.connected()) << good.error();
  EXPECT_NE(good.Get("/mtls").find("h1 GET /mtls 0"), std::string::npos);
}

TEST_F(TlsServerTest, ReloadServesTheNewCertificateAndKeepsOpenConnections) {
  fs::path dir = CertDir() / "reload";
  fs::create_directories(dir);
  fs::copy_file(Cert("server.pem"), dir / "cert.pem", fs::copy_options::overwrite_existing);
  fs::copy_file(Cert("server.key"), dir / "key.pem", fs::copy_options::overwrite_existing);
  auto ctx = Context({(dir / "cert.pem").string(), (dir / "key.pem").string(), ""});
  ASSERT_NE(ctx, nullptr);
  LoopServer s(Options(ctx));
  ASSERT_EQ(s.error(), "");
  Client before(s.port(), {});
  ASSERT_TRUE(before.connected()) << before.error();
  EXPECT_NE(before.PeerSubject().find("sluice test server"), std::string::npos);
  EXPECT_EQ(before.PeerSubject().find("server 2"), std::string::npos);

  fs::copy_file(Cert("server2.pem"), dir / "cert.pem", fs::copy_options::overwrite_existing);
  fs::copy_file(Cert("server2.key"), dir / "key.pem", fs::copy_options::overwrite_existing);
  Status st;
  s.Post([&] { st = ctx->Reload(); });
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(ctx->generation(), 2);

  Client after(s.port(), {});
  ASSERT_TRUE(after.connected()) << after.error();
  EXPECT_NE(after.PeerSubject().find("sluice test server 2"), std::string::npos);
  // The connection accepted before the reload still works.
  EXPECT_NE(before.Get("/still").find("h1 GET /still 0"), std::string::npos);

  // A reload that fails (a key that does not match) keeps the certificate in use.
  fs::copy_file(Cert("server.key"), dir / "key.pem", fs::copy_options::overwrite_existing);
  s.Post([&] { st = ctx->Reload(); });
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("does not match"), std::string::npos) << st.ToString();
  Client third(s.port(), {});
  ASSERT_TRUE(third.connected()) << third.error();
  EXPECT_NE(third.PeerSubject().find("sluice test server 2"), std::string::npos);
}

TEST_F(TlsServerTest, LoadNamesTheFileAndRefusesAKeyOthersCanRead) {
  auto missing =
      TlsServerContext::Load({"/nonexistent/cert.pem", Cert("server.key"), ""}, "admin.tls");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("admin.tls.cert_file"), std::string::npos);
  EXPECT_NE(missing.status().message().find("/nonexistent/cert.pem"), std::string::npos);

  fs::path open_key = CertDir() / "open.key";
  fs::copy_file(Cert("server.key"), open_key, fs::copy_options::overwrite_existing);
  chmod(open_key.c_str(), 0644);
  auto readable = TlsServerContext::Load({Cert("server.pem"), open_key.string(), ""}, "admin.tls");
  ASSERT_FALSE(readable.ok());
  EXPECT_NE(readable.status().message().find("readable by others"), std::string::npos)
      << readable.status().ToString();

  auto no_key = TlsServerContext::Load({Cert("server.pem"), "", ""}, "broker.api.tls");
  ASSERT_FALSE(no_key.ok());
  EXPECT_NE(no_key.status().message().find("cert_file and key_file"), std::string::npos);
}

}  // namespace
}  // namespace sluice::http
