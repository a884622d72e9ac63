// Builds sluice_batch structs for the sink protocol tests.
#pragma once

#include <string>
#include <vector>

#include "sluice_sink.hpp"

namespace sluice::test {

class TestBatch {
 public:
  TestBatch(std::string batch_id, std::vector<std::string> data, int64_t arrival_ms = 0)
      : id_(std::move(batch_id)), data_(std::move(data)) {
    for (size_t i = 0; i < data_.size(); ++i) ids_.push_back("0-" + std::to_string(i + 1));
    for (size_t i = 0; i < data_.size(); ++i) {
      recs_.push_back({reinterpret_cast<const uint8_t*>(data_[i].data()), data_[i].size(),
                       arrival_ms, ids_[i].c_str()});
    }
    b_.struct_size = sizeof(b_);
    b_.attempt = 1;
    b_.batch_id = id_.c_str();
    b_.content_encoding = "";
    b_.records = recs_.data();
    b_.record_count = recs_.size();
  }
  Batch view() const { return Batch(&b_); }

 private:
  std::string id_;
  std::vector<std::string> data_, ids_;
  std::vector<sluice_record> recs_;
  sluice_batch b_{};
};

}  // namespace sluice::test
