#include "presence/session_expirer.h"

#include <condition_variable>
#include <mutex>

#include "gtest/gtest.h"

namespace presence {
namespace {

// A store whose only working method is ExpireSessions(), which counts calls
// and fails every other one.
class CountingStore : public PresenceStore {
 public:
  absl::Status ExpireSessions() override {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    called_.notify_all();
    return calls_ % 2 == 0 ? absl::UnavailableError("down") : absl::OkStatus();
  }

  void WaitForCalls(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    called_.wait(lock, [&] { return calls_ >= n; });
  }

  absl::StatusOr<HereNowResult> HereNow(const HereNowRequest&) override {
    return Unused();
  }
  absl::StatusOr<WhereNowResult> WhereNow(const WhereNowRequest&) override {
    return Unused();
  }
  absl::StatusOr<SetStateResult> SetState(const SetStateRequest&) override {
    return Unused();
  }
  absl::StatusOr<GetStateResult> GetState(const GetStateRequest&) override {
    return Unused();
  }
  absl::Status Heartbeat(const HeartbeatRequest&) override { return Unused(); }
  absl::StatusOr<LeaveResult> Leave(const LeaveRequest&) override {
    return Unused();
  }
  absl::Status AddChannelsToGroup(absl::string_view,
                                  const std::vector<std::string>&) override {
    return Unused();
  }
  absl::Status RemoveChannelsFromGroup(
      absl::string_view, const std::vector<std::string>&) override {
    return Unused();
  }
  absl::StatusOr<std::vector<std::string>> ListChannelsInGroup(
      absl::string_view) override {
    return Unused();
  }
  absl::StatusOr<std::vector<std::string>> ListGroups() override {
    return Unused();
  }
  absl::Status DeleteGroup(absl::string_view) override { return Unused(); }
  void AddListener(EventListener*) override {}
  void RemoveListener(EventListener*) override {}

 private:
  static absl::Status Unused() { return absl::UnimplementedError("unused"); }

  std::mutex mu_;
  std::condition_variable called_;
  int calls_ = 0;
};

TEST(SessionExpirerTest, CallsTheStoreRepeatedlyAndCountsFailures) {
  CountingStore store;
  SessionExpirer expirer(&store, absl::Milliseconds(1));
  store.WaitForCalls(4);
  expirer.Stop();
  EXPECT_GE(expirer.passes(), 4u);
  EXPECT_GE(expirer.failures(), 2u);
  const uint64_t passes = expirer.passes();
  expirer.Stop();  // Idempotent; the thread is gone.
  EXPECT_EQ(expirer.passes(), passes);
}

}  // namespace
}  // namespace presence
