// Status and Result<T>: the error model of sluice. No exceptions cross our code.
//
// A Status is a code plus a human message. Result<T> holds either a T or a non-ok Status, shaped
// like std::expected (which the toolchains we target lack). Both are cheap to move and carry no
// allocation when ok.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace sluice {

enum class Code : int {
  kOk = 0,
  kInvalidArgument,    // the caller's input is wrong; retrying will not help
  kNotFound,           // a named thing does not exist
  kAlreadyExists,      // a named thing exists already (Kinesis ResourceInUse)
  kCorruption,         // stored bytes fail their checks
  kIoError,            // the operating system refused
  kUnavailable,        // transient: retry later
  kResourceExhausted,  // a quota or limit is reached: back off (ProvisionedThroughputExceeded)
  kExpired,            // a token or iterator outlived its lifetime
  kInternal,           // a bug
  kCancelled,          // given up because the caller is stopping (not the work's own failure)
};

std::string_view CodeName(Code code);

class [[nodiscard]] Status final {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "Code: message", for logs and CLI output.
  std::string ToString() const;
  // Returns a copy whose message is "prefix: message".
  Status Annotate(std::string_view prefix) const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string msg) { return {Code::kInvalidArgument, std::move(msg)}; }
inline Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
inline Status AlreadyExists(std::string msg) { return {Code::kAlreadyExists, std::move(msg)}; }
inline Status Corruption(std::string msg) { return {Code::kCorruption, std::move(msg)}; }
inline Status IoError(std::string msg) { return {Code::kIoError, std::move(msg)}; }
inline Status Unavailable(std::string msg) { return {Code::kUnavailable, std::move(msg)}; }
inline Status ResourceExhausted(std::string msg) {
  return {Code::kResourceExhausted, std::move(msg)};
}
inline Status Expired(std::string msg) { return {Code::kExpired, std::move(msg)}; }
inline Status Internal(std::string msg) { return {Code::kInternal, std::move(msg)}; }
inline Status Cancelled(std::string msg) { return {Code::kCancelled, std::move(msg)}; }
// An I/O error from errno: "what: strerror(err)".
Status ErrnoError(std::string_view what, int err);

template <typename T>
class [[nodiscard]] Result final {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: must not be ok

  bool ok() const { return v_.index() == 0; }
  bool has_value() const { return ok(); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The error; Status::Ok() when a value is held.
  Status status() const { return ok() ? Status::Ok() : std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace sluice

#define SLUICE_CONCAT_INNER(a, b) a##b
#define SLUICE_CONCAT(a, b) SLUICE_CONCAT_INNER(a, b)

// Returns early with the Status of `expr` when it is not ok.
#define RETURN_IF_ERROR(expr)      \
  do {                             \
    ::sluice::Status _st = (expr); \
    if (!_st.ok()) return _st;     \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, F())`: binds the value or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(SLUICE_CONCAT(_result_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()
