#include "agent/config/secrets.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "agent/config/schema.h"

namespace sluice::config {

std::string SecretFromEnv(std::string_view name, std::string* out) {
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr || *value == '\0') {
    return "environment variable " + std::string(name) + " is not set";
  }
  *out = value;
  return "";
}

int FileMode(const std::string& path, std::string* error) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    *error = "cannot read \"" + path + "\": " + std::strerror(errno);
    return -1;
  }
  return static_cast<int>(st.st_mode & 07777);
}

std::string SecretFromFile(const std::string& path, std::string* out) {
  std::string error;
  int mode = FileMode(path, &error);
  if (mode < 0) return error;
  if (mode & 0004) {
    char octal[16];
    std::snprintf(octal, sizeof(octal), "%04o", mode);
    return "\"" + path + "\" holds a secret and is readable by others (mode " + octal +
           "); run chmod o-r on it";
  }
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return "cannot read \"" + path + "\": " + std::strerror(errno);
  std::string data;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    data.append(buf, n);
    if (data.size() > (1u << 20)) break;
  }
  std::fclose(f);
  if (data.size() > (1u << 20)) return "\"" + path + "\" is too large to hold a secret";
  if (!data.empty() && data.back() == '\n') data.pop_back();
  if (!data.empty() && data.back() == '\r') data.pop_back();
  if (data.empty()) return "\"" + path + "\" is empty";
  *out = std::move(data);
  return "";
}

}  // namespace sluice::config
