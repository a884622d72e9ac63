// MD5 hash keys for routing without an allocation per record: core's HashKeyOf goes through
// EVP_Digest, which creates and frees a digest context per call; this keeps one context per
// thread and reuses it. Same result as HashKeyOf. Thread-safe (thread-local state).
#pragma once

#include <string_view>

#include "core/hash_key.h"

namespace sluice::broker {

uint128 RouteHashKey(std::string_view partition_key);

}  // namespace sluice::broker
