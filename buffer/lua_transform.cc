#include "buffer/lua_transform.h"

#include <sys/stat.h>

namespace sluice::buffer {

std::string LuaTransform::ScriptStamp(const LuaTransformOptions& options) {
  struct stat st {};
  if (options.script.empty() || ::stat(options.script.c_str(), &st) != 0) return "";
  return options.script + " " + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
         std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

LuaOptions LuaTransform::ToLuaOptions(const LuaTransformOptions& options) {
  LuaOptions o;
  o.script = options.script;
  o.code = options.code;
  o.code_name = "transform.lua.code";
  o.call = options.call;
  o.budget = options.budget;
  o.memory_limit = options.memory_limit;
  return o;
}

Result<std::unique_ptr<LuaTransform>> LuaTransform::Create(const LuaTransformOptions& options,
                                                           std::string delivery) {
  std::unique_ptr<LuaTransform> t(new LuaTransform());
  ASSIGN_OR_RETURN(t->function_, LuaRecordFunction::Create(ToLuaOptions(options)));
  t->delivery_ = std::move(delivery);
  t->retries_ = 0;
  return t;
}

void LuaTransform::ApplyChunk(std::span<const TransformIn> records,
                              std::vector<TransformOut>* all) {
  for (const TransformIn& r : records) {
    TransformOut& o = all->emplace_back();
    Status st = function_->Call(delivery_, r.arrival_ms, r.data, &output_);
    if (!st.ok()) {
      o.error = st.message();  // result defaults to kProcessingFailed
      continue;
    }
    switch (output_.action) {
      case LuaOutput::Action::kDrop:
        o.result = TransformOut::Result::kDropped;
        break;
      case LuaOutput::Action::kKeep:
        o.result = TransformOut::Result::kOk;
        o.data.assign(r.data);
        break;
      case LuaOutput::Action::kModify:
        if (output_.count != 1) {
          o.error = "lua function '" + function_->call() + "' (" + function_->name() +
                    "): returned " + std::to_string(output_.count) +
                    " records; a transform keeps one record for one (split records in a "
                    "source's lua processing step)";
          break;
        }
        o.result = TransformOut::Result::kOk;
        o.data.assign(output_.records[0]);
        break;
    }
  }
}

}  // namespace sluice::buffer
