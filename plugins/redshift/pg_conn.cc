#include "plugins/redshift/pg_conn.h"

#include <libpq-fe.h>

#include <string>

namespace sluice::redshift {

PgResult::Kind ClassifySqlState(std::string_view s, bool* loud) {
  *loud = false;
  std::string_view cls = s.substr(0, 2);
  if (cls == "22" || cls == "23") return PgResult::Kind::kReject;
  if (cls == "28" || cls == "42" || cls == "3D" || cls == "3F") {
    *loud = true;
    return PgResult::Kind::kRetry;
  }
  return PgResult::Kind::kRetry;
}

PgConn::~PgConn() { Close(); }

void PgConn::Close() {
  if (conn_) PQfinish(conn_);
  conn_ = nullptr;
}

PgResult PgConn::ConnectionLost(std::string_view what) {
  PgResult r;
  r.kind = PgResult::Kind::kRetry;
  r.message = std::string(what) + ": " + (conn_ ? PQerrorMessage(conn_) : "no connection");
  while (!r.message.empty() && r.message.back() == '\n') r.message.pop_back();
  Close();
  return r;
}

PgResult PgConn::Connect() {
  if (conn_ && PQstatus(conn_) == CONNECTION_OK) return {};
  Close();
  std::string timeout =
      std::to_string(std::max<int64_t>(1, (options_.connect_timeout_ms + 999) / 1000));
  std::string opts = options_.statement_timeout_ms > 0
                         ? "-c statement_timeout=" + std::to_string(options_.statement_timeout_ms)
                         : "";
  // dbname is expanded as a conninfo string; the keywords after it override its values.
  const char* keys[] = {"dbname",  "sslmode",  "connect_timeout", "application_name",
                        "options", "password", "sslrootcert",     nullptr};
  const char* vals[] = {options_.conninfo.c_str(),
                        options_.sslmode.c_str(),
                        timeout.c_str(),
                        "sluice",
                        opts.empty() ? nullptr : opts.c_str(),
                        options_.password.empty() ? nullptr : options_.password.c_str(),
                        options_.sslrootcert.empty() ? nullptr : options_.sslrootcert.c_str(),
                        nullptr};
  conn_ = PQconnectdbParams(keys, vals, 1);
  if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
    PgResult r = ConnectionLost("connect");
    // Authentication and certificate failures are our configuration: loud.
    if (r.message.find("certificate") != std::string::npos ||
        r.message.find("SSL") != std::string::npos ||
        r.message.find("password") != std::string::npos ||
        r.message.find("authentication") != std::string::npos ||
        r.message.find("does not exist") != std::string::npos) {
      r.loud = true;
    }
    return r;
  }
  return {};
}

PgResult PgConn::FromResult(void* p) {
  PGresult* res = static_cast<PGresult*>(p);
  PgResult r;
  ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    PQclear(res);
    return r;
  }
  if (!res || PQstatus(conn_) != CONNECTION_OK) {
    if (res) PQclear(res);
    return ConnectionLost("connection lost");
  }
  const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  const char* detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
  const char* context = PQresultErrorField(res, PG_DIAG_CONTEXT);
  r.sqlstate = state ? state : "";
  r.message = primary ? primary : PQresultErrorMessage(res);
  if (detail) r.message += std::string(" (") + detail + ")";
  r.context = context ? context : "";
  r.kind = ClassifySqlState(r.sqlstate, &r.loud);
  PQclear(res);
  return r;
}

PgResult PgConn::Exec(const std::string& sql) {
  PgResult c = Connect();
  if (!c.ok()) return c;
  return FromResult(PQexec(conn_, sql.c_str()));
}

PgResult PgConn::CopyIn(const std::string& sql, std::string_view data) {
  PgResult c = Connect();
  if (!c.ok()) return c;
  PGresult* res = PQexec(conn_, sql.c_str());
  if (!res || PQresultStatus(res) != PGRES_COPY_IN) return FromResult(res);
  PQclear(res);
  // One call per 1 MiB: libpq copies into its output buffer and flushes as it fills.
  constexpr size_t kChunk = 1 << 20;
  for (size_t off = 0; off < data.size(); off += kChunk) {
    size_t n = std::min(kChunk, data.size() - off);
    if (PQputCopyData(conn_, data.data() + off, static_cast<int>(n)) != 1) {
      return ConnectionLost("COPY data");
    }
  }
  if (PQputCopyEnd(conn_, nullptr) != 1) return ConnectionLost("COPY end");
  PgResult r;
  bool first = true;
  while (PGresult* end = PQgetResult(conn_)) {
    PgResult one = FromResult(end);
    if (first || (r.ok() && !one.ok())) r = std::move(one);
    first = false;
    if (!conn_) break;
  }
  if (first) return ConnectionLost("COPY result");
  return r;
}

}  // namespace sluice::redshift
