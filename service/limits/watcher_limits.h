// WatcherLimits: how many watches (gRPC WatchEvents streams, PubNub
// subscribe long-polls) may be open per client and in total, for
// --max_watchers_per_client and --max_watchers.
//
//   WatcherLimits limits({.per_client = 10, .total = 50000});
//   WatchLimit refused;
//   absl::StatusOr<WatchSlot> slot = limits.Acquire("ip:10.0.0.7", &refused);
//   if (!slot.ok()) return slot.status();  // RESOURCE_EXHAUSTED
//   ...  // The watch holds *slot; destroying (or releasing) it frees it.
//
// Memory: one counter per client with a watch open (a client's entry goes
// when its last watch ends), none when the per-client limit is off.
//
// Thread-safe. The lock is a leaf (nothing is called while it is held), so
// a slot may be released from any thread, under any other lock.
#ifndef SERVICE_LIMITS_WATCHER_LIMITS_H_
#define SERVICE_LIMITS_WATCHER_LIMITS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "presence/base/mutex.h"

namespace presence {

class WatcherLimits;

// Which limit refused a watch.
enum class WatchLimit { kPerClient, kTotal };
inline constexpr int kWatchLimitKinds = 2;

// Returns "per_client" or "total".
absl::string_view WatchLimitName(WatchLimit limit);

// One open watch's place in the counts. Move-only; releases on destruction.
class WatchSlot {
 public:
  // Holds nothing.
  WatchSlot() = default;
  WatchSlot(WatchSlot&& other) noexcept;
  WatchSlot& operator=(WatchSlot&& other) noexcept;
  WatchSlot(const WatchSlot&) = delete;
  WatchSlot& operator=(const WatchSlot&) = delete;
  ~WatchSlot() { Release(); }

  // Frees the slot now (when the watch is answered, before its object
  // goes). Idempotent; not to be called on one slot from two threads at
  // once.
  void Release();

 private:
  friend class WatcherLimits;
  WatchSlot(WatcherLimits* limits, std::optional<std::string> client)
      : limits_(limits), client_(std::move(client)) {}

  WatcherLimits* limits_ = nullptr;  // Null once released.
  // The client, when counted per client.
  std::optional<std::string> client_;
};

class WatcherLimits {
 public:
  struct Options {
    // Most watches one client may have open; 0 is unlimited.
    uint32_t per_client = 0;
    // Most watches open in total; 0 is unlimited.
    uint32_t total = 0;
  };

  explicit WatcherLimits(const Options& options) : options_(options) {}
  WatcherLimits(const WatcherLimits&) = delete;
  WatcherLimits& operator=(const WatcherLimits&) = delete;

  // Returns a slot for a new watch of `client`, or RESOURCE_EXHAUSTED
  // naming the limit (and the flag) that refuses it, with `*refused` set.
  // Slots must be released before the limits are destroyed.
  absl::StatusOr<WatchSlot> Acquire(absl::string_view client,
                                    WatchLimit* refused)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Watches open, in total and of one client (counted only with limits on:
  // the total with either limit, per client with the per-client one).
  size_t total() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t of(absl::string_view client) const ABSL_LOCKS_EXCLUDED(mu_);
  // Clients with a watch open (per-client limit on).
  size_t clients() const ABSL_LOCKS_EXCLUDED(mu_);

  const Options& options() const { return options_; }

 private:
  friend class WatchSlot;
  void Release(const std::optional<std::string>& client)
      ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  mutable Mutex mu_;
  size_t total_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, uint32_t> per_client_ ABSL_GUARDED_BY(mu_);
};

}  // namespace presence

#endif  // SERVICE_LIMITS_WATCHER_LIMITS_H_
