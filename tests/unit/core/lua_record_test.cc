#include "core/lua_record.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace sluice {
namespace {

using Action = LuaOutput::Action;
using std::chrono::milliseconds;

std::unique_ptr<LuaRecordFunction> Make(std::string code, std::string call = "cb",
                                        milliseconds budget = milliseconds(50),
                                        size_t memory = 64u << 20) {
  LuaOptions o;
  o.code = std::move(code);
  o.call = std::move(call);
  o.budget = budget;
  o.memory_limit = memory;
  auto f = LuaRecordFunction::Create(o);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  return f.ok() ? std::move(*f) : nullptr;
}

constexpr const char* kIdentity = "function cb(tag, ts, r) return 2, ts, r end";

// The record after a round trip through Lua untouched (code 2 with the same table).
std::string RoundTrip(std::string_view json) {
  auto f = Make(kIdentity);
  LuaOutput out;
  Status st = f->Call("t", 0, json, &out);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(out.action, Action::kModify);
  EXPECT_EQ(out.count, 1u);
  return out.count == 1 ? out.records[0] : "";
}

TEST(LuaRecordTest, TablesRoundTrip) {
  EXPECT_EQ(RoundTrip(R"({"a":1,"b":"x","c":true,"d":false})"),
            R"({"a":1,"b":"x","c":true,"d":false})");
  EXPECT_EQ(RoundTrip(R"({"n":{"m":{"k":[1,2,{"z":null}]}},"e":[]})"),
            R"({"n":{"m":{"k":[1,2,{"z":null}]}},"e":{}})");  // an empty table is an object
  EXPECT_EQ(RoundTrip(R"({"i":-9223372036854775808,"j":9223372036854775807,"f":1.5,"g":3.0})"),
            R"({"i":-9223372036854775808,"j":9223372036854775807,"f":1.5,"g":3.0})");
  EXPECT_EQ(RoundTrip(R"({"big":18446744073709551615})"), R"({"big":18446744073709553000.0})");
  EXPECT_EQ(RoundTrip(R"({"u":"h\u00e9llo \u2603 \ud83d\ude00","q":"a\"b\\c\n"})"),
            "{\"u\":\"h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80\",\"q\":\"a\\\"b\\\\c\\n\"}");
  EXPECT_EQ(RoundTrip(R"({"z":null,"arr":[null,null]})"), R"({"z":null,"arr":[null,null]})");
  // Whitespace around the object is fine; the top-level keys keep their order.
  EXPECT_EQ(RoundTrip(" {\"z\":1,\"y\":2,\"x\":3,\"w\":4}\n"), R"({"z":1,"y":2,"x":3,"w":4})");
  // A key given twice is written once, with the last value (a long key too).
  const std::string long_key(50, 'k');
  EXPECT_EQ(RoundTrip(R"({"a":1,"b":2,"a":3})"), R"({"a":3,"b":2})");
  EXPECT_EQ(RoundTrip("{\"" + long_key + "\":1,\"b\":2,\"" + long_key + "\":3}"),
            "{\"" + long_key + "\":3,\"b\":2}");
}

TEST(LuaRecordTest, ANonObjectRecordIsALogField) {
  EXPECT_EQ(RoundTrip("plain line"), R"({"log":"plain line"})");
  EXPECT_EQ(RoundTrip("[1,2]"), R"({"log":"[1,2]"})");
  EXPECT_EQ(RoundTrip(R"({"broken":)"), R"({"log":"{\"broken\":"})");
  EXPECT_EQ(RoundTrip(R"({"a":1} trailing)"), R"({"log":"{\"a\":1} trailing"})");
}

TEST(LuaRecordTest, ValuesAreTypedInLua) {
  auto f = Make(R"(
function cb(tag, ts, r)
  local out = {
    tag = tag, ts = ts,
    int = math.type(r.i), float = math.type(r.f), str = type(r.s), bool = type(r.b),
    isnull = r.z == null, nested = r.o.p[2], len = #r.o.p, log = r.log,
  }
  return 2, ts, out
end)");
  LuaOutput out;
  ASSERT_TRUE(f->Call("app", 1767312000123,
                      R"({"i":1,"f":1.25,"s":"x","b":true,"z":null,"o":{"p":[5,6,7]}})", &out)
                  .ok());
  // Keys the script makes follow Lua's order: compare as a set.
  const std::string& r = out.records[0];
  for (const char* part : {R"("tag":"app")", R"("ts":1767312000.123)", R"("int":"integer")",
                           R"("float":"float")", R"("str":"string")", R"("bool":"boolean")",
                           R"("isnull":true)", R"("nested":6)", R"("len":3)"}) {
    EXPECT_NE(r.find(part), std::string::npos) << part << " in " << r;
  }
}

TEST(LuaRecordTest, EachReturnCode) {
  auto f = Make(R"(
function cb(tag, ts, r)
  if r.op == "drop" then return -1, ts, r end
  if r.op == "keep" then r.changed = true; return 0, 0, r end
  if r.op == "time" then r.op = "timed"; return 1, 1700000000.5, r end
  if r.op == "split" then return 2, ts, {{n = 1}, {n = 2}, {n = 3}} end
  r.added = "yes"
  r.op = nil
  return 2, 99, r
end)");
  LuaOutput out;
  ASSERT_TRUE(f->Call("t", 1000, R"({"op":"drop"})", &out).ok());
  EXPECT_EQ(out.action, Action::kDrop);
  ASSERT_TRUE(f->Call("t", 1000, R"({"op":"keep"})", &out).ok());
  EXPECT_EQ(out.action, Action::kKeep);
  EXPECT_EQ(out.timestamp_ms, 1000);
  EXPECT_EQ(out.count, 0u);
  ASSERT_TRUE(f->Call("t", 1000, R"({"op":"time","k":1})", &out).ok());
  EXPECT_EQ(out.action, Action::kModify);
  EXPECT_EQ(out.timestamp_ms, 1700000000500);
  EXPECT_EQ(out.records[0], R"({"op":"timed","k":1})");
  ASSERT_TRUE(f->Call("t", 1000, R"({"op":"mod","k":1})", &out).ok());
  EXPECT_EQ(out.action, Action::kModify);
  EXPECT_EQ(out.timestamp_ms, 1000);  // code 2 keeps the timestamp
  EXPECT_EQ(out.records[0], R"({"k":1,"added":"yes"})");
  ASSERT_TRUE(f->Call("t", 1000, R"({"op":"split"})", &out).ok());
  ASSERT_EQ(out.count, 3u);
  EXPECT_EQ(out.records[0], R"({"n":1})");
  EXPECT_EQ(out.records[2], R"({"n":3})");
  ASSERT_TRUE(f->Call("t", 1000, R"({"op":"mod"})", &out).ok());
  EXPECT_EQ(out.count, 1u);  // the vector is reused; count says how much of it is the answer
}

TEST(LuaRecordTest, AnswersOutsideTheContractFail) {
  struct Case {
    const char* body;
    const char* error;
  } cases[] = {
      {"return 7, ts, r", "returned code 7; expected -1, 0, 1 or 2"},
      {"return 'x', ts, r", "returned code a string; expected -1, 0, 1 or 2"},
      {"return nil", "returned code a nil; expected -1, 0, 1 or 2"},
      {"return 1, 'soon', r", "returned code 1 without a timestamp (seconds, a number)"},
      {"return 2, ts, 'x'", "returned code 2 with a string for the record; expected a table"},
      {"return 2, ts, {f = print}", "returned a function value, which JSON cannot hold"},
      {"return 2, ts, {[true] = 1}", "returned a table with a key that is a boolean"},
      {"local t = {}; t.self = t; return 2, ts, t", "nested deeper than 1000 levels"},
  };
  for (const Case& c : cases) {
    auto f = Make(std::string("function cb(tag, ts, r) ") + c.body + " end");
    LuaOutput out;
    Status st = f->Call("t", 0, "{}", &out);
    ASSERT_FALSE(st.ok()) << c.body;
    EXPECT_NE(st.message().find(c.error), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("lua function 'cb' (lua)"), std::string::npos) << st.message();
  }
}

TEST(LuaRecordTest, NumberKeysAndSpecialFloats) {
  auto f = Make("function cb(tag, ts, r) return 2, ts, {[1] = 'a', [3] = 'c', x = 0/0} end");
  LuaOutput out;
  ASSERT_TRUE(f->Call("t", 0, "{}", &out).ok());
  const std::string& r = out.records[0];
  EXPECT_NE(r.find(R"("1":"a")"), std::string::npos) << r;
  EXPECT_NE(r.find(R"("3":"c")"), std::string::npos) << r;
  EXPECT_NE(r.find(R"("x":null)"), std::string::npos) << r;
}

TEST(LuaRecordTest, LuaErrorsCarryTheMessageAndLine) {
  auto f = Make("function cb(tag, ts, r)\n  return 2, ts, r.missing.field\nend");
  LuaOutput out;
  Status st = f->Call("t", 0, "{}", &out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("lua:2: attempt to index a nil value (field 'missing')"),
            std::string::npos)
      << st.message();
  f = Make("function cb(tag, ts, r) error({}) end");
  st = f->Call("t", 0, "{}", &out);
  EXPECT_NE(st.message().find("(error object is a table value)"), std::string::npos)
      << st.message();
  // The state stays usable after an error.
  f = Make("function cb(tag, ts, r) if r.bad then error('boom') end return 0 end");
  EXPECT_FALSE(f->Call("t", 0, R"({"bad":1})", &out).ok());
  EXPECT_TRUE(f->Call("t", 0, R"({"bad":false})", &out).ok());
}

TEST(LuaRecordTest, LoadErrorsNameTheScriptAndLine) {
  LuaOptions o;
  o.call = "cb";
  o.code = "function cb(tag, ts, r)\n  return = 1\nend";
  auto f = LuaRecordFunction::Create(o);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().message(), "lua: lua:2: unexpected symbol near '='") << f.status().message();

  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("lua_record_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "bad.lua") << "local x = 1\nerror('no config')\n";
  o.code.clear();
  o.script = (dir / "bad.lua").string();
  f = LuaRecordFunction::Create(o);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().message(), "lua: running " + o.script + ": " + o.script + ":2: no config");
  std::ofstream(dir / "nofn.lua") << "function other() end\n";
  o.script = (dir / "nofn.lua").string();
  f = LuaRecordFunction::Create(o);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().message(), "lua: " + o.script + " defines no function 'cb'");
  o.script = (dir / "absent.lua").string();
  EXPECT_FALSE(LuaRecordFunction::Create(o).ok());
  std::filesystem::remove_all(dir);
}

TEST(LuaRecordTest, BudgetStopsAnEndlessLoop) {
  auto f = Make("function cb(tag, ts, r) if r.loop then while true do end end return 0 end", "cb",
                milliseconds(20));
  LuaOutput out;
  auto start = std::chrono::steady_clock::now();
  Status st = f->Call("t", 0, R"({"loop":true})", &out);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("exceeded the time budget of 20ms"), std::string::npos)
      << st.message();
  EXPECT_LT(took, std::chrono::seconds(2));
  EXPECT_TRUE(f->Call("t", 0, R"({"loop":false})", &out).ok());  // the next call runs again
}

TEST(LuaRecordTest, BudgetCannotBeCaughtByPcall) {
  auto f =
      Make("function cb(tag, ts, r) while true do pcall(function() while true do end end) end end",
           "cb", milliseconds(20));
  LuaOutput out;
  Status st = f->Call("t", 0, "{}", &out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("time budget"), std::string::npos) << st.message();
}

TEST(LuaRecordTest, MemoryLimitStopsAGrowingTable) {
  auto f = Make(R"(
function cb(tag, ts, r)
  if r.grow then
    local t = {}
    for i = 1, 1e9 do t[i] = string.rep("x", 64) .. i end
  end
  return 0
end)",
                "cb", milliseconds(10000), 8u << 20);
  LuaOutput out;
  Status st = f->Call("t", 0, R"({"grow":true})", &out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("exceeded the memory limit of 8 MiB"), std::string::npos)
      << st.message();
  EXPECT_TRUE(f->Call("t", 0, "{}", &out).ok());  // the garbage was collected
  EXPECT_LT(f->memory_used(), 8u << 20);
}

TEST(LuaRecordTest, SandboxHasNoOsIoOrLoaders) {
  auto f = Make(R"(
function cb(tag, ts, r)
  return 2, ts, {os = type(os), io = type(io), package = type(package), debug = type(debug),
                 require = type(require), dofile = type(dofile), loadfile = type(loadfile),
                 load = type(load), string = type(string.format), math = type(math.floor),
                 utf8 = type(utf8.char), table = type(table.concat)}
end)");
  LuaOutput out;
  ASSERT_TRUE(f->Call("t", 0, "{}", &out).ok());
  const std::string& r = out.records[0];
  for (const char* absent :
       {"os", "io", "package", "debug", "require", "dofile", "loadfile", "load"}) {
    EXPECT_NE(r.find("\"" + std::string(absent) + "\":\"nil\""), std::string::npos)
        << absent << " in " << r;
  }
  for (const char* present : {"string", "math", "utf8", "table"}) {
    EXPECT_NE(r.find("\"" + std::string(present) + "\":\"function\""), std::string::npos)
        << present << " in " << r;
  }
  f = Make("function cb(tag, ts, r) os.execute('true') return 0 end");
  Status st = f->Call("t", 0, "{}", &out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("attempt to index a nil value (global 'os')"), std::string::npos)
      << st.message();
}

TEST(LuaRecordTest, ManyCallsDoNotGrowMemory) {
  auto f = Make(R"(
function cb(tag, ts, r)
  if string.sub(r.path, 1, 7) == "/health" then return -1, ts, r end
  r.seen = true
  return 2, ts, r
end)");
  LuaOutput out;
  size_t peak = 0;
  for (int i = 0; i < 100000; ++i) {
    std::string rec = R"({"path":")" + std::string(i % 4 ? "/api/" : "/health/") +
                      std::to_string(i) + R"(","status":200})";
    ASSERT_TRUE(f->Call("t", i, rec, &out).ok());
    if (i > 1000) peak = std::max(peak, f->memory_used());
  }
  EXPECT_LT(peak, 4u << 20);
}

}  // namespace
}  // namespace sluice
