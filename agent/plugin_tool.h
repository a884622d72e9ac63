// `sluice plugin info|test|new`: the toolkit of plugin authors.
//
//   info FILE     what a plugin declares: name, kind, version, ABI, flags, delivery policy and
//                 its option table
//   test FILE     drives the plugin through create, batches of generated records, a retry,
//                 healthcheck and destroy in a forked child, checking every answer against the
//                 ABI; a crash or a hang of the plugin is reported, never suffered
//   new NAME      writes a buildable out-of-tree project (CMake, one source file, README)
//
// Each returns the process exit code: 0 success, 1 the plugin misbehaved or could not be
// loaded, 2 bad arguments. THREADING: called from the CLI's single thread (test forks).
#pragma once

#include <string>
#include <vector>

namespace sluice::agent {

int PluginInfo(const std::string& file);

struct PluginTestOptions {
  std::string file;
  std::vector<std::string> options;  // "key=value"
  std::vector<std::string> records;  // extra records, sent in batch 2
  int records_count = 100;           // generated records, spread over 3 batches
  int timeout_s = 30;                // one call running longer is a hang
};
int PluginTest(const PluginTestOptions& options);

struct PluginNewOptions {
  std::string name;
  std::string lang;  // c | cpp
  std::string kind;  // object | record | transform
  std::string dir;   // default: ./NAME
};
int PluginNew(const PluginNewOptions& options);

}  // namespace sluice::agent
