// The call ledger: crashes inside plugin calls survive the process (a file mapping) and are
// counted per batch; abandoned calls and other ledgers' slots are not crashes.
#include "buffer/call_ledger.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace sluice::buffer {
namespace {

class CallLedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sluice_ledger_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<CallLedger> Open() {
    auto l = CallLedger::Open(dir_ / "calls", "d1");
    EXPECT_TRUE(l.ok()) << l.status().ToString();
    return l.ok() ? std::move(*l) : nullptr;
  }
  // A child process enters a call on `batch` in `slot` and dies there of a fatal signal (SIGABRT,
  // through the ledger's handler), as a crash does.
  void CrashIn(int slot, const std::string& batch) { DieIn(slot, batch, true); }
  // The same, ending without a signal the process could see, as kill -9 or the OOM killer does.
  void KillIn(int slot, const std::string& batch) { DieIn(slot, batch, false); }
  void DieIn(int slot, const std::string& batch, bool signal) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto l = CallLedger::Open(dir_ / "calls", "d1");
      if (!l.ok()) ::_exit(2);
      (*l)->Begin(slot, batch);
      (*l)->Enter(slot, "fx_poison", "on_deliver", 1, true, 0);
      if (signal) {
        struct rlimit no_core {};
        ::setrlimit(RLIMIT_CORE, &no_core);
        ::raise(SIGABRT);
      }
      ::_exit(0);  // no Leave: the process ended inside the call
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (signal) {
      ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) << status;
    } else {
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    }
  }
  std::filesystem::path dir_;
};

TEST_F(CallLedgerTest, ACallLeftOpenIsACrashCountedPerBatch) {
  CrashIn(2, "batch-a");
  {
    auto l = Open();
    ASSERT_EQ(l->crashes_found().size(), 1u);
    EXPECT_EQ(l->crashes_found()[0].plugin, "fx_poison");
    EXPECT_EQ(l->crashes_found()[0].call, "on_deliver");
    EXPECT_EQ(l->crashes_found()[0].batch, "batch-a");
    EXPECT_TRUE(l->crashes_found()[0].signalled);
    EXPECT_EQ(l->crashes_found()[0].count, 1u);
    EXPECT_EQ(l->DeathsOf("batch-a").crashes, 1u);
    EXPECT_EQ(l->DeathsOf("batch-a").kills, 0u);
    EXPECT_EQ(l->DeathsOf("batch-b").crashes, 0u);
    EXPECT_FALSE(l->DeathsOf("batch-a").poison());
  }
  // Replayed by worker 0: the count follows the batch to its new slot, and adds up.
  CrashIn(0, "batch-a");
  CrashIn(0, "batch-a");
  auto l = Open();
  EXPECT_EQ(l->DeathsOf("batch-a").crashes, 3u);
  EXPECT_TRUE(l->DeathsOf("batch-a").poison());
  l->Forget("batch-a");
  EXPECT_EQ(l->DeathsOf("batch-a").crashes, 0u);
}

// kill -9 (or the OOM killer, or a power cut) inside a call is not a crash: three of them leave
// the batch to the plugin; only kMaxKills of them make it poison.
TEST_F(CallLedgerTest, DeathsWithoutASignalAreKillsSpilledOnlyAfterMany) {
  for (uint32_t k = 1; k <= CallLedger::kMaxKills; ++k) {
    KillIn(static_cast<int>(k % 2), "batch-k");
    auto l = Open();
    ASSERT_EQ(l->crashes_found().size(), 1u);
    EXPECT_FALSE(l->crashes_found()[0].signalled);
    EXPECT_EQ(l->crashes_found()[0].kills, k);
    CallLedger::Deaths d = l->DeathsOf("batch-k");
    EXPECT_EQ(d.crashes, 0u);
    EXPECT_EQ(d.kills, k);
    EXPECT_EQ(d.poison(), k >= CallLedger::kMaxKills) << k;
  }
  // Crashes and kills on one batch are counted apart.
  CrashIn(0, "batch-k");
  auto l = Open();
  EXPECT_EQ(l->DeathsOf("batch-k").crashes, 1u);
  EXPECT_EQ(l->DeathsOf("batch-k").kills, CallLedger::kMaxKills);
}

TEST_F(CallLedgerTest, CallsThatEndAndOtherBatchesAreNotCrashes) {
  {
    auto l = Open();
    l->Begin(0, "batch-a");
    l->Enter(0, "p", "on_deliver", 1, true, 0);
    l->Leave(0);
    l->Begin(1, "batch-b");
    l->Enter(1, "p", "on_deliver", 1, false, 0);  // a call into a child process: timed only
  }
  auto l = Open();
  EXPECT_TRUE(l->crashes_found().empty());
  // A new batch in the slot resets what an earlier one had.
  CrashIn(3, "batch-c");
  auto again = Open();
  again->Begin(3, "batch-d");
  EXPECT_EQ(again->DeathsOf("batch-c").crashes, 0u);
}

TEST_F(CallLedgerTest, AnAbandonedCallIsNotACrashAndOnlyItsOwnerClearsASlot) {
  {
    auto l = Open();
    l->Begin(0, "batch-a");
    l->Enter(0, "p", "on_deliver", 1, true, 0);
    l->Abandon(0);  // stop gave up on it; the process exits with the call running
  }
  {
    auto l = Open();
    EXPECT_TRUE(l->crashes_found().empty());
  }
  // An abandoned call returning late must not clear the call a newer ledger entered.
  auto old_ledger = Open();
  old_ledger->Begin(0, "batch-a");
  old_ledger->Enter(0, "p", "on_deliver", 1, true, 0);
  auto new_ledger = Open();  // as a reload's new delivery does
  new_ledger->Begin(0, "batch-a");
  new_ledger->Enter(0, "p", "on_deliver", 1, true, 0);
  old_ledger->Leave(0);
  new_ledger.reset();  // ends inside its call
  auto after = Open();
  ASSERT_EQ(after->crashes_found().size(), 1u);
}

TEST_F(CallLedgerTest, CallAgeIsTheOldestRunningCallAndStuckIsPerCallTimeout) {
  auto l = Open();
  EXPECT_EQ(l->OldestCallAgeMs(1000), 0);
  l->Enter(0, "p", "on_deliver", 1000, false, 5000);
  l->Enter(1, "p", "on_transform", 4000, false, 500);
  EXPECT_EQ(l->OldestCallAgeMs(5000), 4000);
  EXPECT_TRUE(l->CallStuck(5000));  // the transform: 1000 ms old, 500 allowed
  l->Leave(1);
  EXPECT_FALSE(l->CallStuck(5000));  // the deliver: 4000 ms old, 5000 allowed
  EXPECT_TRUE(l->CallStuck(6001));
  l->Leave(0);
  EXPECT_EQ(l->OldestCallAgeMs(5000), 0);
  EXPECT_FALSE(l->CallStuck(9000));
}

TEST_F(CallLedgerTest, AForeignOrShortFileStartsEmpty) {
  {
    FILE* f = std::fopen((dir_ / "calls").c_str(), "w");
    std::fputs("not a ledger", f);
    std::fclose(f);
  }
  auto l = Open();
  ASSERT_NE(l, nullptr);
  EXPECT_TRUE(l->crashes_found().empty());
}

}  // namespace
}  // namespace sluice::buffer
