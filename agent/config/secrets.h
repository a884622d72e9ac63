// Secrets in configuration: which keys hold them, reading them from the environment or a file,
// and the rule that a file holding secrets must not be readable by others.
// Messages never contain a secret value. Pure functions apart from getenv/stat/read.
#pragma once

#include <string>
#include <string_view>

namespace sluice::config {

// Reads environment variable `name` into *out; returns "" or a message naming the variable.
std::string SecretFromEnv(std::string_view name, std::string* out);

// Reads the file at `path` (one trailing newline dropped) into *out; refuses a file others can
// read (mode & 0004). Returns "" or a message naming the path.
std::string SecretFromFile(const std::string& path, std::string* out);

// The file mode bits of `path` (or -1 with *error set).
int FileMode(const std::string& path, std::string* error);

}  // namespace sluice::config
