#include "plugins/firehose/firehose_protocol.h"

#include "core/base64.h"
#include "core/json.h"

namespace sluice::firehose {

std::vector<sink::CallRange> PlanCalls(const std::vector<BatchEntry>& entries, bool newline,
                                       size_t max_records, size_t max_bytes) {
  return sink::PlanCalls(entries.size(), max_records, max_bytes,
                         [&](size_t i) { return entries[i].data.size() + (newline ? 1 : 0); });
}

Status CheckRecord(std::string_view data, bool newline) {
  size_t size = data.size() + (newline ? 1 : 0);
  if (size <= kMaxRecordBytes) return Status::Ok();
  return InvalidArgument(std::to_string(size) +
                         " bytes (Firehose takes at most 1,000 KiB: 1024000)");
}

void AppendPutRecordBatchBody(std::string_view delivery_stream,
                              const std::vector<BatchEntry>& entries, sink::CallRange range,
                              bool newline, std::string* out) {
  size_t need = 64 + delivery_stream.size();
  for (size_t i = range.first; i < range.first + range.count; ++i) {
    need += 12 + Base64EncodedSize(entries[i].data.size() + 1);
  }
  out->reserve(out->size() + need);
  out->append("{\"DeliveryStreamName\":");
  AppendJsonString(delivery_stream, out);
  out->append(",\"Records\":[");
  std::string line;
  for (size_t i = range.first; i < range.first + range.count; ++i) {
    if (i != range.first) out->push_back(',');
    out->append("{\"Data\":\"");
    if (newline) {
      // The record and its newline are one base64 text: encode the whole 3-byte groups of the
      // record in place, and only its last (up to 2) bytes with the newline.
      std::string_view d = entries[i].data;
      size_t whole = d.size() / 3 * 3;
      Base64Append(d.substr(0, whole), out);
      line.assign(d.substr(whole));
      line.push_back('\n');
      Base64Append(line, out);
    } else {
      Base64Append(entries[i].data, out);
    }
    out->append("\"}");
  }
  out->append("]}");
}

sink::AwsBatchAnswer ParsePutRecordBatchAnswer(long status, std::string_view body, size_t expected,
                                               std::string_view transport) {
  return sink::ParseAwsBatchAnswer(status, body, expected, transport, "RequestResponses",
                                   "RecordId", "Firehose");
}

}  // namespace sluice::firehose
