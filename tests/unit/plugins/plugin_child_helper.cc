// The child of `isolation: process` instances in the unit tests: what `sluice plugin-host --fd N`
// runs, without the daemon around it.
#include <cstdlib>
#include <cstring>

#include "buffer/plugin_process.h"

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "plugin-host") == 0 && std::strcmp(argv[2], "--fd") == 0) {
    return sluice::buffer::PluginChildMain(std::atoi(argv[3]));
  }
  return 2;
}
