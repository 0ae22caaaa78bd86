#include "presence/base/ticker.h"

#include <condition_variable>
#include <mutex>

#include "gtest/gtest.h"

namespace presence {
namespace {

// A task that counts its runs and fails every second one.
class CountingTask {
 public:
  absl::Status Run() {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    called_.notify_all();
    return calls_ % 2 == 0 ? absl::UnavailableError("down") : absl::OkStatus();
  }

  void WaitForCalls(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    called_.wait(lock, [&] { return calls_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable called_;
  int calls_ = 0;
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
