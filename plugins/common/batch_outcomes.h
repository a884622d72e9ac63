// The outcome of a batch that a record sink puts in several calls, each answered per record (an
// AwsBatchAnswer): what the kinesis and firehose sinks share. A call's results are units; a unit
// stands for one or more records of the batch (a KPL aggregate for several).
//
// A record refused alone is retried alone, after Firehose's back-off; a call that fails as a
// whole retries (or, for a malformed request, rejects) its records; records refused before any
// call are rejected. Finish() answers OK when every record was put, RETRY when none was and all
// may be retried, PARTIAL otherwise.
//
// Header-only. THREADING: one per Send.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "plugins/common/aws_json.h"
#include "sluice_sink.hpp"

namespace sluice::sink {

class BatchOutcomes {
 public:
  // `service` prefixes our own error code ("Kinesis.RecordsFailed"); `backoff` gives the wait
  // before a retry (it draws its own jitter).
  BatchOutcomes(size_t records, std::string service, std::function<uint32_t()> backoff)
      : outcomes_(records), service_(std::move(service)), backoff_(std::move(backoff)) {}

  // A record refused before any call (too large, a key the service cannot take).
  void Reject(size_t index, std::string reason) {
    outcomes_[index] = RecordOutcome::Reject(std::move(reason));
  }

  // Every record of `indices` retries with `code: message` (a failure before any call).
  void RetryAll(std::span<const size_t> indices, const std::string& code,
                const std::string& message) {
    uint32_t after = backoff_();
    for (size_t i : indices) outcomes_[i] = RecordOutcome::Retry(code + ": " + message, after);
    retry_ += indices.size();
    Whole(code, message, after);
  }

  // Applies the answer of a call of `units` units; `members(k)` is the batch indices of unit k
  // (a std::span<const size_t>). Returns the records put and the records refused alone.
  template <typename Members>
  std::pair<size_t, size_t> Apply(const AwsBatchAnswer& a, size_t units, Members members) {
    if (!a.call_ok) {
      uint32_t after = a.retry ? backoff_() : 0;
      std::string reason = a.error_code + ": " + a.error_message;
      for (size_t k = 0; k < units; ++k) {
        for (size_t i : members(k)) {
          outcomes_[i] =
              a.retry ? RecordOutcome::Retry(reason, after) : RecordOutcome::Reject(reason);
          if (a.retry) ++retry_;
        }
      }
      Whole(a.error_code, a.error_message, after);
      return {0, 0};
    }
    size_t put = 0, failed = 0;
    for (size_t k = 0; k < units; ++k) {
      const AwsBatchAnswer::Result& res = a.records[k];
      std::span<const size_t> m = members(k);
      if (res.error_code.empty()) {
        put += m.size();
        continue;
      }
      uint32_t after = backoff_();
      for (size_t i : m) {
        outcomes_[i] = RecordOutcome::Retry(res.error_code + ": " + res.error_message, after);
      }
      failed += m.size();
    }
    ok_ += put;
    retry_ += failed;
    return {put, failed};
  }

  Outcome Finish() {
    const size_t n = outcomes_.size();
    if (ok_ == n) return Outcome::Ok();
    if (retry_ == n) {
      whole_.code = SLUICE_DELIVER_RETRY;
      if (whole_.error_code.empty()) {
        whole_.error_code = service_ + ".RecordsFailed";
        whole_.error_message = n == 0 ? "" : outcomes_[0].reason;
      }
      whole_.retry_after_ms = std::max(whole_.retry_after_ms, backoff_());
      return whole_;
    }
    return Outcome::Partial(std::move(outcomes_));
  }

 private:
  void Whole(const std::string& code, const std::string& message, uint32_t after) {
    whole_.error_code = code;
    whole_.error_message = message;
    whole_.retry_after_ms = std::max(whole_.retry_after_ms, after);
  }

  std::vector<RecordOutcome> outcomes_;
  std::string service_;
  std::function<uint32_t()> backoff_;
  Outcome whole_;
  size_t ok_ = 0, retry_ = 0;
};

}  // namespace sluice::sink
