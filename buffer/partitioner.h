// Dynamic partitioning keys from JSON fields of a record: `partition_keys:
// ["customer=.customer.id", "kind=.type"]`. A key's value is the field's string, or the text of a
// number or bool; the values fill `!{partitionKeyFromQuery:<name>}` in the prefix. Pure functions;
// thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace sluice::buffer {

struct PartitionKeySpec {
  std::string name;
  std::vector<std::string> path;  // ".customer.id" -> {"customer", "id"}
};

Result<std::vector<PartitionKeySpec>> ParsePartitionKeys(const std::vector<std::string>& specs);

// The key values of one record; an error if it is not a JSON object (nested deeper than
// core/json.h allows counts as not JSON) or a field is missing or not a scalar. `arena`, when
// given, is where the record is parsed (one per thread, reused record after record).
Result<std::map<std::string, std::string>> ExtractPartitionKeys(
    const std::vector<PartitionKeySpec>& specs, std::string_view record,
    JsonArena* arena = nullptr);

}  // namespace sluice::buffer
