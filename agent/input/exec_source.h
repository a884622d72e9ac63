// ExecSource (`type: exec`): runs `command` (an argv, no shell) and frames its standard output
// into records (LineInput); its standard error is logged, rate-limited and cut short. A command
// that exits is started again after restart_delay, doubled after each exit that came soon after
// its start, up to 30 s; with `interval`, the command is run that often instead (a run still
// going when the next is due delays it). Stop sends SIGTERM, then SIGKILL after 5 s.
//
// THREADING: loop thread only.
// OWNERSHIP: see InputSource. The child process is not waited for beyond the stop.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "agent/input/input_source.h"
#include "agent/input/line_input.h"

namespace sluice::agent {

class ExecSource final : public InputSource {
 public:
  static Result<std::unique_ptr<Source>> Create(uv_loop_t* loop, const FlowOptions& opts,
                                                std::unique_ptr<InputPublisher> publisher);
  Status Start() override;
  FlowStats stats() const override;

 private:
  using InputSource::InputSource;
  void StopReading() override;
  void OnHandleClosed(UvHandle* h) override;
  void Spawn();
  void ScheduleNext();
  void Resume();
  void LogStderr(std::string_view data);
  static void OnTimer(uv_timer_t* t);

  std::unique_ptr<LineInput> lines_;
  UvHandle* timer_ = nullptr;  // restart / interval / kill timer
  UvHandle* tick_ = nullptr;   // multiline flush timeout
  UvHandle* process_ = nullptr;
  UvHandle* out_ = nullptr;
  UvHandle* err_ = nullptr;
  bool running_ = false;  // process alive
  bool paused_ = false;
  int64_t started_ms_ = 0;
  int64_t delay_ms_ = 0;  // the next restart delay
  uint64_t runs_ = 0;
  uint64_t failed_starts_ = 0;
  std::string buf_;
  std::string err_line_;  // the stderr line being assembled (cut at 256 bytes)
  int64_t err_window_ms_ = 0;
  int err_logged_ = 0;
  uint64_t err_suppressed_ = 0;
};

}  // namespace sluice::agent
