#include "core/secret_key.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace sluice {

bool IsSecretKey(std::string_view key) {
  for (std::string_view suffix : {"_id", "_env", "_file", "_path"}) {
    if (key.ends_with(suffix)) return false;
  }
  // "sasl" and "key.pem" for librdkafka's properties (sasl.username, sasl.oauthbearer.config,
  // ssl.key.pem), which the kafka sink logs through this list.
  static constexpr std::string_view kWords[] = {
      "secret",      "token",         "password",   "passwd", "access_key", "api_key",
      "private_key", "authorization", "credential", "sasl",   "key.pem"};
  for (std::string_view w : kWords) {
    if (key.find(w) != std::string_view::npos) return true;
  }
  return false;
}

Result<std::string> SecretFromEnv(std::string_view name) {
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr || *value == '\0') {
    return NotFound("environment variable " + std::string(name) + " is not set");
  }
  return std::string(value);
}

Result<int> FileMode(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return IoError("cannot read \"" + path + "\": " + std::strerror(errno));
  }
  return static_cast<int>(st.st_mode & 07777);
}

Result<std::string> SecretFromFile(const std::string& path) {
  ASSIGN_OR_RETURN(int mode, FileMode(path));
  if (mode & 0004) {
    char octal[16];
    std::snprintf(octal, sizeof(octal), "%04o", mode);
    return InvalidArgument("\"" + path + "\" holds a secret and is readable by others (mode " +
                           octal + "); run chmod o-r on it");
  }
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return IoError("cannot read \"" + path + "\": " + std::strerror(errno));
  std::string data;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    data.append(buf, n);
    if (data.size() > (1u << 20)) break;
  }
  std::fclose(f);
  if (data.size() > (1u << 20))
    return InvalidArgument("\"" + path + "\" is too large to hold a secret");
  if (!data.empty() && data.back() == '\n') data.pop_back();
  if (!data.empty() && data.back() == '\r') data.pop_back();
  if (data.empty()) return InvalidArgument("\"" + path + "\" is empty");
  return data;
}

}  // namespace sluice
