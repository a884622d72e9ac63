// The `sluice` command line: parses argv and dispatches to run, check, version and help.
// Returns the process exit code: 0 success, 1 failure (invalid config, daemon error), 2 usage.
#pragma once

namespace sluice::agent {

int RunCli(int argc, char** argv);

}  // namespace sluice::agent
