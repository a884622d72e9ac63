// Source: one `sources:` entry at run time, whatever its type: a file Flow (agent/tail/flow.h)
// or an input (agent/input: syslog, stdin, exec, journal). The daemon starts, stops, reloads and
// reports every source through this interface.
//
// THREADING: every method runs on the loop thread the source was created on.
// OWNERSHIP: after Start, a source may be destroyed only once its Stop callback has run.
#pragma once

#include <functional>

#include "agent/tail/flow_options.h"
#include "agent/tail/flow_stats.h"
#include "core/status.h"

namespace sluice::agent {

class Source {
 public:
  virtual ~Source() = default;
  // Begins reading on the loop.
  virtual Status Start() = 0;
  // Stops reading, puts what was read, syncs the stream and checkpoints; `on_closed` runs once
  // every handle is closed.
  virtual void Stop(std::function<void()> on_closed) = 0;
  virtual FlowStats stats() const = 0;
  virtual const FlowOptions& options() const = 0;
};

}  // namespace sluice::agent
