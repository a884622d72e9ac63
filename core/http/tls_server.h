// TLS for the HTTP server's listeners (the Kinesis/Firehose API and the admin endpoint):
// a certificate and key loaded from PEM files, optional client certificates (mutual TLS),
// TLS 1.2 at least, and ALPN offering h2 and http/1.1 so that clients which negotiate HTTP/2
// over TLS (the AWS SDKs' default handler) get it.
//
// Reload() reads the files again and swaps the context used for new connections; connections
// already open keep the certificate they were accepted with, and a reload that fails leaves the
// one in use in place. A private key file that others can read (mode & 0004) is refused, as
// every file holding a secret is.
//
// THREADING: Load, Reload and NewSession on the loop thread of the server(s) using it.
// OWNERSHIP: shared by the servers using it; each SSL handed out owns a reference to its context.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "core/status.h"

namespace sluice::http {

struct TlsServerFiles {
  std::string cert_file;       // PEM: the certificate, then any intermediates
  std::string key_file;        // PEM: its private key (not readable by others)
  std::string client_ca_file;  // PEM CA bundle; set: clients must present a certificate it signed
};

class TlsServerContext {
 public:
  // Loads the files. `where` names the configuration that gave them in errors ("broker.api.tls").
  static Result<std::shared_ptr<TlsServerContext>> Load(TlsServerFiles files, std::string where);
  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  // Reads the files again; new connections get the new certificate. On error the old stays.
  Status Reload();
  // A server-side SSL for one accepted connection, or nullptr (out of memory).
  SSL* NewSession() const;
  const TlsServerFiles& files() const { return files_; }
  // Successful loads, the first included (for tests and /status).
  int generation() const { return generation_; }
  // The subject of the certificate in use ("CN=..."), for logs.
  const std::string& subject() const { return subject_; }

 private:
  TlsServerContext(TlsServerFiles files, std::string where);
  Status Build();

  TlsServerFiles files_;
  std::string where_;
  SSL_CTX* ctx_ = nullptr;
  int generation_ = 0;
  std::string subject_;
};

// The protocol ALPN chose on an established connection: "h2", "http/1.1" or "" (none).
std::string AlpnSelected(const SSL* ssl);

}  // namespace sluice::http
