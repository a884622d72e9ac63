// The `lua` transform: a Lua function called on each record in the daemon's process, as Fluent
// Bit's Lua filter (core/lua_record.h has the call's contract, the sandbox and the limits). The
// function's code -1 is Dropped, 0 is Ok with the record unchanged, 1 and 2 are Ok with the
// returned table as JSON text; a Lua error, an exceeded budget or memory limit, or an answer
// outside the contract (a split into several records among them: a delivery record stays one)
// is ProcessingFailed with the message, so the record goes to the error output. The tag is the
// delivery's name and the timestamp the record's arrival; a timestamp the function returns is
// not kept. Failures are per record and not retried: a script answers the same record the same.
//
// THREADING: one LuaTransform (one Lua state) per delivery worker; not thread-safe.
#pragma once

#include "buffer/delivery_options.h"
#include "buffer/transform.h"
#include "core/lua_record.h"

namespace sluice::buffer {

class LuaTransform final : public Transform {
 public:
  // Loads the script (its errors name the script and the line).
  static Result<std::unique_ptr<LuaTransform>> Create(const LuaTransformOptions& options,
                                                      std::string delivery);

  // The LuaOptions `options` give (exposed for PlanDelivery's check).
  static LuaOptions ToLuaOptions(const LuaTransformOptions& options);
  // The identity of the script file (device, inode, size, modification time; empty for inline
  // code or a file that is not there), for a reload to notice an edited script.
  static std::string ScriptStamp(const LuaTransformOptions& options);

 private:
  LuaTransform() = default;
  void ApplyChunk(std::span<const TransformIn> records, std::vector<TransformOut>* out) override;
  Status Invoke(const std::string&, std::string*) override {
    return Internal("a lua transform is not invoked with JSON");
  }

  std::unique_ptr<LuaRecordFunction> function_;
  LuaOutput output_;  // reused by every call
};

}  // namespace sluice::buffer
