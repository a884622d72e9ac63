// A Lua function applied to one record at a time, as Fluent Bit's Lua filter: the record goes in
// as a Lua table, the script's function answers with a code, a timestamp and a table, and the
// table comes out as JSON text again. Used by the `lua` transform of a delivery
// (buffer/lua_transform.h) and by the `lua` processing step of a source.
//
// The call, for each record: `code, timestamp, record = <call>(tag, timestamp, record)`:
//   tag        a string (the caller's name for the flow: a delivery's or a source's)
//   timestamp  the record's time in seconds since the epoch, a float (millisecond precision)
//   record     a JSON object record as a table; any other record as {log = "<the record>"}
// and the answer (Fluent Bit's cb_filter contract):
//   code -1    drop the record
//   code  0    keep the record and its timestamp unchanged (the other values are not read)
//   code  1    replace the record and the timestamp (seconds, a number)
//   code  2    replace the record, keep the timestamp
// A replaced record is a table: a table whose keys are exactly 1..n is a JSON array, any other
// (the empty table too) an object. An array of tables splits the record into one record each.
//
// Values: JSON objects and arrays are tables; numbers are Lua integers when written without a
// fraction or exponent and within 64 bits, floats otherwise; strings are Lua strings (bytes);
// true/false are booleans; null is the light userdata `null` (a global), so that a null survives
// a round trip and `v == null` tests for it; setting a field to nil removes it. Out: a float
// that is NaN or infinite becomes null; keys that are numbers become their decimal text; keys of
// other types, and values that are functions, userdata or threads, fail the record; strings are
// written as their bytes (a script that makes invalid UTF-8 makes it into the JSON text). The
// keys of the top-level object keep the input's order (a key given twice is written once, with
// the last value); keys the script adds follow in Lua's order.
//
// The sandbox: only the base (without dofile, loadfile and load), string, table, math and utf8
// libraries; no io, os, package, debug or coroutine. `print` writes its arguments to the daemon's
// log at info. Each call has a time budget (checked every 1,000 VM instructions, so a single long
// call into a C library function such as a pattern match over a long string ends before it is
// stopped) and the Lua state a memory limit; past either the call fails and the state stays
// usable. A script is Lua source (text), never precompiled bytecode.
//
// THREADING: one LuaRecordFunction per thread; not thread-safe (one lua_State, reused by every
// call). OWNERSHIP: owns its lua_State; the LuaOutput a call fills belongs to the caller.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

struct lua_State;

namespace sluice {

struct LuaOptions {
  std::string script;  // path of the script file; or, when empty,
  std::string code;    // the source itself, named `code_name` in messages
  std::string code_name = "lua";
  std::string call;                         // the global function called for each record
  std::chrono::microseconds budget{10000};  // per call
  size_t memory_limit = 64u << 20;          // bytes the Lua state may hold
};

// What a call made of a record.
struct LuaOutput {
  enum class Action {
    kDrop,    // code -1
    kKeep,    // code 0: the caller keeps the record it passed (and its timestamp)
    kModify,  // code 1 or 2: `records` replace it
  };
  Action action = Action::kKeep;
  int64_t timestamp_ms = 0;          // the passed timestamp, or the new one (code 1)
  size_t count = 0;                  // kModify: records[0..count) hold the new records
  std::vector<std::string> records;  // JSON texts; reused between calls (never shrunk)
};

class LuaRecordFunction final {
 public:
  // Loads and runs the script once (its top level with a budget of at least one second), then
  // finds the function `call`. Errors name the script, the line and Lua's message.
  static Result<std::unique_ptr<LuaRecordFunction>> Create(const LuaOptions& options);
  ~LuaRecordFunction();
  LuaRecordFunction(const LuaRecordFunction&) = delete;
  LuaRecordFunction& operator=(const LuaRecordFunction&) = delete;

  // Calls the function on one record (JSON text, or any line) and fills *out. A Lua error, an
  // exceeded budget or memory limit, or an answer outside the contract is an InvalidArgument
  // whose message says which (and names the script); *out is then unspecified.
  [[nodiscard]] Status Call(std::string_view tag, int64_t timestamp_ms, std::string_view record,
                            LuaOutput* out);

  const std::string& name() const { return name_; }  // the script's path, or code_name
  const std::string& call() const { return call_; }
  size_t memory_used() const;

  // Per call, the VM instructions between two looks at the clock.
  static constexpr int kHookInstructions = 1000;

 private:
  LuaRecordFunction() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string name_;
  std::string call_;
};

}  // namespace sluice
