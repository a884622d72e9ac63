// isolation: process: the plugin in a child process answers as it does in the daemon's process,
// and its crashes, hangs and failing restarts are calls that RETRY.
#include "buffer/plugin_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "buffer/shared_bytes.h"
#include "core/log.h"

namespace sluice::buffer {
namespace {

const std::filesystem::path kFixtures = SLUICE_FIXTURE_PLUGIN_DIR;
using std::chrono::milliseconds;

IsolationOptions Isolated(milliseconds timeout = milliseconds(10000),
                          std::function<bool()> aborted = {}) {
  IsolationOptions o;
  o.isolation = Isolation::kProcess;
  o.call_timeout = timeout;
  o.aborted = std::move(aborted);
  o.executable = SLUICE_PLUGIN_CHILD;
  return o;
}

int64_t Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start).count();
}

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A record batch to deliver, owning its bytes.
struct Records {
  std::vector<std::string> data, ids;
  std::vector<sluice_record> records;
  std::vector<sluice_record_outcome> outcomes;
  sluice_batch batch{};

  explicit Records(std::vector<std::string> d, const char* batch_id = "batch-1")
      : data(std::move(d)) {
    for (size_t i = 0; i < data.size(); ++i) ids.push_back("rec-" + std::to_string(i));
    for (size_t i = 0; i < data.size(); ++i) {
      records.push_back({reinterpret_cast<const uint8_t*>(data[i].data()), data[i].size(),
                         1700000000000 + static_cast<int64_t>(i) * 7, ids[i].c_str()});
    }
    batch.struct_size = sizeof(batch);
    batch.attempt = 3;
    batch.batch_id = batch_id;
    batch.content_encoding = "";
    batch.key_id = "";
    batch.records = records.data();
    batch.record_count = records.size();
  }
  // Delivers through `sink` with every outcome unset first, as BatchSender does.
  int Deliver(SinkInstance* sink, sluice_deliver_result* result) {
    outcomes.assign(records.size(), sluice_record_outcome{-1, 0, nullptr});
    result->outcomes = outcomes.data();
    return sink->Deliver(batch, result);
  }
};

class PluginProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sluice-isolation-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  const Plugin* Load(const char* name) {
    auto p = host_.LoadFile(kFixtures / (std::string(name) + ".so"));
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? *p : nullptr;
  }
  std::unique_ptr<SinkInstance> Make(const char* name, ValidatedOptions options = {},
                                     IsolationOptions iso = Isolated()) {
    auto inst = SinkInstance::Create(Load(name), options, "orders", &counters_, iso);
    EXPECT_TRUE(inst.ok()) << inst.status().ToString();
    return inst.ok() ? std::move(*inst) : nullptr;
  }

  std::filesystem::path dir_;
  PluginHost host_{{}};
  PluginCounters counters_;
};

TEST_F(PluginProcessTest, RecordsAndPartialOutcomesRoundTripExactly) {
  auto in_process = Make("fx_isolated_sink", {}, IsolationOptions{});
  auto child = Make("fx_isolated_sink");
  ASSERT_TRUE(in_process && child);
  std::string binary("ECHO\0\x01\xff tail", 12);
  Records r({"plain", "RETRY:slow down", "REJECT:mapping conflict", "ECHO one", "UNSET",
             std::string(), binary, "RETRY:"});
  sluice_deliver_result want, got;
  Records r2 = r;
  r2.records.clear();
  for (size_t i = 0; i < r2.data.size(); ++i) {  // r2's own pointers
    r2.records.push_back({reinterpret_cast<const uint8_t*>(r2.data[i].data()), r2.data[i].size(),
                          r.records[i].arrival_ms, r2.ids[i].c_str()});
  }
  r2.batch.records = r2.records.data();
  int want_rc = r.Deliver(in_process.get(), &want);
  int got_rc = r2.Deliver(child.get(), &got);
  EXPECT_EQ(want_rc, SLUICE_DELIVER_PARTIAL);
  EXPECT_EQ(got_rc, want_rc);
  EXPECT_STREQ(got.error_code, "Fx.Partial");
  EXPECT_STREQ(got.error_code, want.error_code);
  EXPECT_STREQ(got.error_message, want.error_message);
  EXPECT_EQ(got.retry_after_ms, 42u);
  ASSERT_EQ(r2.outcomes.size(), r.outcomes.size());
  for (size_t i = 0; i < r.outcomes.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(r2.outcomes[i].code, r.outcomes[i].code);
    EXPECT_EQ(r2.outcomes[i].retry_after_ms, r.outcomes[i].retry_after_ms);
    ASSERT_EQ(r2.outcomes[i].reason == nullptr, r.outcomes[i].reason == nullptr);
    if (r.outcomes[i].reason) {
      EXPECT_STREQ(r2.outcomes[i].reason, r.outcomes[i].reason);
    }
  }
  EXPECT_EQ(r2.outcomes[0].code, SLUICE_DELIVER_OK);
  EXPECT_EQ(r2.outcomes[1].code, SLUICE_DELIVER_RETRY);
  EXPECT_EQ(r2.outcomes[1].retry_after_ms, 251u);
  EXPECT_STREQ(r2.outcomes[1].reason, "slow down");
  EXPECT_EQ(r2.outcomes[2].code, SLUICE_DELIVER_REJECT);
  EXPECT_STREQ(r2.outcomes[2].reason, "mapping conflict");
  EXPECT_STREQ(r2.outcomes[3].reason, "id=rec-3 at=1700000000021 len=8 data=ECHO one");
  EXPECT_EQ(r2.outcomes[4].code, -1);  // left unset stays unset
  EXPECT_EQ(r2.outcomes[4].reason, nullptr);
  // Binary data with a NUL crossed whole (the reason prints up to the NUL).
  EXPECT_STREQ(r2.outcomes[6].reason, "id=rec-6 at=1700000000042 len=12 data=ECHO");
  EXPECT_STREQ(r2.outcomes[7].reason, "");
  EXPECT_EQ(child->child_crashes(), 0u);
}

TEST_F(PluginProcessTest, ObjectAndBatchFieldsRoundTrip) {
  auto in_process = Make("fx_isolated_object", {}, IsolationOptions{});
  auto child = Make("fx_isolated_object");
  ASSERT_TRUE(in_process && child);
  // 3 MiB of every byte value: more than the first shared memory, which grows.
  std::string object = "ECHO";
  for (size_t i = 0; object.size() < (3u << 20); ++i) object.push_back(static_cast<char>(i * 131));
  sluice_batch b{};
  b.struct_size = sizeof(b);
  b.attempt = 5;
  b.batch_id = "0000000042";
  b.object_key = "logs/2026/12/05/orders-1-2026-12-05-18-00-00-abc.gz";
  b.object_data = reinterpret_cast<const uint8_t*>(object.data());
  b.object_len = object.size();
  b.content_encoding = "encrypted";
  b.key_id = "k-2026-12";
  sluice_deliver_result want{}, got{};
  int want_rc = in_process->Deliver(b, &want);
  int got_rc = child->Deliver(b, &got);
  EXPECT_EQ(want_rc, SLUICE_DELIVER_RETRY);
  EXPECT_EQ(got_rc, want_rc);
  EXPECT_STREQ(got.error_code, "Fx.Echo");
  EXPECT_STREQ(got.error_message, want.error_message);
  EXPECT_NE(std::string(got.error_message)
                .find("key=logs/2026/12/05/orders-1-2026-12-05-18-00-00"
                      "-abc.gz enc=encrypted key_id=k-2026-12 "
                      "batch=0000000042 attempt=5 len=3145728"),
            std::string::npos)
      << got.error_message;
  EXPECT_EQ(got.retry_after_ms, 123u);
  // A small object afterwards: accepted.
  std::string small = "hello";
  b.object_data = reinterpret_cast<const uint8_t*>(small.data());
  b.object_len = small.size();
  EXPECT_EQ(child->Deliver(b, &got), SLUICE_DELIVER_OK);
  EXPECT_EQ(counters_.Snapshot()["object_bytes"], 2u * object.size() + small.size());
}

TEST_F(PluginProcessTest, CrashIsRetryNamingTheSignalAndTheNextCallRunsInANewChild) {
  auto sink = Make("fx_isolated_sink", {{"path", (dir_ / "out.txt").string()}});
  ASSERT_TRUE(sink);
  auto* child = static_cast<ProcessSinkInstance*>(sink.get());
  pid_t first = child->child_pid();
  ASSERT_GT(first, 0);
  Records poison({"fine", "a POISON record"}, "batch-7");
  sluice_deliver_result result;
  EXPECT_EQ(poison.Deliver(sink.get(), &result), SLUICE_DELIVER_RETRY);
  EXPECT_STREQ(result.error_code, "Plugin.Crashed");
  EXPECT_EQ(std::string(result.error_message),
            "plugin child " + std::to_string(first) + " killed by SIGSEGV during on_deliver");
  EXPECT_EQ(sink->child_crashes(), 1u);
  EXPECT_EQ(child->child_pid(), -1);
  EXPECT_NE(kill(first, 0), 0);  // reaped

  auto start = std::chrono::steady_clock::now();
  Records ok({"one", "two"});
  EXPECT_EQ(ok.Deliver(sink.get(), &result), SLUICE_DELIVER_OK) << result.error_message;
  EXPECT_GE(Since(start), 90);  // the restart back-off
  EXPECT_EQ(sink->child_restarts(), 1u);
  EXPECT_GT(child->child_pid(), 0);
  EXPECT_NE(child->child_pid(), first);
  EXPECT_EQ(counters_.Snapshot()["creates"], 2u);  // on_create ran again
  sink.reset();
  EXPECT_EQ(ReadFile(dir_ / "out.txt"), "one\ntwo\ndestroyed\n");
}

TEST_F(PluginProcessTest, ExitIsNamedWithItsCode) {
  auto sink = Make("fx_isolated_sink");
  ASSERT_TRUE(sink);
  pid_t pid = static_cast<ProcessSinkInstance*>(sink.get())->child_pid();
  Records r({"EXIT now"});
  sluice_deliver_result result;
  EXPECT_EQ(r.Deliver(sink.get(), &result), SLUICE_DELIVER_RETRY);
  EXPECT_STREQ(result.error_code, "Plugin.Crashed");
  EXPECT_EQ(std::string(result.error_message),
            "plugin child " + std::to_string(pid) + " exited with code 7 during on_deliver");
}

TEST_F(PluginProcessTest, HangIsKilledAtTheCallTimeout) {
  auto sink = Make("fx_isolated_sink", {}, Isolated(milliseconds(400)));
  ASSERT_TRUE(sink);
  pid_t pid = static_cast<ProcessSinkInstance*>(sink.get())->child_pid();
  Records r({"HANG here"});
  sluice_deliver_result result;
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(r.Deliver(sink.get(), &result), SLUICE_DELIVER_RETRY);
  int64_t took = Since(start);
  EXPECT_GE(took, 400);
  EXPECT_LT(took, 400 + 500);
  EXPECT_STREQ(result.error_code, "Plugin.Timeout");
  EXPECT_EQ(std::string(result.error_message)
                .rfind("plugin child " + std::to_string(pid) + " killed after ", 0),
            0u)
      << result.error_message;
  EXPECT_EQ(sink->child_timeouts(), 1u);
  EXPECT_EQ(sink->child_crashes(), 0u);
  EXPECT_NE(kill(pid, 0), 0);
  Records ok({"fine"});
  EXPECT_EQ(ok.Deliver(sink.get(), &result), SLUICE_DELIVER_OK) << result.error_message;
}

TEST_F(PluginProcessTest, AChattyHangIsKilledAtTheCallTimeoutToo) {
  // Log lines keep arriving while the call hangs: the call's age is checked all the same.
  auto sink = Make("fx_isolated_sink", {}, Isolated(milliseconds(300)));
  ASSERT_TRUE(sink);
  Records r({"CHATTY"});
  sluice_deliver_result result;
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(r.Deliver(sink.get(), &result), SLUICE_DELIVER_RETRY);
  EXPECT_LT(Since(start), 300 + 500);
  EXPECT_STREQ(result.error_code, "Plugin.Timeout");
  EXPECT_EQ(sink->child_timeouts(), 1u);
}

TEST_F(PluginProcessTest, AbortedStopKillsTheChild) {
  std::atomic<bool> aborted{false};
  auto sink =
      Make("fx_isolated_sink", {}, Isolated(milliseconds(60000), [&] { return aborted.load(); }));
  ASSERT_TRUE(sink);
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(200));
    aborted = true;
  });
  Records r({"HANG here"});
  sluice_deliver_result result;
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(r.Deliver(sink.get(), &result), SLUICE_DELIVER_RETRY);
  EXPECT_LT(Since(start), 1000);
  stopper.join();
  EXPECT_STREQ(result.error_code, "Plugin.Aborted");
  // No restart while aborted.
  Records ok({"fine"});
  EXPECT_EQ(ok.Deliver(sink.get(), &result), SLUICE_DELIVER_RETRY);
  EXPECT_STREQ(result.error_code, "Plugin.Aborted");
}

TEST_F(PluginProcessTest, FailingCreateInARestartedChildIsRetryWithItsMessage) {
  std::filesystem::path marker = dir_ / "marker";
  auto sink = Make("fx_isolated_sink", {{"path", ""}, {"create_fail_if", marker.string()}});
  ASSERT_TRUE(sink);
  Records poison({"POISON"});
  sluice_deliver_result result;
  EXPECT_EQ(poison.Deliver(sink.get(), &result), SLUICE_DELIVER_RETRY);
  std::ofstream(marker) << "x";
  Records ok({"fine"});
  EXPECT_EQ(ok.Deliver(sink.get(), &result), SLUICE_DELIVER_RETRY);
  EXPECT_STREQ(result.error_code, "Plugin.CreateFailed");
  EXPECT_NE(std::string(result.error_message).find("marker " + marker.string() + " exists"),
            std::string::npos)
      << result.error_message;
  // The back-off doubles: 100 ms, then 200 ms before the third start.
  std::filesystem::remove(marker);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(ok.Deliver(sink.get(), &result), SLUICE_DELIVER_OK) << result.error_message;
  EXPECT_GE(Since(start), 150);
  EXPECT_EQ(sink->child_restarts(), 2u);
}

TEST_F(PluginProcessTest, CreateFailingInTheFirstChildFailsCreate) {
  const Plugin* p = Load("fx_failing_create");
  auto in_process = SinkInstance::Create(p, {}, "orders", &counters_);
  auto child = SinkInstance::Create(p, {}, "orders", &counters_, Isolated());
  ASSERT_FALSE(in_process.ok());
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.status().message(), in_process.status().message());
}

TEST_F(PluginProcessTest, TransformsRoundTrip) {
  auto in_process = Make("fx_isolated_transform", {}, IsolationOptions{});
  auto child = Make("fx_isolated_transform");
  ASSERT_TRUE(in_process && child);
  Records r(
      {"hello", "DROP me", "FAIL this", "NULL", std::string("bin\0ary", 7), "", "mixed Case"});
  std::vector<sluice_transform_output> want(r.records.size()), got(r.records.size());
  EXPECT_EQ(in_process->Transform(r.records.data(), r.records.size(), want.data()), 0);
  EXPECT_EQ(child->Transform(r.records.data(), r.records.size(), got.data()), 0);
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(got[i].code, want[i].code);
    ASSERT_EQ(got[i].data == nullptr, want[i].data == nullptr);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(got[i].data), got[i].len),
              std::string(reinterpret_cast<const char*>(want[i].data), want[i].len));
    ASSERT_EQ(got[i].reason == nullptr, want[i].reason == nullptr);
    if (want[i].reason) {
      EXPECT_STREQ(got[i].reason, want[i].reason);
    }
  }
  EXPECT_EQ(got[0].code, SLUICE_TRANSFORM_OK);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(got[0].data), got[0].len), "HELLO!");
  EXPECT_EQ(got[1].code, SLUICE_TRANSFORM_DROPPED);
  EXPECT_EQ(got[2].code, SLUICE_TRANSFORM_FAILED);
  EXPECT_STREQ(got[2].reason, "cannot transform rec-2");
  EXPECT_EQ(got[3].data, nullptr);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(got[4].data), got[4].len),
            std::string("BIN\0ARY!", 8));
  EXPECT_EQ(counters_.Snapshot()["transformed"], 2 * r.records.size());
}

TEST_F(PluginProcessTest, TransformCrashFailsTheInvocationAndTheNextOneWorks) {
  auto child = Make("fx_isolated_transform");
  ASSERT_TRUE(child);
  Records bad({"ok", "POISON"});
  std::vector<sluice_transform_output> out(2);
  EXPECT_NE(child->Transform(bad.records.data(), 2, out.data()), 0);
  EXPECT_EQ(child->child_crashes(), 1u);
  Records good({"ok"});
  EXPECT_EQ(child->Transform(good.records.data(), 1, out.data()), 0);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(out[0].data), out[0].len), "OK!");
}

TEST_F(PluginProcessTest, LogLinesAndCountersArriveInTheParent) {
  log::Level level = log::GetLevel();
  log::SetLevel(log::Level::kDebug);
  auto sink = Make("fx_isolated_sink");
  ASSERT_TRUE(sink);
  ::testing::internal::CaptureStderr();
  Records r({"a", "b", "c"}, "batch-99");
  sluice_deliver_result result;
  EXPECT_EQ(r.Deliver(sink.get(), &result), SLUICE_DELIVER_OK);
  std::string err = ::testing::internal::GetCapturedStderr();
  log::SetLevel(level);
  EXPECT_NE(err.find("deliver batch=batch-99 attempt=3 records=3"), std::string::npos) << err;
  EXPECT_NE(err.find("delivery=orders"), std::string::npos) << err;
  EXPECT_NE(err.find("plugin=fx_isolated_sink"), std::string::npos) << err;
  EXPECT_EQ(counters_.Snapshot()["records_seen"], 3u);
  EXPECT_EQ(counters_.Snapshot()["creates"], 1u);
  EXPECT_TRUE(sink->Healthcheck().ok());
}

TEST_F(PluginProcessTest, TheChildKeepsNoDescriptorOfTheParent) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);  // inheritable, as a careless descriptor of the daemon's would be
  auto sink = Make("fx_isolated_sink");
  ASSERT_TRUE(sink);
  close(p[1]);
  pollfd pf{p[0], POLLIN, 0};
  ASSERT_EQ(poll(&pf, 1, 2000), 1);  // end of file: no child holds the write end
  char c;
  EXPECT_EQ(read(p[0], &c, 1), 0);
  close(p[0]);
}

TEST_F(PluginProcessTest, ChildDiesWithTheParentThread) {
  // Children are spawned from one long-lived thread: a worker thread that restarts a child and
  // exits does not take the child with it (PR_SET_PDEATHSIG follows the spawning thread).
  std::unique_ptr<SinkInstance> sink;
  std::thread([&] { sink = Make("fx_isolated_sink"); }).join();
  ASSERT_TRUE(sink);
  std::this_thread::sleep_for(milliseconds(100));
  Records ok({"fine"});
  sluice_deliver_result result;
  EXPECT_EQ(ok.Deliver(sink.get(), &result), SLUICE_DELIVER_OK) << result.error_message;
  EXPECT_EQ(sink->child_crashes(), 0u);
}

// The FNV-1a-echoing answer of fx_isolated_object to an object starting with "ECHO".
std::string EchoOf(SinkInstance* sink, std::string_view object) {
  sluice_batch b{};
  b.struct_size = sizeof(b);
  b.attempt = 1;
  b.batch_id = "b";
  b.object_key = "k";
  b.object_data = reinterpret_cast<const uint8_t*>(object.data());
  b.object_len = object.size();
  b.content_encoding = "";
  b.key_id = "";
  sluice_deliver_result r{};
  EXPECT_EQ(sink->Deliver(b, &r), SLUICE_DELIVER_RETRY) << r.error_message;
  return r.error_message;
}

std::string Pattern(size_t n, unsigned seed) {
  std::string s = "ECHO";
  for (size_t i = 0; s.size() < n; ++i) s.push_back(static_cast<char>(i * seed + (i >> 13)));
  return s;
}

// An object the delivery built in shared memory reaches the child without a copy (the request
// says where it is), byte for byte, also after the region grew and moved.
TEST_F(PluginProcessTest, ObjectsInSharedMemoryAreReadInPlace) {
  auto in_process = Make("fx_isolated_object", {}, IsolationOptions{});
  auto made = Make("fx_isolated_object");
  ASSERT_TRUE(in_process && made);
  auto* child = dynamic_cast<ProcessSinkInstance*>(made.get());
  ASSERT_NE(child, nullptr);
  SharedBytes buffer;
  ASSERT_TRUE(buffer.Share());
  buffer.append(Pattern(3u << 20, 131));
  EXPECT_EQ(EchoOf(child, buffer), EchoOf(in_process.get(), buffer));
  EXPECT_LT(child->last_request_bytes(), 1024u);
  // Grown past its mapping (and moved): the child maps more of the same file.
  buffer.clear();
  buffer.append(Pattern(11u << 20, 7));
  EXPECT_EQ(EchoOf(child, buffer), EchoOf(in_process.get(), buffer));
  EXPECT_LT(child->last_request_bytes(), 1024u);
  // A part of it, and bytes on the heap (copied) in between.
  std::string_view part = std::string_view(buffer).substr(0, 5000);
  EXPECT_EQ(EchoOf(child, part), EchoOf(in_process.get(), part));
  std::string heap = Pattern(100000, 3);
  EXPECT_EQ(EchoOf(child, heap), EchoOf(in_process.get(), heap));
  EXPECT_GT(child->last_request_bytes(), heap.size());
  // The child restarted after a crash gets the region again.
  SharedBytes poison;
  ASSERT_TRUE(poison.Share());
  poison.append("POISON");
  sluice_batch b{};
  b.struct_size = sizeof(b);
  b.batch_id = "p";
  b.object_data = reinterpret_cast<const uint8_t*>(poison.data());
  b.object_len = poison.size();
  sluice_deliver_result r{};
  EXPECT_EQ(child->Deliver(b, &r), SLUICE_DELIVER_RETRY);
  EXPECT_STREQ(r.error_code, "Plugin.Crashed");
  EXPECT_EQ(EchoOf(child, buffer), EchoOf(in_process.get(), buffer));
  EXPECT_LT(child->last_request_bytes(), 1024u);
}

// Regions come and go (a delivery's buffers end with it): the child is told to forget the gone
// ones and keeps serving new ones.
TEST_F(PluginProcessTest, ManyShortLivedRegionsAreForgotten) {
  auto in_process = Make("fx_isolated_object", {}, IsolationOptions{});
  auto made = Make("fx_isolated_object");
  ASSERT_TRUE(in_process && made);
  auto* child = dynamic_cast<ProcessSinkInstance*>(made.get());
  ASSERT_NE(child, nullptr);
  for (unsigned i = 0; i < 40; ++i) {
    SCOPED_TRACE(i);
    SharedBytes buffer;
    ASSERT_TRUE(buffer.Share());
    buffer.append(Pattern(70000 + i, i + 1));
    EXPECT_EQ(EchoOf(child, buffer), EchoOf(in_process.get(), buffer));
    EXPECT_LT(child->last_request_bytes(), 1024u);
  }
  EXPECT_EQ(child->child_crashes(), 0u);
}

// Records (and transform inputs) in a shared region are sent by place; one on the heap among
// them is copied; the answers are the in-process ones.
TEST_F(PluginProcessTest, RecordsInSharedMemoryAreReadInPlace) {
  auto in_process = Make("fx_isolated_sink", {}, IsolationOptions{});
  auto made = Make("fx_isolated_sink");
  ASSERT_TRUE(in_process && made);
  auto* child = dynamic_cast<ProcessSinkInstance*>(made.get());
  ASSERT_NE(child, nullptr);
  std::vector<std::string> data = {
      "ECHO first", "plain", "REJECT:no", "ECHO " + Pattern(50000, 5), "", "ECHO last"};
  SharedBytes buffer;
  ASSERT_TRUE(buffer.Share());
  std::vector<size_t> at;
  for (const std::string& d : data) {
    at.push_back(buffer.size());
    buffer.append(d);
    buffer.append("\n");
  }
  std::string heap = "ECHO on the heap";
  auto run = [&](SinkInstance* sink) {
    Records r(data);
    for (size_t i = 0; i < data.size(); ++i) {
      r.records[i].data = reinterpret_cast<const uint8_t*>(buffer.data() + at[i]);
    }
    r.records[2].data = reinterpret_cast<const uint8_t*>(heap.data());
    r.records[2].len = heap.size();
    sluice_deliver_result result;
    int rc = r.Deliver(sink, &result);
    std::string out = std::to_string(rc);
    for (const auto& o : r.outcomes) {
      out += "|" + std::to_string(o.code) + ":" + (o.reason ? o.reason : "-");
    }
    return out;
  };
  std::string want = run(in_process.get());
  EXPECT_EQ(run(child), want);
  EXPECT_NE(want.find("data=ECHO on the heap"), std::string::npos) << want;
  EXPECT_LT(child->last_request_bytes(), 2048u);
  // Transforms read their input the same way.
  auto t_in = Make("fx_isolated_transform", {}, IsolationOptions{});
  auto t_made = Make("fx_isolated_transform");
  ASSERT_TRUE(t_in && t_made);
  auto* t_child = dynamic_cast<ProcessSinkInstance*>(t_made.get());
  Records r(data);
  for (size_t i = 0; i < data.size(); ++i) {
    r.records[i].data = reinterpret_cast<const uint8_t*>(buffer.data() + at[i]);
  }
  std::vector<sluice_transform_output> a(data.size()), b(data.size());
  EXPECT_EQ(t_in->Transform(r.records.data(), data.size(), a.data()), 0);
  EXPECT_EQ(t_child->Transform(r.records.data(), data.size(), b.data()), 0);
  EXPECT_LT(t_child->last_request_bytes(), 2048u);
  for (size_t i = 0; i < data.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(b[i].code, a[i].code);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(b[i].data), b[i].len),
              std::string(reinterpret_cast<const char*>(a[i].data), a[i].len));
  }
}

// Partition keys (ABI 1.5) cross to the child, in order, on a first attempt and on a retry of a
// subset; a batch without them arrives without them.
TEST_F(PluginProcessTest, PartitionKeysCrossToTheChild) {
  std::string out = (dir_ / "keys.txt").string();
  auto child = Make("fx_isolated_sink", {{"path", out}, {"keys", "true"}});
  ASSERT_TRUE(child);
  Records r({"one", "two", "three"});
  std::vector<const char*> keys = {"alpha", "", "gamma"};
  r.batch.partition_keys = keys.data();
  sluice_deliver_result result;
  EXPECT_EQ(r.Deliver(child.get(), &result), SLUICE_DELIVER_OK) << result.error_message;
  Records subset({"four"});
  std::vector<const char*> k2 = {"delta"};
  subset.batch.partition_keys = k2.data();
  EXPECT_EQ(subset.Deliver(child.get(), &result), SLUICE_DELIVER_OK);
  Records none({"five"});
  EXPECT_EQ(none.Deliver(child.get(), &result), SLUICE_DELIVER_OK);
  child.reset();
  EXPECT_EQ(ReadFile(out), "alpha one\n two\ngamma three\ndelta four\n- five\ndestroyed\n");
}

// The child runs the parent's private copy of the plugin: the file on disk deleted (or replaced)
// after the parent loaded it changes nothing, for the first child and a restarted one.
TEST_F(PluginProcessTest, TheChildLoadsTheParentsPrivateCopy) {
  const std::filesystem::path so = dir_ / "fx_isolated_object.so";
  std::filesystem::copy_file(kFixtures / "fx_isolated_object.so", so);
  auto plugin = host_.LoadFile(so);
  ASSERT_TRUE(plugin.ok()) << plugin.status().ToString();
  int seals = fcntl((*plugin)->copy_fd(), F_GET_SEALS);
  EXPECT_EQ(seals & (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW),
            F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW);
  std::filesystem::remove(so);
  auto inst = SinkInstance::Create(*plugin, {}, "orders", &counters_, Isolated());
  ASSERT_TRUE(inst.ok()) << inst.status().ToString();
  std::string object = Pattern(1000, 9);
  std::string first = EchoOf(inst->get(), object);
  EXPECT_NE(first.find("len=1000"), std::string::npos) << first;
  {
    std::ofstream junk(so, std::ios::binary);
    junk << "not an ELF file";
  }
  std::string poison = "POISON";
  sluice_batch b{};
  b.struct_size = sizeof(b);
  b.batch_id = "p";
  b.object_data = reinterpret_cast<const uint8_t*>(poison.data());
  b.object_len = poison.size();
  sluice_deliver_result r{};
  EXPECT_EQ((*inst)->Deliver(b, &r), SLUICE_DELIVER_RETRY);
  EXPECT_STREQ(r.error_code, "Plugin.Crashed");
  EXPECT_EQ(EchoOf(inst->get(), object), first);  // a new child, the same code
  EXPECT_EQ((*inst)->child_restarts(), 1u);
}

}  // namespace
}  // namespace sluice::buffer
