#include "agent/tail/record_fields.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstring>

namespace sluice::agent {
namespace {

JsonValue Str(std::string_view s, JsonAllocator& a) {
  return JsonValue(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
}

JsonValue::MemberIterator FindMember(JsonValue& obj, std::string_view name) {
  return obj.FindMember(JsonValue(rapidjson::StringRef(name.data(), name.size())));
}

bool EndsWithStar(const std::string& s) { return !s.empty() && s.back() == '*'; }

// The IPv4 and IPv6 texts found are checked by inet_pton; the patterns only find candidates.
constexpr char kIpv4[] =
    "(?<![0-9.])(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}"
    "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?![0-9]|\\.[0-9])";
constexpr char kIpv6[] =
    "(?<![0-9A-Fa-f:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:[0-9]{1,3}\\.){3}[0-9]{1,3}|"
    "[0-9A-Fa-f]{1,4})?(?![0-9A-Fa-f:])";
constexpr char kEmail[] = "[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}";
constexpr char kCard[] = "(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])";

bool Luhn(std::string_view s) {
  int sum = 0, n = 0;
  for (size_t i = s.size(); i-- > 0;) {
    if (s[i] < '0' || s[i] > '9') continue;
    int d = s[i] - '0';
    if (n++ % 2 == 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return n >= 13 && sum % 10 == 0;
}

}  // namespace

Result<FieldPath> SplitFieldPath(std::string_view dotted) {
  FieldPath path;
  if (dotted.empty()) return InvalidArgument("a field name is empty");
  size_t at = 0;
  while (at <= dotted.size()) {
    size_t dot = dotted.find('.', at);
    if (dot == std::string_view::npos) dot = dotted.size();
    if (dot == at) {
      return InvalidArgument("field \"" + std::string(dotted) +
                             "\" has an empty name between dots");
    }
    path.emplace_back(dotted.substr(at, dot - at));
    at = dot + 1;
  }
  return path;
}

JsonValue* FindField(JsonValue& root, const FieldPath& path) {
  JsonValue* cur = &root;
  for (const std::string& name : path) {
    if (!cur->IsObject()) return nullptr;
    auto it = FindMember(*cur, name);
    if (it == cur->MemberEnd()) return nullptr;
    cur = &it->value;
  }
  return cur;
}

bool ScalarText(const JsonValue& v, std::string* scratch, std::string_view* text) {
  if (v.IsString()) {
    *text = std::string_view(v.GetString(), v.GetStringLength());
    return true;
  }
  if (v.IsBool()) {
    *text = v.GetBool() ? "true" : "false";
    return true;
  }
  if (v.IsNumber()) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    v.Accept(w);
    scratch->assign(sb.GetString(), sb.GetSize());
    *text = *scratch;
    return true;
  }
  return false;
}

bool SetField(JsonValue& root, const FieldPath& path, JsonValue& value, JsonAllocator& a,
              bool overwrite) {
  JsonValue* cur = &root;
  for (size_t i = 0; i < path.size(); ++i) {
    if (!cur->IsObject()) return false;
    auto it = FindMember(*cur, path[i]);
    if (i + 1 == path.size()) {
      if (it != cur->MemberEnd()) {
        if (overwrite) it->value = value;  // moves
        return overwrite;
      }
      cur->AddMember(Str(path[i], a), value, a);
      return true;
    }
    if (it == cur->MemberEnd()) {
      cur->AddMember(Str(path[i], a), JsonValue(rapidjson::kObjectType), a);
      cur = &(cur->MemberEnd() - 1)->value;
    } else {
      cur = &it->value;
    }
  }
  return false;
}

bool RemoveField(JsonValue& root, const FieldPath& path) {
  if (path.empty()) return false;
  JsonValue* parent = &root;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    if (!parent->IsObject()) return false;
    auto it = FindMember(*parent, path[i]);
    if (it == parent->MemberEnd()) return false;
    parent = &it->value;
  }
  if (!parent->IsObject()) return false;
  auto it = FindMember(*parent, path.back());
  if (it == parent->MemberEnd()) return false;
  parent->EraseMember(it);  // keeps the order of the others
  return true;
}

Result<Modifier> Modifier::Create(const ProcessingStep& step) {
  Modifier m;
  auto pairs = [](const std::vector<std::pair<std::string, std::string>>& in, bool value,
                  std::vector<Pair>* out) -> Status {
    for (const auto& [k, v] : in) {
      Pair p;
      ASSIGN_OR_RETURN(p.from, SplitFieldPath(k));
      if (value) {
        p.value = v;
      } else {
        ASSIGN_OR_RETURN(p.to, SplitFieldPath(v));
      }
      out->push_back(std::move(p));
    }
    return Status::Ok();
  };
  RETURN_IF_ERROR(pairs(step.rename, false, &m.rename_));
  RETURN_IF_ERROR(pairs(step.hard_rename, false, &m.hard_rename_));
  RETURN_IF_ERROR(pairs(step.copy, false, &m.copy_));
  RETURN_IF_ERROR(pairs(step.hard_copy, false, &m.hard_copy_));
  RETURN_IF_ERROR(pairs(step.add, true, &m.add_));
  RETURN_IF_ERROR(pairs(step.set, true, &m.set_));
  for (const std::string& r : step.remove) {
    if (EndsWithStar(r)) {
      m.remove_prefixes_.push_back(r.substr(0, r.size() - 1));
    } else {
      ASSIGN_OR_RETURN(FieldPath p, SplitFieldPath(r));
      m.remove_.push_back(std::move(p));
    }
  }
  m.nest_under_ = step.nest_under;
  for (const std::string& k : step.nest_keys) {
    if (EndsWithStar(k)) {
      m.nest_prefixes_.push_back(k.substr(0, k.size() - 1));
    } else {
      m.nest_names_.push_back(k);
    }
  }
  if (!m.nest_under_.empty() && step.nest_keys.empty()) {
    return InvalidArgument("nest needs keys (names, or prefixes ending in *)");
  }
  if (!step.lift_key.empty()) {
    ASSIGN_OR_RETURN(m.lift_, SplitFieldPath(step.lift_key));
  }
  m.lift_prefix_ = step.lift_prefix;
  return m;
}

bool Modifier::Apply(JsonValue& root, JsonAllocator& a) const {
  if (!root.IsObject()) return false;
  bool changed = false;
  // rename and copy: from a present field to one absent (hard_: or present, replaced).
  auto move_or_copy = [&](const std::vector<Pair>& pairs, bool move, bool overwrite) {
    for (const Pair& p : pairs) {
      JsonValue* from = FindField(root, p.from);
      if (from == nullptr) continue;
      if (!overwrite && FindField(root, p.to) != nullptr) continue;
      JsonValue v;
      if (move) {
        v = *from;  // moves out; `from` is now null and removed below
        RemoveField(root, p.from);
      } else {
        v.CopyFrom(*from, a);
      }
      changed |= SetField(root, p.to, v, a, true);
    }
  };
  move_or_copy(rename_, true, false);
  move_or_copy(hard_rename_, true, true);
  move_or_copy(copy_, false, false);
  move_or_copy(hard_copy_, false, true);
  for (const Pair& p : add_) {
    JsonValue v = Str(p.value, a);
    changed |= SetField(root, p.from, v, a, false);
  }
  for (const Pair& p : set_) {
    JsonValue v = Str(p.value, a);
    changed |= SetField(root, p.from, v, a, true);
  }
  for (const FieldPath& p : remove_) changed |= RemoveField(root, p);
  if (!remove_prefixes_.empty()) {
    for (auto it = root.MemberBegin(); it != root.MemberEnd();) {
      std::string_view name(it->name.GetString(), it->name.GetStringLength());
      bool hit = false;
      for (const std::string& pre : remove_prefixes_) hit |= name.starts_with(pre);
      if (hit) {
        it = root.EraseMember(it);
        changed = true;
      } else {
        ++it;
      }
    }
  }
  if (!nest_under_.empty()) {
    JsonValue nested(rapidjson::kObjectType);
    for (auto it = root.MemberBegin(); it != root.MemberEnd();) {
      std::string_view name(it->name.GetString(), it->name.GetStringLength());
      bool hit = name != nest_under_;
      if (hit) {
        hit = false;
        for (const std::string& n : nest_names_) hit |= name == n;
        for (const std::string& pre : nest_prefixes_) hit |= name.starts_with(pre);
      }
      if (hit) {
        nested.AddMember(it->name, it->value, a);  // moves both
        it = root.EraseMember(it);
      } else {
        ++it;
      }
    }
    if (nested.MemberCount() > 0) {
      auto under = FindMember(root, nest_under_);
      if (under != root.MemberEnd() && under->value.IsObject()) {
        for (auto& m : nested.GetObject()) under->value.AddMember(m.name, m.value, a);
      } else {
        if (under != root.MemberEnd()) root.EraseMember(under);
        root.AddMember(Str(nest_under_, a), nested, a);
      }
      changed = true;
    }
  }
  if (!lift_.empty()) {
    JsonValue* obj = FindField(root, lift_);
    if (obj != nullptr && obj->IsObject()) {
      JsonValue moved;
      moved = *obj;
      RemoveField(root, lift_);
      for (auto& m : moved.GetObject()) {
        std::string name = lift_prefix_;
        name.append(m.name.GetString(), m.name.GetStringLength());
        FieldPath p{name};
        SetField(root, p, m.value, a, true);
      }
      changed = true;
    }
  }
  return changed;
}

Result<std::unique_ptr<Masker>> Masker::Create(const ProcessingStep& step) {
  std::unique_ptr<Masker> m(new Masker());
  std::string pattern;
  if (step.mask_kind == "ipv4") {
    m->kind_ = Kind::kIpv4;
    pattern = kIpv4;
  } else if (step.mask_kind == "ipv6") {
    m->kind_ = Kind::kIpv6;
    pattern = kIpv6;
  } else if (step.mask_kind == "email") {
    m->kind_ = Kind::kEmail;
    pattern = kEmail;
  } else if (step.mask_kind == "credit_card") {
    m->kind_ = Kind::kCreditCard;
    pattern = kCard;
  } else if (step.mask_kind == "pattern") {
    if (step.pattern.empty()) return InvalidArgument("mask kind pattern needs a pattern");
    m->kind_ = Kind::kPattern;
    pattern = step.pattern;
  } else {
    return InvalidArgument("mask kind \"" + step.mask_kind +
                           "\" is none of ipv4, ipv6, email, credit_card, pattern");
  }
  ASSIGN_OR_RETURN(m->re_, Regex::Compile(pattern));
  if (step.mask_with == "redact") {
    m->with_ = With::kRedact;
  } else if (step.mask_with == "prefix") {
    m->with_ = With::kPrefix;
  } else if (step.mask_with == "hash") {
    m->with_ = With::kHash;
    if (step.hash_key.empty()) return InvalidArgument("mask with hash needs a hash_secret");
  } else {
    return InvalidArgument("mask with \"" + step.mask_with + "\" is none of redact, prefix, hash");
  }
  m->replacement_ = step.replacement;
  m->keep_ = step.keep;
  if (m->with_ == With::kHash) {
    // K0: the key, hashed first when longer than SHA-256's block, zero-padded to the block.
    unsigned char k0[64] = {0};
    if (step.hash_key.size() > sizeof(k0)) {
      unsigned int n = 0;
      EVP_Digest(step.hash_key.data(), step.hash_key.size(), k0, &n, EVP_sha256(), nullptr);
    } else {
      std::memcpy(k0, step.hash_key.data(), step.hash_key.size());
    }
    unsigned char ipad[64], opad[64];
    for (int i = 0; i < 64; ++i) {
      ipad[i] = k0[i] ^ 0x36;
      opad[i] = k0[i] ^ 0x5c;
    }
    EVP_MD_CTX* inner = EVP_MD_CTX_new();
    EVP_MD_CTX* outer = EVP_MD_CTX_new();
    m->inner_ = inner;
    m->outer_ = outer;
    m->work_ = EVP_MD_CTX_new();
    if (m->work_ == nullptr || EVP_DigestInit_ex(inner, EVP_sha256(), nullptr) != 1 ||
        EVP_DigestUpdate(inner, ipad, sizeof(ipad)) != 1 ||
        EVP_DigestInit_ex(outer, EVP_sha256(), nullptr) != 1 ||
        EVP_DigestUpdate(outer, opad, sizeof(opad)) != 1) {
      return Internal("mask: SHA-256 is not available from OpenSSL");
    }
  }
  return m;
}

Masker::~Masker() {
  EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(inner_));
  EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(outer_));
  EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(work_));
}

bool Masker::Accept(std::string_view found) const {
  if (kind_ == Kind::kCreditCard) return Luhn(found);
  if (kind_ == Kind::kIpv6) {
    char buf[64];
    unsigned char addr[16];
    if (found.size() >= sizeof(buf)) return false;
    std::memcpy(buf, found.data(), found.size());
    buf[found.size()] = '\0';
    return inet_pton(AF_INET6, buf, addr) == 1;
  }
  return true;
}

void Masker::Replace(std::string_view found, std::string* out) {
  switch (with_) {
    case With::kRedact:
      out->append(replacement_);
      return;
    case With::kPrefix: {
      if (kind_ == Kind::kIpv4 || kind_ == Kind::kIpv6) {
        // Keep the first `keep` bits of the address; zero the rest.
        const int family = kind_ == Kind::kIpv4 ? AF_INET : AF_INET6;
        const int bits = kind_ == Kind::kIpv4 ? 32 : 128;
        char buf[64];
        unsigned char addr[16];
        std::memcpy(buf, found.data(), found.size());
        buf[found.size()] = '\0';
        if (inet_pton(family, buf, addr) != 1) {
          out->append(replacement_);
          return;
        }
        for (int b = std::max(keep_, 0); b < bits; ++b) addr[b / 8] &= ~(0x80u >> (b % 8));
        char text[INET6_ADDRSTRLEN];
        if (inet_ntop(family, addr, text, sizeof(text)) == nullptr) {
          out->append(replacement_);
          return;
        }
        out->append(text);
        return;
      }
      out->append(found.substr(0, std::min<size_t>(found.size(), static_cast<size_t>(keep_))));
      out->append(replacement_);
      return;
    }
    case With::kHash: {
      unsigned char inner[EVP_MAX_MD_SIZE], md[EVP_MAX_MD_SIZE];
      unsigned int inner_len = 0, len = 0;
      auto* w = static_cast<EVP_MD_CTX*>(work_);
      EVP_MD_CTX_copy_ex(w, static_cast<EVP_MD_CTX*>(inner_));
      EVP_DigestUpdate(w, found.data(), found.size());
      EVP_DigestFinal_ex(w, inner, &inner_len);
      EVP_MD_CTX_copy_ex(w, static_cast<EVP_MD_CTX*>(outer_));
      EVP_DigestUpdate(w, inner, inner_len);
      EVP_DigestFinal_ex(w, md, &len);
      static constexpr char kHex[] = "0123456789abcdef";
      for (unsigned i = 0; i < 16 && i < len; ++i) {
        out->push_back(kHex[md[i] >> 4]);
        out->push_back(kHex[md[i] & 15]);
      }
      return;
    }
  }
}

bool Masker::Apply(std::string_view in, std::string* out) {
  size_t from = 0, copied = 0, b = 0, e = 0;
  bool any = false;
  while (from <= in.size() && re_->Find(in, from, &b, &e)) {
    if (e == b) {  // an empty match finds nothing to mask
      from = b + 1;
      continue;
    }
    std::string_view found = in.substr(b, e - b);
    if (!Accept(found)) {
      from = b + 1;
      continue;
    }
    if (!any) {
      out->clear();
      any = true;
    }
    out->append(in.substr(copied, b - copied));
    Replace(found, out);
    copied = from = e;
  }
  if (!any) return false;
  out->append(in.substr(copied));
  return true;
}

bool Masker::ApplyJson(std::string_view in, std::string* out) {
  if (!Apply(in, &whole_)) return false;  // the common case: one pass, nothing found
  out->clear();
  bool any = false;
  for (size_t i = 0; i < in.size();) {
    const char c = in[i];
    size_t end = i;
    bool string = c == '"';
    if (string) {
      end = i + 1;
      while (end < in.size() && in[end] != '"') end += in[end] == '\\' ? 2 : 1;
      end = std::min(end + 1, in.size());
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      while (end < in.size() && (std::strchr("0123456789+-.eE", in[end]) != nullptr)) ++end;
    } else {
      out->push_back(c);
      ++i;
      continue;
    }
    std::string_view token = in.substr(i, end - i);
    std::string_view inner =
        string ? token.substr(1, token.size() >= 2 ? token.size() - 2 : 0) : token;
    if (Apply(inner, &piece_)) {
      any = true;
      out->push_back('"');
      out->append(piece_);
      out->push_back('"');
    } else {
      out->append(token);
    }
    i = end;
  }
  return any;
}

}  // namespace sluice::agent
