// Ticker: a background thread that runs a task every `period`: the server
// sweeps timed-out sessions with it (PresenceStore::ExpireSessions, which
// also emits the interval events due).
//
//   presence::Ticker expirer([&] { return store->ExpireSessions(); },
//                            absl::Milliseconds(10));
//   ...
//   expirer.Stop();  // Also done by the destructor.
//
// A task that fails (e.g. a store backend that is down) is counted and run
// again on the next period. Thread-safe.
#ifndef PRESENCE_BASE_TICKER_H_
#define PRESENCE_BASE_TICKER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "presence/base/mutex.h"

namespace presence {

class Ticker {
 public:
  // Starts the thread, which runs `task` at once and then every `period`.
  Ticker(std::function<absl::Status()> task, absl::Duration period);
  ~Ticker();
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

  // Stops the thread and waits for it; idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // Returns how many times the task ran, and how many of those failed.
  uint64_t runs() const { return runs_.load(); }
  uint64_t failures() const { return failures_.load(); }

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);

  const std::function<absl::Status()> task_;
  const absl::Duration period_;
  Mutex mu_;
  CondVar wake_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> runs_{0};
  std::atomic<uint64_t> failures_{0};
  std::thread thread_;  // Last: starts after the members it uses.
};

}  // namespace presence

#endif  // PRESENCE_BASE_TICKER_H_
