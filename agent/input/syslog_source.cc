#include "agent/input/syslog_source.h"

#include <algorithm>
#include <charconv>

#include "core/log.h"

namespace sluice::agent {
namespace {

constexpr size_t kTcpReadSize = 64u << 10;

}  // namespace

struct SyslogSource::Conn {
  UvHandle* h = nullptr;
  SyslogFramer framer;
  int64_t last_ms = 0;
  std::string buf;
  explicit Conn(uint64_t max) : framer(max) {}
};

Status ParseSyslogListen(std::string_view text, SyslogListen* out) {
  std::string_view rest;
  if (text.starts_with("udp://")) {
    out->tcp = false;
    rest = text.substr(6);
  } else if (text.starts_with("tcp://")) {
    out->tcp = true;
    rest = text.substr(6);
  } else {
    return InvalidArgument("\"" + std::string(text) +
                           "\" is not udp://host:port or tcp://host:port");
  }
  size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return InvalidArgument("\"" + std::string(text) + "\" has no host:port");
  }
  std::string_view host = rest.substr(0, colon), port = rest.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int p = -1;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || ptr != port.data() + port.size() || p < 0 || p > 65535) {
    return InvalidArgument("\"" + std::string(text) + "\": the port is not 0..65535");
  }
  out->host = std::string(host);
  out->port = p;
  return Status::Ok();
}

Result<std::unique_ptr<Source>> SyslogSource::Create(uv_loop_t* loop, const FlowOptions& opts,
                                                     std::unique_ptr<InputPublisher> publisher) {
  std::unique_ptr<SyslogSource> s(new SyslogSource(loop, opts, std::move(publisher)));
  RETURN_IF_ERROR(ParseSyslogListen(opts.syslog.listen, &s->listen_)
                      .Annotate("sources[" + opts.name + "].listen"));
  return std::unique_ptr<Source>(std::move(s));
}

Status SyslogSource::Start() {
  publisher_->Start();
  publisher_->set_on_accepting([this] { Resume(); });
  sockaddr_storage addr{};
  int rc = uv_ip4_addr(listen_.host.c_str(), listen_.port, reinterpret_cast<sockaddr_in*>(&addr));
  if (rc != 0) {
    rc = uv_ip6_addr(listen_.host.c_str(), listen_.port, reinterpret_cast<sockaddr_in6*>(&addr));
  }
  const std::string where = "source " + opts_.name + ": " + opts_.syslog.listen;
  if (rc != 0) return InvalidArgument(where + ": not an IP address");
  server_ = NewHandle();
  int port = listen_.port;
  if (listen_.tcp) {
    uv_tcp_init(loop_, &server_->tcp);
    server_->tcp.data = this;
    rc = uv_tcp_bind(&server_->tcp, reinterpret_cast<sockaddr*>(&addr), 0);
    if (rc == 0) {
      rc = uv_listen(&server_->stream, 128, [](uv_stream_t* s, int status) {
        if (status == 0) static_cast<SyslogSource*>(s->data)->OnConnection();
      });
    }
    if (rc == 0) {
      sockaddr_storage bound{};
      int len = sizeof bound;
      uv_tcp_getsockname(&server_->tcp, reinterpret_cast<sockaddr*>(&bound), &len);
      port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    }
    int64_t every = std::clamp<int64_t>(opts_.syslog.idle_timeout.count() / 4, 50, 1000);
    sweep_ = NewHandle();
    uv_timer_init(loop_, &sweep_->timer);
    sweep_->timer.data = this;
    uv_timer_start(
        &sweep_->timer, [](uv_timer_t* t) { static_cast<SyslogSource*>(t->data)->Sweep(); },
        static_cast<uint64_t>(every), static_cast<uint64_t>(every));
  } else {
    uv_udp_init(loop_, &server_->udp);
    server_->udp.data = this;
    rc = uv_udp_bind(&server_->udp, reinterpret_cast<sockaddr*>(&addr), UV_UDP_REUSEADDR);
    if (rc == 0) {
      // A deep receive buffer rides out bursts while the loop is busy putting.
      int size = 8 << 20;
      uv_recv_buffer_size(&server_->handle, &size);
      sockaddr_storage bound{};
      int len = sizeof bound;
      uv_udp_getsockname(&server_->udp, reinterpret_cast<sockaddr*>(&bound), &len);
      port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
      udp_buf_.resize(opts_.syslog.max_message_size + 1);
      StartUdp();
    }
  }
  if (rc != 0) return IoError(where + ": " + uv_strerror(rc));
  SLUICE_LOG(Info, "source started")
      .With("flow", opts_.name)
      .With("type", "syslog")
      .With("listen", opts_.syslog.listen)
      .With("port", port);
  return Status::Ok();
}

void SyslogSource::StartUdp() {
  uv_udp_recv_start(
      &server_->udp,
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* self = static_cast<SyslogSource*>(h->data);
        *buf = uv_buf_init(self->udp_buf_.data(), static_cast<unsigned>(self->udp_buf_.size()));
      },
      [](uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* from, unsigned flags) {
        auto* self = static_cast<SyslogSource*>(h->data);
        if (n < 0 || from == nullptr) return;
        size_t len = static_cast<size_t>(n);
        bool truncated = (flags & UV_UDP_PARTIAL) != 0 || len > self->opts_.syslog.max_message_size;
        len = std::min<size_t>(len, self->opts_.syslog.max_message_size);
        std::string_view m(buf->base, len);
        while (!m.empty() && (m.back() == '\n' || m.back() == '\r' || m.back() == '\0')) {
          m.remove_suffix(1);
        }
        self->publisher_->mutable_stats().bytes_read += static_cast<uint64_t>(n);
        self->Deliver(m, truncated);
        if (!self->publisher_->accepting()) self->Pause();
      });
}

void SyslogSource::Deliver(std::string_view message, bool truncated) {
  FlowStats& st = publisher_->mutable_stats();
  if (truncated) {
    ++st.records_truncated;
    ++st.messages_truncated;
  }
  ++records_;
  if (opts_.syslog.format == SyslogOptions::Format::kRaw) {
    publisher_->Add(message, "syslog", records_);
    return;
  }
  json_.clear();
  if (SyslogToJson(message, opts_.syslog.format, &json_)) {
    publisher_->Add(json_, "syslog", records_);
  } else {
    ++st.parse_failures;
    publisher_->Add(message, "syslog", records_);
  }
}

void SyslogSource::OnConnection() {
  if (stopping()) return;
  UvHandle* h = NewHandle();
  uv_tcp_init(loop_, &h->tcp);
  if (uv_accept(&server_->stream, &h->stream) != 0 ||
      conns_.size() >= static_cast<size_t>(opts_.syslog.max_connections)) {
    if (conns_.size() >= static_cast<size_t>(opts_.syslog.max_connections)) {
      if (refused_++ % 1000 == 0) {
        SLUICE_LOG(Warn, "syslog connection refused: max_connections reached")
            .With("flow", opts_.name)
            .With("refused", refused_);
      }
    }
    CloseHandle(h);
    return;
  }
  auto* c = new Conn(opts_.syslog.max_message_size);
  c->h = h;
  h->user = c;
  h->stream.data = c;
  c->last_ms = static_cast<int64_t>(uv_now(loop_));
  conns_.insert(c);
  if (!paused_) ReadConn(c);
}

void SyslogSource::ReadConn(Conn* c) {
  uv_read_start(
      &c->h->stream,
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* c = static_cast<Conn*>(h->data);
        c->buf.resize(kTcpReadSize);
        *buf = uv_buf_init(c->buf.data(), static_cast<unsigned>(c->buf.size()));
      },
      [](uv_stream_t* st, ssize_t n, const uv_buf_t*) {
        auto* c = static_cast<Conn*>(st->data);
        auto* self = static_cast<SyslogSource*>(c->h->owner);
        if (n < 0) {
          self->CloseConn(c);
          return;
        }
        c->last_ms = static_cast<int64_t>(uv_now(self->loop_));
        self->publisher_->mutable_stats().bytes_read += static_cast<uint64_t>(n);
        c->framer.Feed(std::string_view(c->buf.data(), static_cast<size_t>(n)),
                       [self](std::string_view m, bool t) { self->Deliver(m, t); });
        if (!self->publisher_->accepting()) self->Pause();
      });
}

void SyslogSource::CloseConn(Conn* c) {
  if (c->h->closing) return;
  if (c->framer.Finish([this](std::string_view m, bool t) { Deliver(m, t); })) {
    ++publisher_->mutable_stats().records_truncated;  // an octet-counted message cut short
  }
  CloseHandle(c->h);
}

void SyslogSource::OnHandleClosed(UvHandle* h) {
  if (h->user != nullptr) {
    auto* c = static_cast<Conn*>(h->user);
    conns_.erase(c);
    delete c;
  }
}

void SyslogSource::Pause() {
  if (paused_) return;
  paused_ = true;
  if (listen_.tcp) {
    for (Conn* c : conns_) uv_read_stop(&c->h->stream);
  } else {
    uv_udp_recv_stop(&server_->udp);
  }
}

void SyslogSource::Resume() {
  if (!paused_ || stopping()) return;
  paused_ = false;
  if (listen_.tcp) {
    for (Conn* c : conns_) {
      if (!c->h->closing) ReadConn(c);
    }
  } else {
    StartUdp();
  }
}

void SyslogSource::Sweep() {
  const int64_t now = static_cast<int64_t>(uv_now(loop_));
  std::vector<Conn*> idle;
  for (Conn* c : conns_) {
    if (!paused_ && now - c->last_ms >= opts_.syslog.idle_timeout.count()) idle.push_back(c);
  }
  for (Conn* c : idle) CloseConn(c);
}

void SyslogSource::StopReading() {
  std::vector<Conn*> all(conns_.begin(), conns_.end());
  for (Conn* c : all) CloseConn(c);
  CloseHandle(server_);
  CloseHandle(sweep_);
}

FlowStats SyslogSource::stats() const {
  FlowStats s = publisher_->stats();
  s.connections_open = conns_.size();
  s.connections_refused = refused_;  // at max_connections
  return s;
}

}  // namespace sluice::agent
