#include "core/status.h"

#include <cerrno>
#include <cstring>

namespace sluice {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "OK";
    case Code::kInvalidArgument:
      return "InvalidArgument";
    case Code::kNotFound:
      return "NotFound";
    case Code::kAlreadyExists:
      return "AlreadyExists";
    case Code::kCorruption:
      return "Corruption";
    case Code::kIoError:
      return "IoError";
    case Code::kUnavailable:
      return "Unavailable";
    case Code::kResourceExhausted:
      return "ResourceExhausted";
    case Code::kExpired:
      return "Expired";
    case Code::kInternal:
      return "Internal";
    case Code::kCancelled:
      return "Cancelled";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(CodeName(code_));
  out += ": ";
  out += message_;
  return out;
}

Status Status::Annotate(std::string_view prefix) const {
  if (ok()) return *this;
  std::string msg(prefix);
  msg += ": ";
  msg += message_;
  return Status(code_, std::move(msg));
}

Status ErrnoError(std::string_view what, int err) {
  std::string msg(what);
  msg += ": ";
  msg += std::strerror(err);
  Code code = (err == ENOENT)                    ? Code::kNotFound
              : (err == ENOSPC || err == EDQUOT) ? Code::kResourceExhausted
                                                 : Code::kIoError;
  return Status(code, std::move(msg));
}

}  // namespace sluice
