#include "plugins/redshift/redshift_sql.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdlib>

namespace sluice::redshift {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string QuoteQualified(std::string_view dotted) {
  std::string out;
  while (true) {
    size_t dot = dotted.find('.');
    if (!out.empty()) out.push_back('.');
    out += QuoteIdent(Trim(dotted.substr(0, dot)));
    if (dot == std::string_view::npos) break;
    dotted.remove_prefix(dot + 1);
  }
  return out;
}

std::string ColumnList(std::string_view cols) {
  if (Trim(cols).empty()) return "";
  std::string out = "(";
  bool first = true;
  while (true) {
    size_t comma = cols.find(',');
    if (!first) out += ", ";
    first = false;
    out += QuoteIdent(Trim(cols.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    cols.remove_prefix(comma + 1);
  }
  out.push_back(')');
  return out;
}

std::string QuoteRedshiftLiteral(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'' || c == '\\') out.push_back(c);
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

std::string ManifestJson(const std::vector<std::string>& urls) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("entries");
  w.StartArray();
  for (const std::string& u : urls) {
    w.StartObject();
    w.Key("url");
    w.String(u.data(), static_cast<rapidjson::SizeType>(u.size()));
    w.Key("mandatory");
    w.Bool(true);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

std::string RedshiftCopySql(const RedshiftCopy& c) {
  std::string sql = "COPY " + QuoteQualified(c.table);
  std::string cols = ColumnList(c.columns);
  if (!cols.empty()) sql += " " + cols;
  sql += " FROM " + QuoteRedshiftLiteral(c.manifest_url);
  if (!c.iam_role.empty()) {
    sql += " IAM_ROLE " + QuoteRedshiftLiteral(c.iam_role);
  } else {
    sql += " CREDENTIALS " + QuoteRedshiftLiteral(c.credentials);
  }
  if (!c.region.empty()) sql += " REGION " + QuoteRedshiftLiteral(c.region);
  sql += " MANIFEST";
  if (!Trim(c.copy_options).empty()) sql += " " + std::string(Trim(c.copy_options));
  return sql;
}

std::string PostgresCopySql(std::string_view table, std::string_view columns, PgFormat format,
                            std::string_view json_column) {
  std::string sql = "COPY " + QuoteQualified(table);
  if (format == PgFormat::kJson) {
    sql += " (" + QuoteIdent(json_column) + ")";
    return sql + " FROM STDIN WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')";
  }
  std::string cols = ColumnList(columns);
  if (!cols.empty()) sql += " " + cols;
  return sql + (format == PgFormat::kCsv ? " FROM STDIN WITH (FORMAT csv)"
                                         : " FROM STDIN WITH (FORMAT text)");
}

long CopyErrorLine(std::string_view context) {
  // Other context lines come first ("JSON data, line 1: ..."); the COPY line is the last one.
  size_t copy = context.rfind("COPY ");
  if (copy == std::string_view::npos) return 0;
  size_t p = context.find(", line ", copy);
  if (p == std::string_view::npos) return 0;
  return std::strtol(std::string(context.substr(p + 7, 20)).c_str(), nullptr, 10);
}

}  // namespace sluice::redshift
