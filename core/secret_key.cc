#include "core/secret_key.h"

namespace sluice {

bool IsSecretKey(std::string_view key) {
  for (std::string_view suffix : {"_id", "_env", "_file", "_path"}) {
    if (key.ends_with(suffix)) return false;
  }
  static constexpr std::string_view kWords[] = {"secret",      "token",         "password",
                                                "passwd",      "access_key",    "api_key",
                                                "private_key", "authorization", "credential"};
  for (std::string_view w : kWords) {
    if (key.find(w) != std::string_view::npos) return true;
  }
  return false;
}

}  // namespace sluice
