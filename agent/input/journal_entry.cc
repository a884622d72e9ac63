#include "agent/input/journal_entry.h"

#include <charconv>
#include <cstring>

#include "agent/tail/json_text.h"
#include "core/base64.h"

namespace sluice::agent {
namespace {

struct Field {
  std::string_view name;
  std::vector<std::string_view> values;
  bool binary = false;
};

bool IsBinary(std::string_view value) {
  return std::memchr(value.data(), '\0', value.size()) != nullptr || !IsValidUtf8(value);
}

// Appends `s` as a JSON string (valid UTF-8 here: binary values are base64).
void AppendString(std::string_view s, std::string* out) {
  StringOutput so(out);
  JsonWriter w(so);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

// Appends `"name":value` (or an array of values), base64 for a binary field.
void AppendField(const Field& f, std::string* out) {
  std::string key(f.name);
  if (f.binary) key += "_base64";
  AppendString(key, out);
  out->push_back(':');
  if (f.values.size() > 1) out->push_back('[');
  std::string encoded;
  for (size_t i = 0; i < f.values.size(); ++i) {
    if (i > 0) out->push_back(',');
    if (f.binary) {
      encoded.clear();
      Base64Append(f.values[i], &encoded);
      AppendString(encoded, out);
    } else {
      AppendString(f.values[i], out);
    }
  }
  if (f.values.size() > 1) out->push_back(']');
}

// The first `n` bytes of `s`, less a UTF-8 sequence cut in the middle.
std::string_view CutUtf8(std::string_view s, size_t n) {
  if (n >= s.size()) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

}  // namespace

std::string JournalUnitName(std::string_view unit) {
  std::string name(unit);
  if (name.find('.') == std::string::npos) name += ".service";
  return name;
}

std::vector<std::string> JournalMatches(const JournalOptions& opts) {
  std::vector<std::string> out;
  for (const std::string& unit : opts.units)
    out.push_back("_SYSTEMD_UNIT=" + JournalUnitName(unit));
  for (int p = 0; p <= opts.priority; ++p) out.push_back("PRIORITY=" + std::to_string(p));
  for (const auto& [field, value] : opts.matches) out.push_back(field + "=" + value);
  return out;
}

bool JournalEntryToJson(std::span<const std::string_view> fields, uint64_t realtime_us,
                        uint64_t max_size, std::string* out) {
  // Group repeated fields, in the order of their first occurrence (entries have tens of fields).
  std::vector<Field> grouped;
  grouped.reserve(fields.size());
  for (std::string_view item : fields) {
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    std::string_view name = item.substr(0, eq), value = item.substr(eq + 1);
    Field* f = nullptr;
    for (Field& g : grouped) {
      if (g.name == name) f = &g;
    }
    if (f == nullptr) f = &grouped.emplace_back(Field{name, {}, false});
    f->values.push_back(value);
    f->binary = f->binary || IsBinary(value);
  }

  out->clear();
  out->append("{\"__REALTIME_TIMESTAMP\":\"");
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), realtime_us);
  out->append(digits, end);
  out->push_back('"');
  bool cut = false;
  if (max_size < 2) max_size = 2;
  if (out->size() + 1 > max_size) {
    out->assign("{");
    cut = true;
  }
  // The common case: everything fits.
  const size_t head = out->size();
  for (const Field& f : grouped) {
    if (out->size() > 1) out->push_back(',');
    AppendField(f, out);
  }
  if (out->size() + 1 <= max_size) {
    out->push_back('}');
    return cut;
  }
  // Too long: each field whole while it fits; the one that crosses the bound is cut, leaving room
  // for the short fields after it (the metadata: _PID, _HOSTNAME, ...), which are kept.
  out->resize(head);
  cut = true;
  constexpr size_t kShort = 256;
  std::vector<std::string> pieces(grouped.size());
  for (size_t i = 0; i < grouped.size(); ++i) AppendField(grouped[i], &pieces[i]);
  size_t short_after = 0;
  for (const std::string& p : pieces) short_after += p.size() <= kShort ? p.size() + 1 : 0;
  for (size_t i = 0; i < grouped.size(); ++i) {
    const Field& f = grouped[i];
    const size_t sep = out->size() > 1 ? 1 : 0;
    if (pieces[i].size() <= kShort) short_after -= pieces[i].size() + 1;
    if (out->size() + sep + pieces[i].size() + 1 <= max_size) {
      if (sep != 0) out->push_back(',');
      out->append(pieces[i]);
      continue;
    }
    if (f.binary || f.values.size() > 1) continue;  // left out whole
    // Cut the value to what is left; escaping may make it longer, so shrink until it fits.
    const size_t used = out->size() + sep + 1 + short_after;
    if (used >= max_size) continue;
    const size_t room = max_size - used;
    size_t keep = room;
    std::string piece;
    for (int attempt = 0; attempt < 8 && keep > 0; ++attempt) {
      piece.clear();
      AppendField(Field{f.name, {CutUtf8(f.values[0], keep)}, false}, &piece);
      if (piece.size() <= room) {
        if (sep != 0) out->push_back(',');
        out->append(piece);
        break;
      }
      const size_t over = piece.size() - room;
      keep = keep > over ? keep - over : 0;
    }
  }
  out->push_back('}');
  return cut;
}

}  // namespace sluice::agent
