// StdinSource (`type: stdin`): the daemon's standard input, newline framed (LineInput), until
// end of input; then what was read is put and synced, and the daemon runs on with its other
// sources. A pipe, socket or terminal is read through libuv streams, a regular file (or
// /dev/null) through uv_fs_read on the thread pool. Nothing is checkpointed: input a stopped
// daemon did not read stays in the pipe for the next reader.
//
// THREADING: loop thread only.
// OWNERSHIP: see InputSource.
#pragma once

#include <memory>

#include "agent/input/input_source.h"
#include "agent/input/line_input.h"

namespace sluice::agent {

class StdinSource final : public InputSource {
 public:
  static Result<std::unique_ptr<Source>> Create(uv_loop_t* loop, const FlowOptions& opts,
                                                std::unique_ptr<InputPublisher> publisher);
  ~StdinSource() override;
  Status Start() override;

 private:
  using InputSource::InputSource;
  void StopReading() override;
  void OnHandleClosed(UvHandle* h) override;
  void AtEnd();
  void ReadFile();
  void Resume();

  std::unique_ptr<LineInput> lines_;
  int fd_ = -1;                 // a dup of 0
  UvHandle* stream_ = nullptr;  // pipe or tty
  UvHandle* tick_ = nullptr;    // multiline flush timeout
  uv_fs_t read_req_{};
  bool reading_file_ = false;  // a uv_fs_read is in flight
  bool file_mode_ = false;
  bool paused_ = false;
  bool ended_ = false;
  std::string buf_;
};

}  // namespace sluice::agent
