// PgConn: one libpq connection of the redshift sink, (re)connected on demand, with the
// statement timeout, sslmode and sslrootcert of the configuration, and the COPY FROM STDIN API.
//
// THREADING: not thread-safe; one PgConn per sink instance. Never logs the password.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

typedef struct pg_conn PGconn;

namespace sluice::redshift {

struct PgOptions {
  std::string conninfo;  // "host=... port=... dbname=... user=..." or a postgresql:// URI
  std::string password;  // empty: libpq's own (PGPASSWORD, ~/.pgpass)
  std::string sslmode = "verify-full";
  std::string sslrootcert;  // PEM CA bundle for verify-ca/verify-full; empty: libpq's default
  int64_t connect_timeout_ms = 10000;
  int64_t statement_timeout_ms = 60000;  // 0: none
};

// The outcome of one statement.
struct PgResult {
  enum class Kind { kOk, kRetry, kReject };
  Kind kind = Kind::kOk;
  bool loud = false;     // retry caused by our configuration (auth, table, permissions)
  std::string sqlstate;  // "22P02", ...; "" for connection failures
  std::string message;   // the server's primary message (+ detail)
  std::string context;   // PG_DIAG_CONTEXT (holds "line N" for COPY errors)
  bool ok() const { return kind == Kind::kOk; }
};

// Pure: what a SQLSTATE means for a delivery. Class 22 (data) and 23 (constraints) reject;
// 28 (auth), 42 (syntax, undefined table, privileges) and 3D/3F retry loudly; anything else
// (08 connection, 40 rollback, 53 resources, 57 operator intervention, XX) retries.
PgResult::Kind ClassifySqlState(std::string_view sqlstate, bool* loud);

class PgConn final {
 public:
  explicit PgConn(PgOptions options) : options_(std::move(options)) {}
  ~PgConn();
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  // Runs a statement without results (BEGIN, COMMIT, COPY from S3). Connects first if needed.
  PgResult Exec(const std::string& sql);
  // COPY ... FROM STDIN with `data` as the whole input. Connects first if needed.
  PgResult CopyIn(const std::string& sql, std::string_view data);
  // Drops the connection (after an error that leaves it unusable).
  void Close();

 private:
  PgResult Connect();
  PgResult FromResult(void* res);  // PGresult*
  PgResult ConnectionLost(std::string_view what);

  PgOptions options_;
  PGconn* conn_ = nullptr;
};

}  // namespace sluice::redshift
