// Runs the built `sluice` binary the way a user does: check, version, help, and run with a clean
// stop on SIGTERM and SIGINT.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;

struct Outcome {
  int exit_code = -1;
  std::string out, err;
};

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sluice-cli-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Starts the binary with stdout/stderr to files in the temp dir, cwd = temp dir.
  pid_t Start(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    std::string bin = SLUICE_BIN;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, (dir_ / "stdout").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, (dir_ / "stderr").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addchdir_np(&fa, dir_.c_str());
    pid_t pid = -1;
    EXPECT_EQ(posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
  }

  Outcome Wait(pid_t pid) {
    int status = 0;
    waitpid(pid, &status, 0);
    Outcome o;
    o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    o.out = Slurp(dir_ / "stdout");
    o.err = Slurp(dir_ / "stderr");
    return o;
  }

  Outcome RunToEnd(const std::vector<std::string>& args) { return Wait(Start(args)); }

  fs::path Write(const std::string& name, const std::string& text, fs::perms perms) {
    fs::path p = dir_ / name;
    std::ofstream(p) << text;
    fs::permissions(p, perms);
    return p;
  }

  fs::path dir_;
};

constexpr fs::perms kPrivate = fs::perms::owner_read | fs::perms::owner_write;

TEST_F(CliTest, VersionAndHelp) {
  Outcome v = RunToEnd({"version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.out.rfind("sluice ", 0), 0u) << v.out;
  Outcome h = RunToEnd({"help"});
  EXPECT_EQ(h.exit_code, 0);
  for (const char* cmd : {"run", "check", "version"}) {
    EXPECT_NE(h.out.find(cmd), std::string::npos) << h.out;
  }
  Outcome rh = RunToEnd({"run", "--help"});
  EXPECT_EQ(rh.exit_code, 0);
  EXPECT_NE(rh.out.find("--config"), std::string::npos);
  EXPECT_EQ(RunToEnd({"frobnicate"}).exit_code, 2);
}

TEST_F(CliTest, CheckAcceptsTheDefaultAndEveryExample) {
  // The secrets the examples name (check reads them).
  setenv("REDSHIFT_PASSWORD", "example", 1);
  setenv("PG_PASSWORD", "example", 1);
  std::vector<fs::path> configs = {fs::path(SLUICE_SOURCE_DIR) / "conf/sluice.yaml"};
  fs::path examples = fs::path(SLUICE_SOURCE_DIR) / "conf/examples";
  if (fs::exists(examples)) {
    for (const auto& e : fs::directory_iterator(examples)) configs.push_back(e.path());
  }
  for (const fs::path& c : configs) {
    Outcome o = RunToEnd({"check", "-c", c.string()});
    EXPECT_EQ(o.exit_code, 0) << c << "\n" << o.err;
  }
}

TEST_F(CliTest, CheckRejectsABadConfigWithPositions) {
  fs::path p = Write("bad.yaml",
                     "data_dir: ./d\n"
                     "streams:\n"
                     "  - name: s\n"
                     "    shardz: 2\n",
                     kPrivate);
  Outcome o = RunToEnd({"check", "-c", p.string()});
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.err.find("bad.yaml:4:5: streams[0].shardz"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("did you mean 'shards'"), std::string::npos) << o.err;
}

TEST_F(CliTest, CheckRefusesPrefixesThatWouldLoseData) {
  // A typo in a partition key name and a key without partitioning: both refused, at once, each
  // at its position (at run time they rendered as an empty prefix and objects overwrote each
  // other).
  std::string plugins = (fs::path(SLUICE_BIN).parent_path() / "plugins").string();
  fs::path p = Write(
      "prefix.yaml",
      "data_dir: ./d\n"
      "plugin_dirs: [" +
          plugins +
          "]\n"
          "streams: [{name: s}]\n"
          "deliveries:\n"
          "  - name: a\n"
          "    stream: s\n"
          "    partitioning: {keys: {status: .status}}\n"
          "    sink: {type: file, path: ./o, prefix: \"s=!{partitionKeyFromQuery:stauts}/\"}\n"
          "  - name: b\n"
          "    stream: s\n"
          "    sink: {type: file, path: ./o, prefix: \"l=!{partitionKeyFromQuery:level}/\"}\n",
      kPrivate);
  Outcome o = RunToEnd({"check", "-c", p.string()});
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.err.find("prefix.yaml:8:43: deliveries[0].sink.prefix: "
                       "!{partitionKeyFromQuery:stauts} names no partitioning key (status)"),
            std::string::npos)
      << o.err;
  EXPECT_NE(o.err.find("prefix.yaml:11:43: deliveries[1].sink.prefix: "
                       "!{partitionKeyFromQuery:level} needs dynamic partitioning"),
            std::string::npos)
      << o.err;
  // `run` refuses it with the very same lines (one validation path), before creating anything.
  Outcome run = RunToEnd({"run", "-c", p.string()});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.err, o.err);
  EXPECT_FALSE(fs::exists(dir_ / "d"));
}

TEST_F(CliTest, CheckFindsWhatStartWouldRefuseAllAtOnce) {
  std::string plugins = (fs::path(SLUICE_BIN).parent_path() / "plugins").string();
  fs::path keyring = Write("keyring", "k1 not-base64\n", kPrivate);
  auto delivery = [&](const std::string& name, const std::string& sink) {
    return "  - name: " + name + "\n    stream: s\n" + sink;
  };
  fs::path p = Write(
      "many.yaml",
      "data_dir: ./d\n"
      "plugin_dirs: [" +
          plugins +
          "]\n"
          "streams: [{name: s}]\n"
          "deliveries:\n" +
          delivery("a", "    sink: {type: file, path: ./o, prefix: \"!{timestamp:yyyy/\"}\n") +
          delivery("b", "    sink: {type: file, path: ./o, prefix: \"!{timestmap:yyyy}/\"}\n") +
          delivery("c",
                   "    sink: {type: file, path: ./o, prefix: \"!{firehose:randomstring}/\"}\n") +
          delivery("d",
                   "    sink: {type: file, path: ./o, prefix: \"!{timestamp:YYYY/mm/DD}/\"}\n") +
          delivery("e", "    sink: {type: file, path: ./o, error_prefix: \"errors/\"}\n") +
          delivery("f", "    encryption: {keyring: " + keyring.string() +
                            "}\n    sink: {type: file, path: ./o}\n"),
      kPrivate);
  Outcome o = RunToEnd({"check", "-c", p.string()});
  EXPECT_EQ(o.exit_code, 1);
  for (const char* want :
       {"many.yaml:7:43: deliveries[0].sink.prefix: ", "unterminated expression",
        "many.yaml:10:43: deliveries[1].sink.prefix: ", "unknown expression !{timestmap:yyyy}",
        "many.yaml:13:43: deliveries[2].sink.prefix: ",
        "unknown expression !{firehose:randomstring}",
        "many.yaml:16:43: deliveries[3].sink.prefix: ",
        "many.yaml:19:49: deliveries[4].sink.error_prefix: ",
        "must contain !{firehose:error-output-type}",
        "many.yaml:22:27: deliveries[5].encryption.keyring: ", "is not 32 bytes of base64"}) {
    EXPECT_NE(o.err.find(want), std::string::npos) << want << "\n" << o.err;
  }
}

TEST_F(CliTest, CheckReportsSinkErrorsInTheSameRoundAsSchemaErrors) {
  // A schema error (an unknown key of a source) no longer hides the sink's own errors and the
  // policy ranges: one run of check shows all of them, sorted, in one style.
  std::string plugins = (fs::path(SLUICE_BIN).parent_path() / "plugins").string();
  fs::path p = Write("round.yaml",
                     "data_dir: ./d\n"
                     "plugin_dirs: [" +
                         plugins +
                         "]\n"
                         "streams: [{name: s}]\n"
                         "sources: [{name: f, paths: [./x.log], stream: s, bogus: 1}]\n"
                         "deliveries:\n"
                         "  - name: a\n"
                         "    stream: s\n"
                         "    buffer: {size: 100MiB}\n"
                         "    sink: {type: http, url: \"http://127.0.0.1:9/\", timeout: soon, "
                         "bearer_tokn: x}\n",
                     kPrivate);
  Outcome o = RunToEnd({"check", "-c", p.string()});
  EXPECT_EQ(o.exit_code, 1);
  const std::string want[] = {
      "round.yaml:4:50: sources[0].bogus: unknown key 'bogus'",
      "round.yaml:8:20: deliveries[0].buffer.size: 100MiB is outside 1MiB..64MiB for sink type "
      "http",
      "round.yaml:9:61: deliveries[0].sink.timeout: expected a duration",
      "round.yaml:9:80: deliveries[0].sink.bearer_tokn: unknown key 'bearer_tokn' for sink type "
      "http (did you mean 'bearer_token'?)"};
  size_t at = 0;
  for (const std::string& w : want) {
    size_t found = o.err.find(w);
    EXPECT_NE(found, std::string::npos) << w << "\n" << o.err;
    if (found != std::string::npos) {
      EXPECT_GE(found, at) << "out of order: " << w << "\n" << o.err;
      at = found;
    }
  }
}

#ifdef SLUICE_FIXTURE_PLUGIN_DIR
TEST_F(CliTest, CheckValidatesTransformOptionsAgainstThePlugin) {
  // transform.options is checked against the transform plugin's option table as a sink section
  // is: an unknown key (with a suggestion) at its position; a transform that is not a plugin
  // takes none.
  std::string plugins = (fs::path(SLUICE_BIN).parent_path() / "plugins").string();
  std::string config =
      "data_dir: ./d\n"
      "plugin_dirs: [" +
      plugins + ", " + SLUICE_FIXTURE_PLUGIN_DIR +
      "]\n"
      "streams: [{name: s}]\n"
      "deliveries:\n"
      "  - name: a\n"
      "    stream: s\n"
      "    transform:\n"
      "      plugin: upper_transform\n"
      "      options: {sufix: \"!\"}\n"
      "    sink: {type: file, path: ./out}\n"
      "  - name: b\n"
      "    stream: s\n"
      "    transform: {exec: [cat], options: {suffix: x}}\n"
      "    sink: {type: file, path: ./out}\n";
  fs::path bad = Write("transform.yaml", config, kPrivate);
  Outcome o = RunToEnd({"check", "-c", bad.string()});
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.err.find("transform.yaml:9:24: deliveries[0].transform.options.sufix: unknown key "
                       "'sufix' for transform plugin upper_transform (did you mean 'suffix'?)"),
            std::string::npos)
      << o.err;
  EXPECT_NE(o.err.find("transform.yaml:13:39: deliveries[1].transform.options: only a plugin "
                       "transform takes options"),
            std::string::npos)
      << o.err;
  // Fixed, it passes.
  config.replace(config.find("sufix"), 5, "suffix");
  config = config.substr(0, config.find("  - name: b"));
  fs::path good = Write("transform_ok.yaml", config, kPrivate);
  Outcome ok = RunToEnd({"check", "-c", good.string()});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}
#endif

TEST_F(CliTest, AFailedFirstStartLeavesNoDataDirectory) {
  // The API port is taken: the start fails before any source reads, and the data directory it
  // made is gone again (nothing was accepted into it).
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  std::string port = std::to_string(ntohs(addr.sin_port));
  Write("in.log", "one\ntwo\n", kPrivate);
  fs::path p = Write("busy.yaml",
                     "data_dir: ./data\n"
                     "admin: {listen: \"127.0.0.1:0\"}\n"
                     "broker: {api: {listen: \"127.0.0.1:" +
                         port +
                         "\"}}\n"
                         "streams: [{name: s}]\n"
                         "sources: [{name: f, paths: [./in.log], stream: s}]\n",
                     kPrivate);
  Outcome o = RunToEnd({"run", "-c", p.string()});
  close(fd);
  EXPECT_EQ(o.exit_code, 1) << o.err;
  EXPECT_NE(o.err.find(port), std::string::npos) << o.err;
  EXPECT_FALSE(fs::exists(dir_ / "data")) << o.err;
  // A data directory that was there before is kept as it is.
  fs::create_directories(dir_ / "data" / "mine");
  fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  o = RunToEnd({"run", "-c", p.string()});
  close(fd);
  EXPECT_EQ(o.exit_code, 1) << o.err;
  EXPECT_TRUE(fs::exists(dir_ / "data" / "mine"));
}

TEST_F(CliTest, TalkingSubcommandsSayWhyTheirConfigDidNotLoad) {
  fs::path p = Write("broken.yaml", "data_dir: ./d\nadmn: {listen: 127.0.0.1:4999}\n", kPrivate);
  for (const char* sub : {"status", "reload"}) {
    Outcome o = RunToEnd({sub, "-c", p.string()});
    EXPECT_EQ(o.exit_code, 1) << sub;
    EXPECT_NE(o.err.find("broken.yaml:2:1: admn: unknown key 'admn'"), std::string::npos)
        << sub << ": " << o.err;
    EXPECT_EQ(o.err.find("4195"), std::string::npos) << o.err;  // no fallback to the default
  }
}

TEST_F(CliTest, CheckSampleShowsWhatTheStepsMakeOfALine) {
  fs::path p = Write("sample.yaml",
                     "data_dir: ./d\n"
                     "streams: [{name: s}]\n"
                     "sources:\n"
                     "  - name: web\n"
                     "    paths: [x]\n"
                     "    stream: s\n"
                     "    processing:\n"
                     "      - log_to_json: {format: common_apache}\n"
                     "      - add_metadata: {fields: {env: prod}, host: true}\n",
                     kPrivate);
  Outcome o = RunToEnd({"check", "-c", p.string(), "--sample",
                        "10.1.2.3 - bob [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5"});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out.rfind("web: {", 0), 0u) << o.out;
  EXPECT_NE(o.out.find("\"host\":\"10.1.2.3\""), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("\"env\":\"prod\""), std::string::npos) << o.out;
  // add_metadata's host is this machine's name, as a flow here would add it.
  char host[256] = {0};
  ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
  EXPECT_NE(o.out.find("\"host\":\"" + std::string(host) + "\""), std::string::npos) << o.out;
  o = RunToEnd({"check", "-c", p.string(), "--sample", "not an access log line"});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_NE(o.out.find("(unparsed: passed through)"), std::string::npos) << o.out;
  EXPECT_EQ(RunToEnd({"check", "-c", p.string(), "--sample", "x", "--source", "nope"}).exit_code,
            1);
  // A record a grep step drops says which step dropped it.
  p = Write("grep.yaml",
            "data_dir: ./d\n"
            "streams: [{name: s}]\n"
            "sources:\n"
            "  - name: app\n"
            "    paths: [x]\n"
            "    stream: s\n"
            "    processing:\n"
            "      - json: {}\n"
            "      - grep: {field: path, regex: '^/health', mode: drop}\n",
            kPrivate);
  o = RunToEnd({"check", "-c", p.string(), "--sample", R"({"path":"/health"})"});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "app: (dropped by step 2:grep)\n");
  o = RunToEnd({"check", "-c", p.string(), "--sample", R"({"path":"/api"})"});
  EXPECT_EQ(o.out, "app: {\"path\":\"/api\"}\n");
  // The event time a timestamp step reads is shown.
  p = Write("time.yaml",
            "data_dir: ./d\n"
            "streams: [{name: s}]\n"
            "sources:\n"
            "  - name: app\n"
            "    paths: [x]\n"
            "    stream: s\n"
            "    processing:\n"
            "      - json: {}\n"
            "      - timestamp: {field: ts}\n",
            kPrivate);
  o = RunToEnd({"check", "-c", p.string(), "--sample", R"({"ts":"2024-03-10T16:05:09.5+02:00"})"});
  EXPECT_EQ(o.out,
            "app: {\"ts\":\"2024-03-10T16:05:09.5+02:00\"}  (event time "
            "2024-03-10T14:05:09.500Z)\n");
  // A syslog source's steps see the parsed message, as in the daemon.
  p = Write("syslog.yaml",
            "data_dir: ./d\n"
            "streams: [{name: s}]\n"
            "sources:\n"
            "  - name: net\n"
            "    type: syslog\n"
            "    listen: udp://127.0.0.1:5514\n"
            "    stream: s\n"
            "    processing:\n"
            "      - grep: {field: ident, regex: '^sshd$'}\n",
            kPrivate);
  o = RunToEnd({"check", "-c", p.string(), "--sample", "<34>Oct 11 22:14:15 web sshd[42]: no"});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_NE(o.out.find("\"ident\":\"sshd\""), std::string::npos) << o.out;
  o = RunToEnd({"check", "-c", p.string(), "--sample", "<34>Oct 11 22:14:15 web cron[1]: x"});
  EXPECT_EQ(o.out, "net: (dropped by step 1:grep)\n");
}

TEST_F(CliTest, RunStopsCleanlyOnSigtermAndSigint) {
  fs::path p = Write("ok.yaml",
                     "data_dir: ./data\n"
                     "admin: {listen: \"127.0.0.1:0\"}\n"
                     "streams:\n"
                     "  - name: s\n"
                     "    shards: 2\n",
                     kPrivate);
  for (int sig : {SIGTERM, SIGINT}) {
    pid_t pid = Start({"run", "-c", p.string()});
    // Wait until the daemon says it started, then signal it.
    for (int i = 0; i < 200 && Slurp(dir_ / "stderr").find("sluice started") == std::string::npos;
         ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    kill(pid, sig);
    Outcome o = Wait(pid);
    EXPECT_EQ(o.exit_code, 0) << o.err;
    EXPECT_NE(o.err.find("sluice started"), std::string::npos) << o.err;
    EXPECT_EQ(o.err.find("open handles"), std::string::npos) << o.err;
    EXPECT_TRUE(fs::exists(dir_ / "data")) << o.err;
  }
}

}  // namespace
