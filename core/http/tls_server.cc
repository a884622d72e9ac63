#include "core/http/tls_server.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509err.h>

#include <cstring>

#include "core/secret_key.h"

namespace sluice::http {

namespace {

// The newest OpenSSL error as text (and the queue cleared), for messages naming a file.
std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  std::string text;
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    text = buf;
  } else {
    text = "unknown error";
  }
  ERR_clear_error();
  return text;
}

// ALPN: the client's first choice among h2 and http/1.1 by the server's order (h2 first).
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  static const unsigned char kServer[] = "\x02h2\x08http/1.1";
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, kServer, sizeof(kServer) - 1, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    // No protocol in common (a client offering only others): go on without ALPN; HTTP/1.1 or
    // the HTTP/2 preface decides as on a plaintext connection.
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

TlsServerContext::TlsServerContext(TlsServerFiles files, std::string where)
    : files_(std::move(files)), where_(std::move(where)) {}

TlsServerContext::~TlsServerContext() { SSL_CTX_free(ctx_); }

Result<std::shared_ptr<TlsServerContext>> TlsServerContext::Load(TlsServerFiles files,
                                                                 std::string where) {
  if (files.cert_file.empty() || files.key_file.empty()) {
    return InvalidArgument(where + ": cert_file and key_file are both required");
  }
  std::shared_ptr<TlsServerContext> c(new TlsServerContext(std::move(files), std::move(where)));
  RETURN_IF_ERROR(c->Build());
  return c;
}

Status TlsServerContext::Reload() { return Build(); }

Status TlsServerContext::Build() {
  auto mode = FileMode(files_.key_file);
  if (!mode.ok()) return InvalidArgument(where_ + ".key_file: " + mode.status().message());
  if ((*mode & 0004) != 0) {
    return InvalidArgument(where_ + ".key_file: " + files_.key_file +
                           " is readable by others (mode " + std::to_string((*mode >> 6) & 7) +
                           std::to_string((*mode >> 3) & 7) + std::to_string(*mode & 7) +
                           "); chmod o-r it");
  }
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return Internal(where_ + ": SSL_CTX_new: " + OpenSslError());
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> guard(ctx, SSL_CTX_free);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // No renegotiation, no session tickets keyed per process (a restart would void them anyway);
  // the server's cipher order.
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_use_certificate_chain_file(ctx, files_.cert_file.c_str()) != 1) {
    return InvalidArgument(where_ + ".cert_file: cannot load " + files_.cert_file + ": " +
                           OpenSslError());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, files_.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      return InvalidArgument(where_ + ": the key in " + files_.key_file +
                             " does not match the certificate in " + files_.cert_file);
    }
    return InvalidArgument(where_ + ".key_file: cannot load " + files_.key_file + ": " +
                           OpenSslError());
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return InvalidArgument(where_ + ": the key in " + files_.key_file +
                           " does not match the certificate in " + files_.cert_file);
  }
  if (!files_.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, files_.client_ca_file.c_str(), nullptr) != 1) {
      return InvalidArgument(where_ + ".client_ca_file: cannot load " + files_.client_ca_file +
                             ": " + OpenSslError());
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files_.client_ca_file.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  SSL_CTX_set_alpn_select_cb(ctx, SelectAlpn, nullptr);
  std::string subject;
  if (X509* cert = SSL_CTX_get0_certificate(ctx)) {
    char buf[512];
    X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
    subject = buf;
  }
  SSL_CTX_free(ctx_);
  ctx_ = guard.release();
  subject_ = std::move(subject);
  ++generation_;
  return Status::Ok();
}

SSL* TlsServerContext::NewSession() const { return SSL_new(ctx_); }

std::string AlpnSelected(const SSL* ssl) {
  const unsigned char* p = nullptr;
  unsigned int n = 0;
  SSL_get0_alpn_selected(ssl, &p, &n);
  return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), n);
}

}  // namespace sluice::http
