// The `redshift` sink, a record sink with two modes:
//   redshift: Firehose's way. The batch is staged as one S3 object (records joined by newlines),
//     a manifest naming it is written beside it, and COPY table FROM 's3://...manifest' ...
//     MANIFEST runs in a transaction over libpq. Data errors reject the batch with the server's
//     message; anything else is retried.
//   postgres: COPY table FROM STDIN through libpq's COPY API (csv, text, or JSON lines into a
//     jsonb column). A bad row fails the whole COPY; the sink finds its line in the error
//     context, sets that record aside (rejected with the server's message) and loads the rest
//     again, so one bad row never holds back its batch.
// Connections are opened on demand and reopened after a failure.
//
// THREADING: one RedshiftSink per host instance; Send is never re-entered.
#include <memory>
#include <string>
#include <vector>

#include "plugins/common/s3_client.h"
#include "plugins/common/sink_util.h"
#include "plugins/redshift/pg_conn.h"
#include "plugins/redshift/redshift_config.h"
#include "plugins/redshift/redshift_sql.h"
#include "sluice_sink.hpp"

namespace sluice::redshift {
namespace {

class RedshiftSink final : public sluice::Sink {
 public:
  static sluice::Created<sluice::Sink> Create(const sluice::Options& opts, sluice::Host host) {
    auto sink = std::make_unique<RedshiftSink>();
    if (Status st = ParseRedshiftConfig(opts, &sink->config_); !st.ok()) {
      return sluice::Created<sluice::Sink>::Error(st.message());
    }
    if (!sink->config_.postgres_mode) {
      Result<std::unique_ptr<s3::S3Client>> c = s3::S3Client::Create(sink->config_.s3);
      if (!c.ok()) {
        return sluice::Created<sluice::Sink>::Error("s3 staging: " + c.status().message());
      }
      sink->s3_ = std::move(c).value();
    }
    sink->pg_ = std::make_unique<PgConn>(sink->config_.pg);
    sink->host_ = host;
    const RedshiftConfig& c = sink->config_;
    sink->copy_sql_ = PostgresCopySql(c.table, c.columns, c.format, c.json_column);
    return sink;
  }

  sluice::Outcome Send(const sluice::Batch& batch) override {
    return config_.postgres_mode ? SendPostgres(batch) : SendRedshift(batch);
  }

  bool Healthcheck(std::string* error) override {
    PgResult r = pg_->Exec("SELECT 1");
    if (!r.ok()) *error = "redshift: " + r.message;
    return r.ok();
  }

 private:
  // Appends record i as one line; returns how many lines it took.
  long AppendRecord(std::string_view rec, std::string* out) const {
    long lines = 1;
    size_t start = out->size();
    out->append(rec);
    if (!rec.empty() && rec.back() == '\n') out->pop_back();
    for (size_t k = start; k < out->size(); ++k) {
      char& ch = (*out)[k];
      if (ch != '\n' && ch != '\r') continue;
      // A raw line break is whitespace between JSON tokens (and invalid inside strings).
      if (config_.format == PgFormat::kJson) {
        ch = ' ';
      } else if (ch == '\n') {
        ++lines;
      }
    }
    out->push_back('\n');
    return lines;
  }

  void LogLoud(const sluice::Batch& batch, const std::string& what) {
    if (sink::LoudAttempt(batch.attempt())) {
      host_.Log(SLUICE_LOG_ERROR,
                "redshift: " + what + "; retrying until the configuration is fixed");
    }
  }

  static std::string Code(const PgResult& r) {
    return "Postgres." + (r.sqlstate.empty() ? std::string("Connection") : r.sqlstate);
  }

  sluice::Outcome SendPostgres(const sluice::Batch& batch) {
    size_t n = batch.size();
    std::vector<sluice::RecordOutcome> out(n);
    std::vector<bool> skip(n, false);
    std::vector<long> first_line(n, 0);
    int bad = 0;
    while (true) {
      data_.clear();
      long line = 1;
      size_t included = 0;
      for (size_t i = 0; i < n; ++i) {
        if (skip[i]) continue;
        first_line[i] = line;
        line += AppendRecord(batch.record(i).data, &data_);
        ++included;
      }
      if (included == 0) return sluice::Outcome::Partial(std::move(out));
      PgResult r = pg_->CopyIn(copy_sql_, data_);
      if (r.ok()) {
        host_.Count("records_loaded", included);
        return bad == 0 ? sluice::Outcome::Ok() : sluice::Outcome::Partial(std::move(out));
      }
      std::string msg = r.message + (r.context.empty() ? "" : " [" + r.context + "]");
      if (r.kind == PgResult::Kind::kReject) {
        long bad_line = CopyErrorLine(r.context);
        size_t idx = n;
        for (size_t i = 0; i < n && bad_line > 0; ++i) {
          if (!skip[i] && first_line[i] <= bad_line) idx = i;
        }
        if (idx < n && bad < config_.max_bad_rows) {
          out[idx] = sluice::RecordOutcome::Reject(Code(r) + ": " + msg);
          skip[idx] = true;
          ++bad;
          host_.Count("records_rejected", 1);
          continue;  // load the others again, without the bad row
        }
        for (size_t i = 0; i < n; ++i) {
          if (!skip[i]) out[i] = sluice::RecordOutcome::Reject(Code(r) + ": " + msg);
        }
        return sluice::Outcome::Partial(std::move(out));
      }
      if (r.loud) LogLoud(batch, "the database refuses the load (" + Code(r) + ": " + msg + ")");
      if (bad == 0) return sluice::Outcome::Retry(Code(r), msg);
      for (size_t i = 0; i < n; ++i) {
        if (!skip[i]) out[i] = sluice::RecordOutcome::Retry(Code(r) + ": " + msg);
      }
      return sluice::Outcome::Partial(std::move(out));
    }
  }

  sluice::Outcome SendRedshift(const sluice::Batch& batch) {
    data_.clear();
    for (size_t i = 0; i < batch.size(); ++i) AppendRecord(batch.record(i).data, &data_);
    std::string key = config_.s3_prefix + std::string(batch.batch_id());
    std::string manifest_key = config_.s3_prefix + "manifests/" + std::string(batch.batch_id());
    s3::S3Outcome o = s3_->Put(key, data_, {"application/octet-stream", "", {}});
    if (o.ok()) {
      std::string manifest = ManifestJson({"s3://" + config_.s3.bucket + "/" + key});
      o = s3_->Put(manifest_key, manifest, {"application/json", "", {}});
    }
    if (!o.ok()) {
      if (o.loud)
        LogLoud(batch,
                "staging bucket refuses writes (" + o.error_code + ": " + o.error_message + ")");
      if (o.action == s3::S3Outcome::Action::kReject)
        return sluice::Outcome::Reject(o.error_code, o.error_message);
      return sluice::Outcome::Retry(o.error_code, o.error_message, o.retry_after_ms);
    }
    RedshiftCopy copy;
    copy.table = config_.table;
    copy.columns = config_.columns;
    copy.manifest_url = "s3://" + config_.s3.bucket + "/" + manifest_key;
    copy.iam_role = config_.iam_role;
    copy.credentials = config_.copy_credentials;
    copy.region = config_.s3.region;
    copy.copy_options = config_.copy_options;
    PgResult r = pg_->Exec("BEGIN");
    if (r.ok()) {
      r = pg_->Exec(RedshiftCopySql(copy));
      if (r.ok()) {
        r = pg_->Exec("COMMIT");
      } else {
        (void)pg_->Exec("ROLLBACK");
      }
    }
    if (r.ok()) {
      host_.Count("records_loaded", batch.size());
      return sluice::Outcome::Ok();
    }
    if (r.kind == PgResult::Kind::kReject) return sluice::Outcome::Reject(Code(r), r.message);
    if (r.loud) LogLoud(batch, "the cluster refuses the COPY (" + Code(r) + ": " + r.message + ")");
    return sluice::Outcome::Retry(Code(r), r.message);
  }

  RedshiftConfig config_;
  std::unique_ptr<s3::S3Client> s3_;
  std::unique_ptr<PgConn> pg_;
  std::string copy_sql_;
  std::string data_;  // reused across batches
  sluice::Host host_;
};

}  // namespace
}  // namespace sluice::redshift

// The delivery policy: Firehose's Redshift destination: S3 staging ranges, COPY retried 0-7200 s
// (3600).
static constexpr sluice_delivery_policy kRedshiftPolicy = sluice::MakePolicy(
    {1 << 20, 5 << 20, 128 << 20}, {0, 300000, 900000}, {3600000, 7200000}, "redshift-failed");

SLUICE_EXPORT_SINK_WITH_POLICY(
    sluice::redshift::RedshiftSink, "redshift", SLUICE_KIND_RECORD_SINK, 0,
    sluice::redshift::kRedshiftOptions, "1.0",
    "Loads records into Amazon Redshift (staged in S3, COPY ... MANIFEST) or "
    "PostgreSQL (COPY ... FROM STDIN).",
    &kRedshiftPolicy)
