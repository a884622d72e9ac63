#include "agent/cli_keys.h"

#include <openssl/rand.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "buffer/envelope.h"
#include "core/base64.h"

namespace sluice::agent {

int Keygen(const std::string& id) {
  unsigned char key[32];
  unsigned char tag[2];
  if (RAND_bytes(key, sizeof key) != 1 || RAND_bytes(tag, sizeof tag) != 1) {
    std::fprintf(stderr, "sluice keygen: no randomness from OpenSSL\n");
    return 1;
  }
  std::string name = id;
  if (name.empty()) {
    std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    char buf[32];
    std::snprintf(buf, sizeof buf, "k-%04d%02d%02d-%02x%02x", utc.tm_year + 1900, utc.tm_mon + 1,
                  utc.tm_mday, tag[0], tag[1]);
    name = buf;
  }
  for (char c : name) {
    if (c <= ' ' || c == '#' || c > '~') {
      std::fprintf(stderr, "sluice keygen: a key id is printable ASCII without spaces or '#'\n");
      return 1;
    }
  }
  if (name.size() > 255) {
    std::fprintf(stderr, "sluice keygen: a key id is at most 255 characters\n");
    return 1;
  }
  std::string line =
      name + " " + Base64Encode(std::string_view(reinterpret_cast<const char*>(key), sizeof key));
  std::printf("%s\n", line.c_str());
  OPENSSL_cleanse(key, sizeof key);
  return 0;
}

int Decrypt(const std::string& keyring_path, const std::vector<std::string>& files) {
  auto keyring = buffer::Keyring::Load(keyring_path);
  if (!keyring.ok()) {
    std::fprintf(stderr, "sluice decrypt: %s\n", keyring.status().message().c_str());
    return 1;
  }
  std::vector<std::string> inputs = files.empty() ? std::vector<std::string>{"-"} : files;
  int rc = 0;
  for (const std::string& f : inputs) {
    std::string object;
    if (f == "-") {
      object.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
      std::ifstream in(f, std::ios::binary);
      if (!in) {
        std::fprintf(stderr, "sluice decrypt: %s: cannot read\n", f.c_str());
        rc = 1;
        continue;
      }
      std::ostringstream ss;
      ss << in.rdbuf();
      object = std::move(ss).str();
    }
    auto plain = buffer::DecryptObject(*keyring, object);
    if (!plain.ok()) {
      std::fprintf(stderr, "sluice decrypt: %s: %s\n", f == "-" ? "<stdin>" : f.c_str(),
                   plain.status().message().c_str());
      rc = 1;
      continue;
    }
    std::fwrite(plain->data(), 1, plain->size(), stdout);
  }
  std::fflush(stdout);
  return rc;
}

}  // namespace sluice::agent
