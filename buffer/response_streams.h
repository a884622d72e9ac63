// Long-lived HTTP/2 responses read as they arrive (Kinesis SubscribeToShard), several at once,
// each on a connection of its own, driven by one thread: Start them, then call Run in a loop. Each
// stream's bytes go to a callback as they come; the callback may pause its stream (flow control
// holds the server back) until Resume.
//
// HTTP/2 is spoken over TLS (ALPN) for https:// URLs, and with prior knowledge (h2c) for
// http:// ones. TLS peer and host verification are always on.
//
// THREADING: one thread calls every method and receives every callback (inside Run).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "plugins/common/http_client.h"

namespace sluice::buffer {

class ResponseStreams {
 public:
  // `status`: the answer's HTTP status. Returns false to pause the stream: the same bytes are
  // given again after Resume.
  using OnData = std::function<bool(size_t id, long status, std::string_view bytes)>;
  // The stream ended: `transport` is ok when the server ended it (with `status`), else why it
  // failed (kUnavailable). Not called for a stream ended by Cancel.
  using OnDone = std::function<void(size_t id, long status, const Status& transport)>;

  ResponseStreams(OnData on_data, OnDone on_done);
  ~ResponseStreams();
  ResponseStreams(const ResponseStreams&) = delete;
  ResponseStreams& operator=(const ResponseStreams&) = delete;

  // Starts `request` (its body is copied) as stream `id`, which must not be active. A stream
  // lasting longer than `max_ms` ends as failed.
  Status Start(size_t id, const sink::HttpRequest& request, int64_t max_ms);
  void Cancel(size_t id);
  void Resume(size_t id);
  bool active(size_t id) const { return streams_.count(id) > 0; }
  bool paused(size_t id) const;
  size_t size() const { return streams_.size(); }

  // Moves every stream on, waiting up to `timeout_ms` for the network; calls the callbacks.
  void Run(int timeout_ms);

 private:
  struct Stream;
  static size_t Write(char* data, size_t size, size_t n, void* user);
  void End(size_t id);

  OnData on_data_;
  OnDone on_done_;
  void* multi_ = nullptr;  // CURLM*
  std::map<size_t, std::unique_ptr<Stream>> streams_;
};

}  // namespace sluice::buffer
