// The exact SQL and manifest text of the redshift sink (the Redshift COPY cannot run on the
// PostgreSQL the integration tests use, so its text is pinned here).
#include "plugins/redshift/redshift_sql.h"

#include <gtest/gtest.h>

#include "plugins/redshift/pg_conn.h"

namespace sluice::redshift {
namespace {

TEST(RedshiftSqlTest, Identifiers) {
  EXPECT_EQ(QuoteIdent("events"), "\"events\"");
  EXPECT_EQ(QuoteIdent("we\"ird"), "\"we\"\"ird\"");
  EXPECT_EQ(QuoteQualified("public.Events"), "\"public\".\"Events\"");
  EXPECT_EQ(ColumnList(" a,B , c d"), "(\"a\", \"B\", \"c d\")");
  EXPECT_EQ(ColumnList(" "), "");
  EXPECT_EQ(QuoteRedshiftLiteral("it's a\\b"), "'it''s a\\\\b'");
}

TEST(RedshiftSqlTest, Manifest) {
  EXPECT_EQ(ManifestJson({"s3://b/redshift/k1", "s3://b/k\"2"}),
            "{\"entries\":[{\"url\":\"s3://b/redshift/k1\",\"mandatory\":true},"
            "{\"url\":\"s3://b/k\\\"2\",\"mandatory\":true}]}");
}

TEST(RedshiftSqlTest, CopyFromS3Manifest) {
  RedshiftCopy c;
  c.table = "analytics.events";
  c.columns = "ts,payload";
  c.manifest_url = "s3://stage/redshift/manifests/2026/01/x";
  c.iam_role = "arn:aws:iam::123456789012:role/Loader";
  c.region = "eu-west-1";
  c.copy_options = "JSON 'auto' TIMEFORMAT 'auto'";
  EXPECT_EQ(RedshiftCopySql(c),
            "COPY \"analytics\".\"events\" (\"ts\", \"payload\") FROM "
            "'s3://stage/redshift/manifests/2026/01/x' IAM_ROLE "
            "'arn:aws:iam::123456789012:role/Loader' REGION 'eu-west-1' MANIFEST JSON 'auto' "
            "TIMEFORMAT 'auto'");
  c.iam_role = "";
  c.columns = "";
  c.region = "";
  c.credentials = "aws_access_key_id=AK;aws_secret_access_key=S'K";
  c.copy_options = "CSV GZIP";
  EXPECT_EQ(RedshiftCopySql(c),
            "COPY \"analytics\".\"events\" FROM 's3://stage/redshift/manifests/2026/01/x' "
            "CREDENTIALS 'aws_access_key_id=AK;aws_secret_access_key=S''K' MANIFEST CSV GZIP");
}

TEST(RedshiftSqlTest, CopyFromStdin) {
  EXPECT_EQ(PostgresCopySql("events", "", PgFormat::kJson, "doc"),
            "COPY \"events\" (\"doc\") FROM STDIN WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER "
            "E'\\x02')");
  EXPECT_EQ(PostgresCopySql("s.t", "a, b", PgFormat::kCsv, "x"),
            "COPY \"s\".\"t\" (\"a\", \"b\") FROM STDIN WITH (FORMAT csv)");
  EXPECT_EQ(PostgresCopySql("t", "", PgFormat::kText, "x"),
            "COPY \"t\" FROM STDIN WITH (FORMAT text)");
}

TEST(RedshiftSqlTest, ErrorLineAndSqlStates) {
  EXPECT_EQ(CopyErrorLine("COPY events, line 3, column n: \"x\""), 3);
  EXPECT_EQ(CopyErrorLine("COPY events, line 12"), 12);
  EXPECT_EQ(CopyErrorLine("JSON data, line 1: not...\nCOPY Events, line 3, column doc: \"x\""), 3);
  EXPECT_EQ(CopyErrorLine(""), 0);
  bool loud = false;
  EXPECT_EQ(ClassifySqlState("22P02", &loud), PgResult::Kind::kReject);
  EXPECT_EQ(ClassifySqlState("23505", &loud), PgResult::Kind::kReject);
  EXPECT_EQ(ClassifySqlState("42P01", &loud), PgResult::Kind::kRetry);
  EXPECT_TRUE(loud);
  EXPECT_EQ(ClassifySqlState("57014", &loud), PgResult::Kind::kRetry);  // statement timeout
  EXPECT_FALSE(loud);
  EXPECT_EQ(ClassifySqlState("08006", &loud), PgResult::Kind::kRetry);
}

}  // namespace
}  // namespace sluice::redshift
