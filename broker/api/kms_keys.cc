#include "broker/api/kms_keys.h"

namespace sluice::broker::api {

std::optional<std::string> KeyringIdOf(std::string_view key_id, std::string_view managed_alias) {
  std::string_view resource = key_id;
  if (key_id.starts_with("arn:")) {
    // arn:<partition>:kms:<region>:<account>:<resource>
    size_t at = 0;
    std::string_view fields[5];
    for (std::string_view& f : fields) {
      size_t colon = key_id.find(':', at);
      if (colon == std::string_view::npos) return std::nullopt;
      f = key_id.substr(at, colon - at);
      at = colon + 1;
    }
    if (fields[2] != "kms") return std::nullopt;
    resource = key_id.substr(at);
    if (resource.starts_with("key/")) return std::string(resource.substr(4));
    if (!resource.starts_with("alias/")) return std::nullopt;
  }
  if (!managed_alias.empty() && resource == managed_alias) return std::string();
  if (resource.starts_with("alias/")) return std::string(resource.substr(6));
  return std::string(resource);
}

std::string KmsKeyNotFound(std::string_view key_id, std::string_view region,
                           std::string_view account) {
  std::string arn = std::string(key_id);
  bool alias = key_id.starts_with("alias/") || key_id.find(":alias/") != std::string_view::npos;
  if (!key_id.starts_with("arn:")) {
    arn = "arn:aws:kms:" + std::string(region) + ":" + std::string(account) + ":" +
          (alias ? "" : "key/") + std::string(key_id);
  }
  if (alias) return "Alias " + arn + " is not found.";
  return "Key '" + arn + "' does not exist";
}

}  // namespace sluice::broker::api
