// SessionExpirer: a background thread that calls
// PresenceStore::ExpireSessions() every `period`, so that users who stop
// sending heartbeats time out even on channels nobody touches.
//
//   presence::SessionExpirer expirer(store.get(), absl::Milliseconds(10));
//   ...
//   expirer.Stop();  // Also done by the destructor.
//
// Errors from ExpireSessions() (e.g. a store backend that is down) are
// counted and retried on the next period.
#ifndef PRESENCE_SESSION_EXPIRER_H_
#define PRESENCE_SESSION_EXPIRER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "absl/time/time.h"
#include "presence/store.h"

namespace presence {

class SessionExpirer {
 public:
  // Starts the thread. `store` must outlive this object.
  SessionExpirer(PresenceStore* store, absl::Duration period);
  ~SessionExpirer();
  SessionExpirer(const SessionExpirer&) = delete;
  SessionExpirer& operator=(const SessionExpirer&) = delete;

  // Stops the thread and waits for it; idempotent.
  void Stop();

  // Returns how many passes ran, and how many of them failed.
  uint64_t passes() const { return passes_.load(); }
  uint64_t failures() const { return failures_.load(); }

 private:
  void Run();

  PresenceStore* const store_;
  const absl::Duration period_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // Guarded by mu_.
  std::atomic<uint64_t> passes_{0};
  std::atomic<uint64_t> failures_{0};
  std::thread thread_;
};

}  // namespace presence

#endif  // PRESENCE_SESSION_EXPIRER_H_
