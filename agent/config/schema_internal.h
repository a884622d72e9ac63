// Internal to the schema tables (schema_*.cc): units, the SET/HOOK setter macros, and the
// sections one table file lends another. Not part of the config API.
#pragma once

#include <string>

#include "agent/config/schema.h"

namespace sluice::config {

constexpr int64_t kKiB = 1024, kMiB = 1024 * 1024, kGiB = kMiB * 1024;
constexpr int64_t kSecond = 1000, kMinute = 60 * kSecond, kHour = 60 * kMinute, kDay = 24 * kHour;

// A setter: the body sees `c` (LoadContext&) and `v` (const Value&) and may `return "message";`.
#define SET(...)                                                                    \
  +[]([[maybe_unused]] LoadContext& c, [[maybe_unused]] const Value& v) -> Status { \
    __VA_ARGS__;                                                                    \
    return Status::Ok();                                                            \
  }
#define HOOK(...)                                  \
  +[]([[maybe_unused]] LoadContext& c) -> Status { \
    __VA_ARGS__;                                   \
    return Status::Ok();                           \
  }

// A setter's or hook's refusal of a value: the message, without position or key path.
inline Status Refuse(std::string why) { return InvalidArgument(std::move(why)); }

// The name (or stream reference) a setter saw, with its position, for the cross-checks.
inline NameRef RefOf(const Value& v) {
  NameRef ref{v.text, v.path, 0, 0};
  if (v.node != nullptr) {
    ref.line = v.node->line;
    ref.column = v.node->column;
  }
  return ref;
}

extern const Section kSourceSection;    // schema_sources.cc
extern const Section kDeliverySection;  // schema_deliveries.cc

}  // namespace sluice::config
