// Whether a host names this machine's loopback interface: listeners without authentication may
// bind only there, and answer only requests that name it.
//
// THREADING: pure function.
#pragma once

#include <string_view>

namespace sluice {

// True for "localhost" (any case), a dotted-quad 127.0.0.0/8 address or ::1, with or without a
// ":port" ("[::1]:4567", "127.0.0.1:80"): a listen host or an HTTP Host/Origin authority.
// Names that merely start with "127." ("127.example.com") are not loopback.
bool IsLoopbackHost(std::string_view host);

}  // namespace sluice
