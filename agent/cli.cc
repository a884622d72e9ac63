// CLI11 is the argument parser; its exceptions are caught here, in one place, and turned into
// exit codes.
#include "agent/cli.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "agent/config/config.h"
#include "agent/daemon.h"
#include "agent/embedded_config.h"
#include "core/log.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.0.0"
#endif

namespace sluice::agent {
namespace {

constexpr char kEmbedded[] = "<embedded sluice.yaml>";

Result<config::Config> Load(const std::string& path) {
  if (path.empty()) return config::LoadConfigText(EmbeddedDefaultConfig(), kEmbedded);
  return config::LoadConfigFile(path);
}

int Check(const std::string& path) {
  auto cfg = Load(path);
  if (!cfg.ok()) {
    std::fprintf(stderr, "%s\n", cfg.status().message().c_str());
    return 1;
  }
  Status st = Daemon::Validate(*cfg);
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", st.message().c_str());
    return 1;
  }
  std::printf("%s: ok\n", path.empty() ? kEmbedded : path.c_str());
  return 0;
}

int Run(const std::string& path) {
  auto cfg = Load(path);
  if (!cfg.ok()) {
    std::fprintf(stderr, "%s\n", cfg.status().message().c_str());
    return 1;
  }
  Status st = Daemon::RunUntilSignal(*cfg);
  if (!st.ok()) {
    SLUICE_LOG(Error, "sluice stopped").With("error", st.ToString());
    return 1;
  }
  return 0;
}

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app{"sluice: ship every log line, once, fast, with nothing lost", "sluice"};
  app.require_subcommand(0, 1);
  std::string config_path;

  CLI::App* run = app.add_subcommand("run", "Run the daemon");
  run->add_option("-c,--config", config_path,
                  "Configuration file (default: the embedded default, conf/sluice.yaml)");
  CLI::App* check = app.add_subcommand("check", "Validate a configuration file and exit");
  check->add_option("-c,--config", config_path, "Configuration file")->required();
  CLI::App* version = app.add_subcommand("version", "Print the version");
  CLI::App* config = app.add_subcommand("config", "Print the embedded default configuration");
  CLI::App* help = app.add_subcommand("help", "Show this help");

  const std::string top_help = app.help();  // before parsing selects a subcommand
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  if (*run) return Run(config_path);
  if (*check) return Check(config_path);
  if (*version) {
    std::printf("sluice %s\n", SLUICE_VERSION);
    return 0;
  }
  if (*config) {
    std::fwrite(EmbeddedDefaultConfig().data(), 1, EmbeddedDefaultConfig().size(), stdout);
    return 0;
  }
  if (*help || argc == 1) {
    std::printf("%s", top_help.c_str());
    return *help ? 0 : 2;
  }
  return 0;
}

}  // namespace sluice::agent
