#include "plugins/redshift/redshift_config.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace sluice::redshift {

const sluice_option_def kRedshiftOptions[] = {
    {"mode", SLUICE_OPT_ENUM, "redshift",
     "redshift: stage in S3 and COPY ... MANIFEST; postgres: COPY ... FROM STDIN.", 0,
     "redshift|postgres"},
    {"conninfo", SLUICE_OPT_STRING, nullptr,
     "libpq connection string or URI of the cluster (host, port, dbname, user).", 1, nullptr},
    {"password", SLUICE_SECRET(SLUICE_OPT_STRING), nullptr,
     "Password; unset: password_env, password_file, "
     "then libpq's own (PGPASSWORD, ~/.pgpass).",
     0, nullptr},
    {"password_env", SLUICE_OPT_STRING, nullptr, "Environment variable holding the password.", 0,
     nullptr},
    {"password_file", SLUICE_OPT_STRING, nullptr, "File whose first line is the password.", 0,
     nullptr},
    {"sslmode", SLUICE_OPT_ENUM, "verify-full",
     "libpq sslmode: verify-full (TLS, the server's certificate checked against sslrootcert and "
     "its name against the host), verify-ca, require (TLS, unchecked), or prefer, allow, "
     "disable (may send everything in clear; for a server on loopback).",
     0, "disable|allow|prefer|require|verify-ca|verify-full"},
    {"sslrootcert", SLUICE_OPT_STRING, "system",
     "PEM CA bundle that verify-ca and verify-full trust; system: the host's bundle "
     "(Redshift's certificates are issued by CAs in it).",
     0, nullptr},
    {"connect_timeout", SLUICE_OPT_DURATION, "10s", "Connect timeout.", 0, nullptr},
    {"statement_timeout", SLUICE_OPT_DURATION, "60s",
     "statement_timeout of the session (each COPY); 0 for none.", 0, nullptr},
    {"table", SLUICE_OPT_STRING, nullptr, "Target table, table or schema.table.", 1, nullptr},
    {"columns", SLUICE_OPT_STRING, nullptr, "Comma-separated target columns; unset: all.", 0,
     nullptr},
    {"format", SLUICE_OPT_ENUM, "json",
     "postgres mode: csv, text, or json (one JSON document a record into json_column).", 0,
     "csv|text|json"},
    {"json_column", SLUICE_OPT_STRING, "data", "postgres mode, json format: the jsonb column.", 0,
     nullptr},
    {"max_bad_rows", SLUICE_OPT_INT, "100",
     "postgres mode: bad rows set aside per batch before the rest of the batch is rejected.", 0,
     nullptr},
    {"s3_bucket", SLUICE_OPT_STRING, nullptr, "redshift mode: staging bucket.", 0, nullptr},
    {"s3_prefix", SLUICE_OPT_STRING, "redshift/", "redshift mode: staging key prefix.", 0, nullptr},
    {"s3_region", SLUICE_OPT_STRING, "us-east-1", "redshift mode: staging bucket region.", 0,
     nullptr},
    {"s3_endpoint", SLUICE_OPT_STRING, "", "redshift mode: S3 endpoint override.", 0, nullptr},
    {"s3_force_path_style", SLUICE_OPT_BOOL, "false", "redshift mode: path-style addressing.", 0,
     nullptr},
    {"s3_access_key_id", SLUICE_OPT_STRING, nullptr,
     "redshift mode: staging access key id; unset: environment, profile, instance metadata.", 0,
     nullptr},
    {"s3_secret_access_key", SLUICE_SECRET(SLUICE_OPT_STRING), nullptr,
     "redshift mode: staging secret key.", 0, nullptr},
    {"s3_session_token", SLUICE_SECRET(SLUICE_OPT_STRING), nullptr,
     "redshift mode: staging session token.", 0, nullptr},
    {"iam_role", SLUICE_OPT_STRING, nullptr, "redshift mode: IAM_ROLE of the COPY.", 0, nullptr},
    {"copy_credentials", SLUICE_SECRET(SLUICE_OPT_STRING), nullptr,
     "redshift mode: CREDENTIALS of the COPY when no iam_role (aws_access_key_id=...;...).", 0,
     nullptr},
    {"copy_options", SLUICE_OPT_STRING, "JSON 'auto'",
     "redshift mode: COPY options after MANIFEST (format, GZIP, TIMEFORMAT, ...).", 0, nullptr},
    {nullptr, SLUICE_OPT_STRING, nullptr, nullptr, 0, nullptr},
};

Status ParseRedshiftConfig(const sluice::Options& opts, RedshiftConfig* c) {
  c->postgres_mode = opts.Get("mode", "redshift") == "postgres";
  c->pg.conninfo = opts.Get("conninfo");
  c->pg.password = opts.Get("password");
  if (c->pg.password.empty() && opts.Has("password_env")) {
    const char* v = std::getenv(opts.Get("password_env").c_str());
    if (!v) {
      return InvalidArgument("password_env names " + opts.Get("password_env") +
                             ", which is not set");
    }
    c->pg.password = v;
  }
  if (c->pg.password.empty() && opts.Has("password_file")) {
    std::ifstream in(opts.Get("password_file"));
    if (!in) {
      return InvalidArgument("cannot read password_file " + opts.Get("password_file"));
    }
    std::getline(in, c->pg.password);
    while (!c->pg.password.empty() && c->pg.password.back() == '\r') c->pg.password.pop_back();
  }
  c->pg.sslmode = opts.Get("sslmode", "verify-full");
  c->pg.sslrootcert = opts.Get("sslrootcert", "system");
  if (c->pg.sslrootcert == "system") {
    // libpq 15 has no `system`: the distribution's bundle, by its usual paths.
    c->pg.sslrootcert.clear();
    for (const char* p : {"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                          "/etc/ssl/cert.pem"}) {
      if (access(p, R_OK) == 0) {
        c->pg.sslrootcert = p;
        break;
      }
    }
    if (c->pg.sslrootcert.empty() &&
        (c->pg.sslmode == "verify-ca" || c->pg.sslmode == "verify-full")) {
      return InvalidArgument("sslrootcert: no CA bundle of the system found; name one");
    }
  } else if (access(c->pg.sslrootcert.c_str(), R_OK) != 0) {
    return InvalidArgument("sslrootcert: cannot read " + c->pg.sslrootcert);
  }
  c->pg.connect_timeout_ms = opts.GetInt("connect_timeout", 10000);
  c->pg.statement_timeout_ms = opts.GetInt("statement_timeout", 60000);
  c->table = opts.Get("table");
  c->columns = opts.Get("columns");
  std::string f = opts.Get("format", "json");
  c->format = f == "csv" ? PgFormat::kCsv : f == "text" ? PgFormat::kText : PgFormat::kJson;
  c->json_column = opts.Get("json_column", "data");
  c->max_bad_rows = static_cast<int>(opts.GetInt("max_bad_rows", 100));
  if (c->table.empty()) {
    return InvalidArgument("table must not be empty");
  }
  if (c->postgres_mode) return Status::Ok();
  c->s3.bucket = opts.Get("s3_bucket");
  c->s3.region = opts.Get("s3_region", "us-east-1");
  c->s3.endpoint = opts.Get("s3_endpoint");
  c->s3.force_path_style = opts.GetBool("s3_force_path_style");
  c->s3.credentials.access_key_id = opts.Get("s3_access_key_id");
  c->s3.credentials.secret_access_key = opts.Get("s3_secret_access_key");
  c->s3.credentials.session_token = opts.Get("s3_session_token");
  c->s3_prefix = opts.Get("s3_prefix", "redshift/");
  c->iam_role = opts.Get("iam_role");
  c->copy_credentials = opts.Get("copy_credentials");
  c->copy_options = opts.Get("copy_options", "JSON 'auto'");
  if (c->s3.bucket.empty()) {
    return InvalidArgument("mode redshift needs s3_bucket (the staging bucket)");
  }
  if (c->iam_role.empty() == c->copy_credentials.empty()) {
    return InvalidArgument("mode redshift needs exactly one of iam_role and copy_credentials");
  }
  return Status::Ok();
}

}  // namespace sluice::redshift
