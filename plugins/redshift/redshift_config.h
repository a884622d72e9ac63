// The redshift sink's option table and its translation into the sink's settings.
#pragma once

#include <string>

#include "plugins/common/s3_client.h"
#include "plugins/redshift/pg_conn.h"
#include "plugins/redshift/redshift_sql.h"
#include "sluice_sink.hpp"

namespace sluice::redshift {

extern const sluice_option_def kRedshiftOptions[];

struct RedshiftConfig {
  bool postgres_mode = false;
  PgOptions pg;
  std::string table;
  std::string columns;
  PgFormat format = PgFormat::kJson;
  std::string json_column = "data";
  int max_bad_rows = 100;  // per batch, postgres mode
  // Redshift mode: staging in S3 and the COPY statement.
  s3::S3Config s3;
  std::string s3_prefix;
  std::string iam_role;
  std::string copy_credentials;
  std::string copy_options;
};

// Reads the validated options; false with *error set when they are inconsistent or a password
// file cannot be read.
Status ParseRedshiftConfig(const sluice::Options& opts, RedshiftConfig* config);

}  // namespace sluice::redshift
