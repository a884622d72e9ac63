// SyslogSource (`type: syslog`): a syslog listener on the daemon loop. `listen: udp://host:port`
// takes one message per datagram; `tcp://host:port` frames each connection's bytes with
// SyslogFramer (octet counting or newlines, per message). Messages are parsed as `format` says
// (syslog_parse.h); one that does not parse is kept as received and counted in parse_failures.
// Memory is bounded: max_message_size per message (longer ones truncated and counted),
// max_connections (more are closed at once), idle_timeout (silent connections closed), and
// reads pause while the publisher does not accept (TCP senders then block; UDP datagrams are
// dropped by the kernel).
//
// Nothing is checkpointed: a message is accepted once it is put into the stream; datagrams sent
// while the daemon is down are lost; TCP senders resend what their connection had not written.
//
// THREADING: loop thread only.
// OWNERSHIP: see InputSource; connections are owned here and closed at stop.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>

#include "agent/input/input_source.h"
#include "agent/input/syslog_parse.h"

namespace sluice::agent {

// `udp://host:port` or `tcp://host:port` (IPv6 hosts in brackets).
struct SyslogListen {
  bool tcp = false;
  std::string host;
  int port = 0;
};
Status ParseSyslogListen(std::string_view text, SyslogListen* out);

class SyslogSource final : public InputSource {
 public:
  static Result<std::unique_ptr<Source>> Create(uv_loop_t* loop, const FlowOptions& opts,
                                                std::unique_ptr<InputPublisher> publisher);
  Status Start() override;
  FlowStats stats() const override;

 private:
  struct Conn;
  using InputSource::InputSource;
  void StopReading() override;
  void OnHandleClosed(UvHandle* h) override;
  void Deliver(std::string_view message, bool truncated);
  void OnConnection();
  void CloseConn(Conn* c);
  void ReadConn(Conn* c);
  void Pause();
  void Resume();
  void StartUdp();
  void Sweep();

  SyslogListen listen_;
  UvHandle* server_ = nullptr;  // uv_tcp_t or uv_udp_t
  UvHandle* sweep_ = nullptr;   // idle connections
  std::unordered_set<Conn*> conns_;
  std::string udp_buf_;
  std::string json_;
  bool paused_ = false;
  uint64_t refused_ = 0;
  uint64_t records_ = 0;
};

}  // namespace sluice::agent
