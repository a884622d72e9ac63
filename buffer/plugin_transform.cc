#include "buffer/plugin_transform.h"

#include "core/log.h"

namespace sluice::buffer {

Result<std::unique_ptr<PluginTransform>> PluginTransform::Create(
    std::unique_ptr<SinkInstance> instance, std::string delivery, int retries,
    size_t max_event_bytes) {
  if (!instance || !instance->plugin().transform()) {
    return InvalidArgument(
        "transform.plugin: " + (instance ? instance->plugin().name() : std::string("(none)")) +
        " is not a transform plugin");
  }
  std::unique_ptr<PluginTransform> t(new PluginTransform());
  t->instance_ = std::move(instance);
  t->delivery_ = std::move(delivery);
  t->retries_ = retries;
  t->max_event_bytes_ = max_event_bytes;
  return t;
}

void PluginTransform::ApplyChunk(std::span<const TransformIn> records,
                                 std::vector<TransformOut>* all) {
  ids_.resize(records.size());
  records_.resize(records.size());
  outputs_.resize(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    ids_[i].assign(records[i].record_id);  // NUL-terminated for the ABI
    records_[i] = {reinterpret_cast<const uint8_t*>(records[i].data.data()), records[i].data.size(),
                   records[i].arrival_ms, ids_[i].c_str()};
  }
  const size_t base = all->size();
  all->resize(base + records.size());
  TransformOut* out = all->data() + base;
  int rc = -1;
  for (int attempt = 0; attempt <= retries_ && rc != 0; ++attempt) {
    rc = instance_->Transform(records_.data(), records_.size(), outputs_.data());
    if (rc != 0) {
      SLUICE_LOG(Warn, "transform plugin failed the invocation")
          .With("delivery", delivery_)
          .With("sink", sink_)
          .With("plugin", instance_->plugin().name())
          .With("attempt", attempt + 1)
          .With("rc", rc);
    }
  }
  for (size_t i = 0; i < records.size(); ++i) {
    const sluice_transform_output& o = outputs_[i];
    if (rc != 0) {
      out[i].result = TransformOut::Result::kProcessingFailed;
      out[i].error = "transform plugin " + instance_->plugin().name() + " failed the invocation";
    } else if (o.code == SLUICE_TRANSFORM_OK) {
      out[i].result = TransformOut::Result::kOk;
      if (o.data != nullptr) out[i].data.assign(reinterpret_cast<const char*>(o.data), o.len);
    } else if (o.code == SLUICE_TRANSFORM_DROPPED) {
      out[i].result = TransformOut::Result::kDropped;
    } else {
      out[i].result = TransformOut::Result::kProcessingFailed;
      out[i].error = o.reason ? o.reason : "the transform plugin answered FAILED";
    }
  }
}

}  // namespace sluice::buffer
