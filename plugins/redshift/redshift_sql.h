// The text the redshift sink sends: quoted identifiers and literals, the Redshift
// COPY ... FROM 's3://...manifest' ... MANIFEST statement, the manifest itself, and the
// PostgreSQL COPY ... FROM STDIN statement. Pure functions, table-tested.
//
// THREADING: pure; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sluice::redshift {

// "name" with embedded quotes doubled.
std::string QuoteIdent(std::string_view name);
// "schema"."table" from schema.table (each dot-separated part quoted).
std::string QuoteQualified(std::string_view dotted);
// ("a", "b") from "a, b"; "" for an empty list.
std::string ColumnList(std::string_view comma_separated);
// 'text' with quotes and backslashes doubled (Redshift reads backslash escapes in literals).
std::string QuoteRedshiftLiteral(std::string_view text);

// {"entries":[{"url":"s3://b/k","mandatory":true}]}
std::string ManifestJson(const std::vector<std::string>& urls);

struct RedshiftCopy {
  std::string table;         // schema.table or table
  std::string columns;       // "a, b" or ""
  std::string manifest_url;  // s3://bucket/key
  std::string iam_role;      // ARN; or
  std::string credentials;   // "aws_access_key_id=...;aws_secret_access_key=..."
  std::string region;        // REGION 'x' when set
  std::string copy_options;  // appended verbatim: "JSON 'auto' GZIP", "CSV", ...
};
std::string RedshiftCopySql(const RedshiftCopy& c);

enum class PgFormat { kCsv, kText, kJson };
// COPY table (columns) FROM STDIN WITH (...). kJson loads each line into one jsonb column
// (`json_column`), read as CSV with quote and delimiter bytes that valid JSON never holds raw.
std::string PostgresCopySql(std::string_view table, std::string_view columns, PgFormat format,
                            std::string_view json_column);

// The 1-based line number in a COPY error context ("COPY t, line 3, column a: ..."); 0 if none.
long CopyErrorLine(std::string_view context);

}  // namespace sluice::redshift
