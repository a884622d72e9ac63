// The `plugin` transform: an in-process transform plugin (SLUICE_KIND_TRANSFORM).
//
// THREADING: one PluginTransform per delivery worker; not thread-safe.
#pragma once

#include "buffer/plugin_host.h"
#include "buffer/transform.h"

namespace sluice::buffer {

// An in-process transform plugin (SLUICE_KIND_TRANSFORM) through the same ABI: on_transform
// gets the records themselves (no JSON, no base64); a non-zero answer fails the invocation, which
// is retried, then every record is ProcessingFailed.
class PluginTransform final : public Transform {
 public:
  // `instance` must be an instance of a transform plugin.
  static Result<std::unique_ptr<PluginTransform>> Create(std::unique_ptr<SinkInstance> instance,
                                                         std::string delivery, int retries,
                                                         size_t max_event_bytes = 1u << 20);

 private:
  PluginTransform() = default;
  void ApplyChunk(std::span<const TransformIn> records, std::vector<TransformOut>* out) override;
  Status Invoke(const std::string&, std::string*) override {
    return Internal("a plugin transform is not invoked with JSON");
  }

  std::unique_ptr<SinkInstance> instance_;
  std::vector<std::string> ids_;
  std::vector<sluice_record> records_;
  std::vector<sluice_transform_output> outputs_;
};

}  // namespace sluice::buffer
