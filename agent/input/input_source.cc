#include "agent/input/input_source.h"

#include "agent/input/exec_source.h"
#include "agent/input/journal_source.h"
#include "agent/input/stdin_source.h"
#include "agent/input/syslog_source.h"
#include "core/log.h"

namespace sluice::agent {

InputSource::InputSource(uv_loop_t* loop, const FlowOptions& opts,
                         std::unique_ptr<InputPublisher> publisher)
    : loop_(loop), opts_(opts), publisher_(std::move(publisher)) {}

InputSource::~InputSource() {
  if (handles_ != 0) {
    SLUICE_LOG(Error, "input source destroyed with open handles").With("flow", opts_.name);
  }
}

UvHandle* InputSource::NewHandle(void* user) {
  auto* h = new UvHandle();
  h->owner = this;
  h->user = user;
  ++handles_;
  return h;
}

void InputSource::CloseHandle(UvHandle* h) {
  if (h == nullptr || h->closing) return;
  h->closing = true;
  h->handle.data = h;
  uv_close(&h->handle, OnClosed);
}

void InputSource::OnClosed(uv_handle_t* handle) {
  auto* h = static_cast<UvHandle*>(handle->data);
  InputSource* self = h->owner;
  self->OnHandleClosed(h);
  delete h;
  --self->handles_;
  self->MaybeFinishStop();
}

void InputSource::Stop(std::function<void()> on_closed) {
  if (stopping_) return;
  stopping_ = true;
  on_closed_ = std::move(on_closed);
  StopReading();
  MaybeFinishStop();
}

void InputSource::MaybeFinishStop() {
  if (!stopping_ || finished_ || handles_ != 0) return;
  finished_ = true;
  publisher_->Close([this] {
    SLUICE_LOG(Info, "source stopped").With("flow", opts_.name);
    auto cb = std::move(on_closed_);
    if (cb) cb();
  });
}

Result<std::unique_ptr<Source>> CreateInputSource(uv_loop_t* loop, const FlowOptions& opts,
                                                  broker::Stream* stream,
                                                  const std::filesystem::path& checkpoint_dir,
                                                  Clock* clock) {
  ASSIGN_OR_RETURN(std::unique_ptr<InputPublisher> pub,
                   InputPublisher::Create(loop, opts, stream, clock));
  switch (opts.type) {
    case SourceType::kStdin:
      return StdinSource::Create(loop, opts, std::move(pub));
    case SourceType::kExec:
      return ExecSource::Create(loop, opts, std::move(pub));
    case SourceType::kSyslog:
      return SyslogSource::Create(loop, opts, std::move(pub));
    case SourceType::kJournal:
      return JournalSource::Create(loop, opts, std::move(pub), checkpoint_dir);
    case SourceType::kFile:
      break;
  }
  return InvalidArgument("sources[" + opts.name + "]: not an input type");
}

}  // namespace sluice::agent
