#include "presence/base/ticker.h"

#include "gtest/gtest.h"
#include "presence/base/mutex.h"

namespace presence {
namespace {

// A task that counts its runs and fails every second one.
class CountingTask {
 public:
  absl::Status Run() ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    ++calls_;
    called_.SignalAll();
    return calls_ % 2 == 0 ? absl::UnavailableError("down") : absl::OkStatus();
  }

  void WaitForCalls(int n) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    while (calls_ < n) called_.Wait(&mu_);
  }

 private:
  Mutex mu_;
  CondVar called_;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(TickerTest, RunsRepeatedlyAndCountsFailures) {
  CountingTask task;
  Ticker ticker([&task] { return task.Run(); }, absl::Milliseconds(1));
  task.WaitForCalls(4);
  ticker.Stop();
  EXPECT_GE(ticker.runs(), 4u);
  EXPECT_GE(ticker.failures(), 2u);
  const uint64_t runs = ticker.runs();
  ticker.Stop();  // Idempotent; the thread is gone.
  EXPECT_EQ(ticker.runs(), runs);
}

TEST(TickerTest, StopInterruptsALongPeriod) {
  CountingTask task;
  Ticker ticker([&task] { return task.Run(); }, absl::Hours(1));
  task.WaitForCalls(1);
  ticker.Stop();  // Returns without waiting for the hour.
  EXPECT_EQ(ticker.runs(), 1u);
}

}  // namespace
}  // namespace presence
