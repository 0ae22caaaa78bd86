// Mutex, SharedMutex and CondVar: the locks of the presence service, with
// clang's thread-safety annotations so that `-Wthread-safety` checks every
// GUARDED_BY member and every REQUIRES helper at compile time.
//
//   class Counter {
//    public:
//     void Add(int n) {
//       MutexLock lock(&mu_);
//       total_ += n;
//     }
//    private:
//     Mutex mu_;
//     int total_ ABSL_GUARDED_BY(mu_) = 0;
//   };
//
// They wrap the standard library's primitives rather than absl::Mutex:
// Debian's Abseil is not built with ThreadSanitizer, which therefore cannot
// see absl::Mutex and reports false races, while the std:: primitives sit on
// pthreads, which TSan intercepts. (leveldb's port::Mutex is the model.)
//
// Conventions (enforced by scripts/check_thread_safety.sh in CI):
// - every member that a lock protects is ABSL_GUARDED_BY(that lock);
// - a helper that expects a lock held is ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu)
//   (or ABSL_SHARED_LOCKS_REQUIRED) and its name ends in "Locked";
// - a function that must not be called with a lock held says
//   ABSL_LOCKS_EXCLUDED(mu).
#ifndef PRESENCE_BASE_MUTEX_H_
#define PRESENCE_BASE_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

namespace presence {

class CondVar;

// An exclusive lock.
class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  bool TryLock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    return mu_.try_lock();
  }

  // Lock(), but a contended lock is retried for a few microseconds before
  // the thread sleeps (what absl::Mutex and glibc's adaptive mutexes do).
  // For locks held briefly by threads that must not stall, e.g. the memory
  // store's shards, which gRPC's few callback threads take: a futex sleep
  // and wake-up cost more than the wait, and a sleeping callback thread
  // delays every call queued behind it.
  void LockSpinning() ABSL_EXCLUSIVE_LOCK_FUNCTION();

  // Tells the analysis that the caller holds the lock (checked only by the
  // analysis, not at run time).
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

inline void Mutex::LockSpinning() {
  // 1,000 PAUSEs: about 10-40 us on current x86 cores.
  constexpr int kSpins = 1000;
  for (int i = 0; i < kSpins; ++i) {
    if (mu_.try_lock()) return;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }
  mu_.lock();
}

// Holds a Mutex for its scope.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A lock with shared (reader) and exclusive (writer) modes.
class ABSL_LOCKABLE SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  void ReaderLock() ABSL_SHARED_LOCK_FUNCTION() { mu_.lock_shared(); }
  void ReaderUnlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock_shared(); }

  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}
  void AssertReaderHeld() const ABSL_ASSERT_SHARED_LOCK() {}

 private:
  std::shared_mutex mu_;
};

// Holds a SharedMutex exclusively for its scope.
class ABSL_SCOPED_LOCKABLE WriterMutexLock {
 public:
  explicit WriterMutexLock(SharedMutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu)
      : mu_(mu) {
    mu_->Lock();
  }
  ~WriterMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  WriterMutexLock(const WriterMutexLock&) = delete;
  WriterMutexLock& operator=(const WriterMutexLock&) = delete;

 private:
  SharedMutex* const mu_;
};

// Holds a SharedMutex in shared mode for its scope.
class ABSL_SCOPED_LOCKABLE ReaderMutexLock {
 public:
  explicit ReaderMutexLock(SharedMutex* mu) ABSL_SHARED_LOCK_FUNCTION(mu)
      : mu_(mu) {
    mu_->ReaderLock();
  }
  ~ReaderMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->ReaderUnlock(); }
  ReaderMutexLock(const ReaderMutexLock&) = delete;
  ReaderMutexLock& operator=(const ReaderMutexLock&) = delete;

 private:
  SharedMutex* const mu_;
};

// A condition variable. Every wait names the Mutex it holds, which it
// releases while waiting (as absl::CondVar does, so that the analysis can
// check the caller holds it).
//
//   MutexLock lock(&mu_);
//   while (queue_.empty()) ready_.Wait(&mu_);
//
// A condition passed to WaitFor runs with the mutex held; annotate a lambda
// that reads guarded members with ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_).
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // Releases `mu`, waits for a signal (or a spurious wakeup) and takes `mu`
  // again.
  void Wait(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }

  // Like Wait(), but returns after `timeout` at the latest; returns whether
  // it timed out.
  bool WaitWithTimeout(Mutex* mu, absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const bool timed_out =
        cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout)) ==
        std::cv_status::timeout;
    lock.release();
    return timed_out;
  }

  // Waits until `condition()` is true or `timeout` passed; returns the last
  // value of `condition()`.
  template <typename Condition>
  bool WaitFor(Mutex* mu, Condition condition, absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const auto deadline =
        std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const bool met = cv_.wait_until(lock, deadline, condition);
    lock.release();
    return met;
  }

  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace presence

#endif  // PRESENCE_BASE_MUTEX_H_
