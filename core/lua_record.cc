#include "core/lua_record.h"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <lua.hpp>
#include <sstream>

#include "core/json.h"
#include "core/log.h"

namespace sluice {
namespace {

// The value of JSON null in Lua: the address of this byte, as a light userdata.
const char kNull = 0;
void* NullSentinel() { return const_cast<char*>(&kNull); }

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::string Millis(std::chrono::microseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "ms";
  return std::to_string(d.count()) + "us";
}

std::string Bytes(size_t n) {
  if (n % (1u << 20) == 0) return std::to_string(n >> 20) + " MiB";
  return std::to_string(n) + " bytes";
}

}  // namespace

// Everything Lua's callbacks (allocator, hook) reach through their user data or the state's
// extra space. Errors are raised (longjmp) only inside lua_pcall: converting records in and out
// runs with the memory limit lifted (an allocation cannot fail short of malloc failing, which
// panics) and uses no call that raises otherwise, so no C++ frame is ever jumped over.
struct LuaRecordFunction::Impl {
  lua_State* L = nullptr;
  std::string name;  // the script's path or the code's name
  std::string call;
  std::chrono::microseconds budget{0};
  std::string budget_text;  // "10ms", for the hook's error (no C++ temporary may be jumped over)
  size_t limit = 0;
  size_t used = 0;
  bool enforce = false;     // the memory limit applies (inside lua_pcall only)
  bool over_limit = false;  // an allocation was refused since the flag was cleared
  bool timed_out = false;
  int64_t deadline_ns = 0;
  int function_ref = LUA_NOREF;

  // JSON in: the reader (its stack kept between records) and the open containers.
  rapidjson::Reader reader;
  struct Frame {
    bool array;
    lua_Integer n;
  };
  std::vector<Frame> frames;
  std::string insitu;  // the record's copy that the reader decodes in place
  // The keys of the top-level object in input order (pointing into `insitu`), and the size of
  // the last record's top-level table, to create the next one at its size.
  std::vector<std::string_view> top_keys;
  int top_size_hint = 8;
  // The keys written by the ordered pass, as the addresses of their Lua strings.
  std::vector<const char*> written;

  // JSON out.
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> writer;

  ~Impl() {
    if (L != nullptr) lua_close(L);
  }

  static Impl* From(lua_State* L) { return *static_cast<Impl**>(lua_getextraspace(L)); }

  static void* Alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
    Impl* s = static_cast<Impl*>(ud);
    const size_t old = ptr != nullptr ? osize : 0;  // without ptr, osize is an object type
    if (nsize == 0) {
      s->used -= old;
      std::free(ptr);
      return nullptr;
    }
    if (nsize > old && s->enforce && s->used - old + nsize > s->limit) {
      s->over_limit = true;
      return nullptr;  // Lua collects garbage and tries again before it raises
    }
    void* p = std::realloc(ptr, nsize);
    if (p != nullptr) s->used = s->used - old + nsize;
    return p;
  }

  static void Hook(lua_State* L, lua_Debug*) {
    Impl* s = From(L);
    if (MonotonicNs() < s->deadline_ns) return;
    s->timed_out = true;
    // From now on every instruction raises, so a pcall inside the script cannot outlast it.
    lua_sethook(L, Hook, LUA_MASKCOUNT, 1);
    luaL_error(L, "exceeded the time budget of %s", s->budget_text.c_str());
  }

  static int Panic(lua_State* L) {
    const char* msg = lua_tostring(L, -1);
    SLUICE_LOG(Error, "lua panic").With("error", msg != nullptr ? msg : "(not a string)");
    std::abort();
  }

  // print(...): its arguments, tab-separated, as one info line of the daemon's log.
  static int Print(lua_State* L) {
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; ++i) {
      size_t len;
      const char* s = luaL_tolstring(L, i, &len);
      if (i > 1) luaL_addchar(&b, '\t');
      luaL_addvalue(&b);
      (void)s;
      (void)len;
    }
    luaL_pushresult(&b);
    size_t len;
    const char* text = lua_tolstring(L, -1, &len);
    SLUICE_LOG(Info, "lua print")
        .With("script", From(L)->name)
        .With("line", std::string_view(text, len));
    return 0;
  }

  void ArmDeadline(std::chrono::microseconds budget) {
    timed_out = false;
    over_limit = false;
    deadline_ns =
        MonotonicNs() + std::chrono::duration_cast<std::chrono::nanoseconds>(budget).count();
    lua_sethook(L, Hook, LUA_MASKCOUNT, kHookInstructions);
  }

  // The message of a failed lua_pcall (its error on the top of the stack), then the stack reset.
  std::string FailureMessage(int rc) {
    std::string msg;
    if (rc == LUA_ERRMEM) {
      msg = "exceeded the memory limit of " + Bytes(limit);
    } else if (const char* m = lua_tostring(L, -1)) {
      msg = m;
    } else {
      msg = std::string("(error object is a ") + luaL_typename(L, -1) + " value)";
    }
    lua_settop(L, 0);
    lua_sethook(L, Hook, LUA_MASKCOUNT, kHookInstructions);
    if (rc == LUA_ERRMEM || over_limit) lua_gc(L, LUA_GCCOLLECT);
    return msg;
  }

  Status Fail(std::string_view what) const {
    return InvalidArgument("lua function '" + call + "' (" + name + "): " + std::string(what));
  }

  // --- JSON text to a table on the stack (a RapidJSON SAX handler) ---
  bool Placed() {
    if (frames.empty()) return true;  // the root stays on the stack
    Frame& f = frames.back();
    if (f.array) {
      lua_rawseti(L, -2, ++f.n);
    } else {
      lua_rawset(L, -3);  // table, key, value
    }
    return true;
  }
  bool Null() {
    lua_pushlightuserdata(L, NullSentinel());
    return Placed();
  }
  bool Bool(bool b) {
    lua_pushboolean(L, b);
    return Placed();
  }
  bool Int(int i) {
    lua_pushinteger(L, i);
    return Placed();
  }
  bool Uint(unsigned u) {
    lua_pushinteger(L, u);
    return Placed();
  }
  bool Int64(int64_t i) {
    lua_pushinteger(L, i);
    return Placed();
  }
  bool Uint64(uint64_t u) {
    if (u <= uint64_t{INT64_MAX}) {
      lua_pushinteger(L, static_cast<lua_Integer>(u));
    } else {
      lua_pushnumber(L, static_cast<lua_Number>(u));
    }
    return Placed();
  }
  bool Double(double d) {
    lua_pushnumber(L, d);
    return Placed();
  }
  bool RawNumber(const char*, rapidjson::SizeType, bool) { return false; }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    lua_pushlstring(L, s, n);
    return Placed();
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    if (frames.size() == 1) top_keys.emplace_back(s, n);
    lua_pushlstring(L, s, n);
    return true;
  }
  bool StartObject() {
    if (!lua_checkstack(L, 4)) return false;
    lua_createtable(L, 0, frames.empty() ? top_size_hint : 4);
    frames.push_back({false, 0});
    return true;
  }
  bool EndObject(rapidjson::SizeType members) {
    frames.pop_back();
    if (frames.empty())
      top_size_hint = static_cast<int>(std::min<rapidjson::SizeType>(members, 64));
    return Placed();
  }
  bool StartArray() {
    if (!lua_checkstack(L, 4)) return false;
    lua_createtable(L, 4, 0);
    frames.push_back({true, 0});
    return true;
  }
  bool EndArray(rapidjson::SizeType) {
    frames.pop_back();
    return Placed();
  }

  // Pushes the record as a table: a JSON object's fields, else {log = record}.
  void PushRecord(std::string_view record) {
    top_keys.clear();
    size_t i = 0;
    while (i < record.size() &&
           (record[i] == ' ' || record[i] == '\t' || record[i] == '\r' || record[i] == '\n')) {
      ++i;
    }
    if (i < record.size() && record[i] == '{') {
      const int top = lua_gettop(L);
      frames.clear();
      // In place, on a copy: strings are unescaped where they are instead of through the
      // reader's stack. A NUL inside the record ends the parse there, short of valid JSON.
      insitu.assign(record.data() + i, record.size() - i);
      rapidjson::InsituStringStream is(insitu.data());
      // Numbers exactly (json_internal::ReaderFlags): converted by the handler, not RapidJSON.
      DepthLimitedHandler<Impl> limited(this, kMaxJsonDepth, /*exact_numbers=*/true);
      constexpr unsigned kFlags = json_internal::ReaderFlags(rapidjson::kParseFullPrecisionFlag |
                                                             rapidjson::kParseInsituFlag);
      if (!reader.Parse<kFlags>(is, limited).IsError() && lua_gettop(L) == top + 1) return;
      lua_settop(L, top);
      top_keys.clear();
    }
    lua_createtable(L, 0, 1);
    lua_pushlstring(L, record.data(), record.size());
    lua_setfield(L, -2, "log");
    top_keys.assign(1, std::string_view("log"));  // written first, as an input key would be
  }

  // --- a table (or value) on the stack to JSON text ---
  // Whether the table at `idx` has exactly the keys 1..n, n >= 1; *n receives n.
  bool IsArray(int idx, lua_Integer* n) {
    lua_Integer count = 0, max = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
      lua_pop(L, 1);
      int isint = 0;
      lua_Integer k = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &isint) : 0;
      if (!isint || k < 1) {
        lua_pop(L, 1);
        return false;
      }
      ++count;
      max = std::max(max, k);
    }
    *n = count;
    return count > 0 && max == count;
  }

  // Whether the ordered pass wrote the key `s` (as one of the first `n` input keys): a short
  // string is interned (one address for one text); a long one is compared by its bytes.
  bool Written(const char* s, size_t len, size_t n) const {
    for (const char* w : written) {
      if (w == s) return true;
    }
    if (len <= kMaxShortString) return false;
    for (size_t i = 0; i < n; ++i) {
      if (top_keys[i].size() == len && std::memcmp(top_keys[i].data(), s, len) == 0) return true;
    }
    return false;
  }
  static constexpr size_t kMaxShortString =
      40;  // LUAI_MAXSHORTLEN: longer strings are not interned

  Status WriteKey(int idx) {
    switch (lua_type(L, idx)) {
      case LUA_TSTRING: {
        size_t len;
        const char* s = lua_tolstring(L, idx, &len);
        writer.Key(s, static_cast<rapidjson::SizeType>(len));
        return Status::Ok();
      }
      case LUA_TNUMBER: {
        char buf[64];
        int len;
        if (lua_isinteger(L, idx)) {
          len = std::snprintf(buf, sizeof(buf), "%lld",
                              static_cast<long long>(lua_tointeger(L, idx)));
        } else {
          len = std::snprintf(buf, sizeof(buf), "%.14g", lua_tonumber(L, idx));
        }
        writer.Key(buf, static_cast<rapidjson::SizeType>(len));
        return Status::Ok();
      }
      default:
        return Fail(std::string("returned a table with a key that is a ") + luaL_typename(L, idx) +
                    " (keys are strings or numbers)");
    }
  }

  Status WriteValue(int idx, unsigned depth, bool top) {
    switch (lua_type(L, idx)) {
      case LUA_TBOOLEAN:
        writer.Bool(lua_toboolean(L, idx));
        return Status::Ok();
      case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
          writer.Int64(lua_tointeger(L, idx));
        } else if (double d = lua_tonumber(L, idx); std::isfinite(d)) {
          writer.Double(d);
        } else {
          writer.Null();
        }
        return Status::Ok();
      case LUA_TSTRING: {
        size_t len;
        const char* s = lua_tolstring(L, idx, &len);
        writer.String(s, static_cast<rapidjson::SizeType>(len));
        return Status::Ok();
      }
      case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NullSentinel()) {
          writer.Null();
          return Status::Ok();
        }
        break;
      case LUA_TTABLE:
        return WriteTable(idx, depth + 1, top);
      default:
        break;
    }
    return Fail(std::string("returned a ") + luaL_typename(L, idx) +
                " value, which JSON cannot hold");
  }

  Status WriteTable(int idx, unsigned depth, bool top) {
    if (depth > kMaxJsonDepth) {
      return Fail("returned tables nested deeper than " + std::to_string(kMaxJsonDepth) +
                  " levels (does a table hold itself?)");
    }
    if (!lua_checkstack(L, 4)) return Fail("returned tables nested too deep for the Lua stack");
    lua_Integer n = 0;
    if (IsArray(idx, &n)) {
      writer.StartArray();
      for (lua_Integer i = 1; i <= n; ++i) {
        lua_rawgeti(L, idx, i);
        Status st = WriteValue(lua_gettop(L), depth, false);
        lua_pop(L, 1);
        if (!st.ok()) return st;
      }
      writer.EndArray();
      return Status::Ok();
    }
    writer.StartObject();
    // The input's keys first, in its order; then the keys the script added.
    const bool ordered = top && !top_keys.empty() && top_keys.size() <= 64;
    if (ordered) {
      written.clear();
      for (size_t i = 0; i < top_keys.size(); ++i) {
        const char* s = lua_pushlstring(L, top_keys[i].data(), top_keys[i].size());
        lua_pushvalue(L, -1);
        // Absent now, or given twice in the input (the table holds the last).
        if (lua_rawget(L, idx) == LUA_TNIL || Written(s, top_keys[i].size(), i)) {
          lua_pop(L, 2);
          continue;
        }
        written.push_back(s);  // the table holds the string: its address stays valid
        Status st = WriteKey(lua_gettop(L) - 1);
        if (st.ok()) st = WriteValue(lua_gettop(L), depth, false);
        lua_pop(L, 2);
        if (!st.ok()) return st;
      }
    }
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
      const int k = lua_gettop(L) - 1;
      if (ordered && lua_type(L, k) == LUA_TSTRING) {
        size_t len;
        const char* s = lua_tolstring(L, k, &len);
        if (Written(s, len, top_keys.size())) {
          lua_pop(L, 1);
          continue;
        }
      }
      Status st = WriteKey(k);
      if (st.ok()) st = WriteValue(k + 1, depth, false);
      lua_pop(L, 1);
      if (!st.ok()) {
        lua_pop(L, 1);
        return st;
      }
    }
    writer.EndObject();
    return Status::Ok();
  }

  Status WriteRecord(int idx, std::string* out) {
    sb.Clear();
    writer.Reset(sb);
    Status st = WriteTable(idx, 1, true);
    if (st.ok()) out->assign(sb.GetString(), sb.GetSize());
    return st;
  }
};

Result<std::unique_ptr<LuaRecordFunction>> LuaRecordFunction::Create(const LuaOptions& options) {
  if (options.call.empty()) return InvalidArgument("lua: name the function to call");
  if (options.budget.count() <= 0) return InvalidArgument("lua: the time budget must be positive");
  std::string source;
  std::string chunk_name;
  std::string name;
  if (!options.script.empty()) {
    std::ifstream in(options.script, std::ios::binary);
    if (!in) return NotFound("lua: cannot read script " + options.script);
    std::ostringstream ss;
    ss << in.rdbuf();
    source = ss.str();
    name = options.script;
    chunk_name = "@" + options.script;
  } else {
    source = options.code;
    name = options.code_name;
    chunk_name = "=" + options.code_name;
  }
  std::unique_ptr<LuaRecordFunction> f(new LuaRecordFunction());
  f->impl_ = std::make_unique<Impl>();
  f->name_ = name;
  f->call_ = options.call;
  Impl& s = *f->impl_;
  s.name = name;
  s.call = options.call;
  s.budget = options.budget;
  s.budget_text = Millis(options.budget);
  s.limit = options.memory_limit;
  s.L = lua_newstate(&Impl::Alloc, &s);
  if (s.L == nullptr) return ResourceExhausted("lua: cannot create a Lua state");
  lua_State* L = s.L;
  *static_cast<Impl**>(lua_getextraspace(L)) = &s;
  lua_atpanic(L, &Impl::Panic);

  // The sandbox: base, string, table, math and utf8 only; nothing that reaches files or loads
  // code (bytecode could break the VM's invariants).
  static const luaL_Reg kLibs[] = {{LUA_GNAME, luaopen_base},
                                   {LUA_STRLIBNAME, luaopen_string},
                                   {LUA_TABLIBNAME, luaopen_table},
                                   {LUA_MATHLIBNAME, luaopen_math},
                                   {LUA_UTF8LIBNAME, luaopen_utf8}};
  for (const luaL_Reg& lib : kLibs) {
    luaL_requiref(L, lib.name, lib.func, 1);
    lua_pop(L, 1);
  }
  for (const char* unsafe : {"dofile", "loadfile", "load"}) {
    lua_pushnil(L);
    lua_setglobal(L, unsafe);
  }
  lua_pushcfunction(L, &Impl::Print);
  lua_setglobal(L, "print");
  lua_pushlightuserdata(L, NullSentinel());
  lua_setglobal(L, "null");
  lua_gc(L, LUA_GCGEN, 0, 0);  // records make short-lived tables: the generational mode suits

  // Load and run the top level, with the limits; then find the function.
  int rc = luaL_loadbufferx(L, source.data(), source.size(), chunk_name.c_str(), "t");
  if (rc != LUA_OK) {
    std::string msg = lua_tostring(L, -1) != nullptr ? lua_tostring(L, -1) : "cannot load";
    return InvalidArgument("lua: " + msg);  // "<script>:<line>: <what>"
  }
  const auto load_budget =
      std::max<std::chrono::microseconds>(options.budget, std::chrono::seconds(1));
  s.budget_text = Millis(load_budget);
  s.enforce = true;
  s.ArmDeadline(load_budget);
  rc = lua_pcall(L, 0, 0, 0);
  s.enforce = false;
  s.budget_text = Millis(options.budget);
  if (rc != LUA_OK) {
    return InvalidArgument("lua: running " + name + ": " + s.FailureMessage(rc));
  }
  lua_pushglobaltable(L);
  lua_pushlstring(L, options.call.data(), options.call.size());
  if (lua_rawget(L, -2) != LUA_TFUNCTION) {
    lua_settop(L, 0);
    return InvalidArgument("lua: " + name + " defines no function '" + options.call + "'");
  }
  s.function_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, 0);
  return f;
}

LuaRecordFunction::~LuaRecordFunction() = default;

size_t LuaRecordFunction::memory_used() const { return impl_->used; }

Status LuaRecordFunction::Call(std::string_view tag, int64_t timestamp_ms, std::string_view record,
                               LuaOutput* out) {
  Impl& s = *impl_;
  lua_State* L = s.L;
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, s.function_ref);
  lua_pushlstring(L, tag.data(), tag.size());
  lua_pushnumber(L, static_cast<lua_Number>(timestamp_ms) / 1000.0);
  s.PushRecord(record);
  s.enforce = true;
  s.ArmDeadline(s.budget);
  int rc = lua_pcall(L, 3, 3, 0);
  s.enforce = false;
  if (rc != LUA_OK) return s.Fail(s.FailureMessage(rc));

  out->timestamp_ms = timestamp_ms;
  out->count = 0;
  int isint = 0;
  lua_Integer code = lua_type(L, 1) == LUA_TNUMBER ? lua_tointegerx(L, 1, &isint) : 0;
  if (!isint || code < -1 || code > 2) {
    std::string got = lua_type(L, 1) == LUA_TNUMBER ? std::string(lua_tostring(L, 1))
                                                    : std::string("a ") + luaL_typename(L, 1);
    lua_settop(L, 0);
    return s.Fail("returned code " + got + "; expected -1, 0, 1 or 2");
  }
  if (code == -1 || code == 0) {
    out->action = code == -1 ? LuaOutput::Action::kDrop : LuaOutput::Action::kKeep;
    lua_settop(L, 0);
    return Status::Ok();
  }
  if (code == 1) {
    if (lua_type(L, 2) != LUA_TNUMBER || !std::isfinite(lua_tonumber(L, 2))) {
      lua_settop(L, 0);
      return s.Fail("returned code 1 without a timestamp (seconds, a number)");
    }
    out->timestamp_ms = std::llround(lua_tonumber(L, 2) * 1000.0);
  }
  if (lua_type(L, 3) != LUA_TTABLE) {
    std::string got = luaL_typename(L, 3);
    lua_settop(L, 0);
    return s.Fail("returned code " + std::to_string(code) + " with a " + got +
                  " for the record; expected a table");
  }
  out->action = LuaOutput::Action::kModify;
  // An array of tables: one record each (a split).
  lua_Integer n = 0;
  bool split = s.IsArray(3, &n);
  for (lua_Integer i = 1; split && i <= n; ++i) {
    split = lua_rawgeti(L, 3, i) == LUA_TTABLE;
    lua_pop(L, 1);
  }
  Status st;
  if (split) {
    if (out->records.size() < static_cast<size_t>(n)) out->records.resize(n);
    for (lua_Integer i = 1; st.ok() && i <= n; ++i) {
      lua_rawgeti(L, 3, i);
      st = s.WriteRecord(lua_gettop(L), &out->records[i - 1]);
      lua_pop(L, 1);
    }
    out->count = static_cast<size_t>(n);
  } else {
    if (out->records.empty()) out->records.resize(1);
    st = s.WriteRecord(3, &out->records[0]);
    out->count = 1;
  }
  lua_settop(L, 0);
  if (!st.ok()) out->count = 0;
  return st;
}

}  // namespace sluice
