// ChannelGroupRegistry: named sets of channels, in memory. The embedded
// store keeps its channel groups here.
//
//   ChannelGroupRegistry groups(/*max_channels_per_group=*/2000);
//   groups.Add("friends", {"alice-room", "bob-room"});
//   groups.Expand({"friends"});  // {"alice-room", "bob-room"}
//
// Thread-safe. Every change is reported to `listeners` (if given) as a
// GroupChange, while the registry's lock is held, so reports come in the
// order of the changes.
#ifndef PRESENCE_INTERNAL_CHANNEL_GROUP_REGISTRY_H_
#define PRESENCE_INTERNAL_CHANNEL_GROUP_REGISTRY_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "presence/base/mutex.h"
#include "presence/event.h"
#include "presence/internal/listener_list.h"
#include "presence/internal/store_errors.h"

namespace presence {

class ChannelGroupRegistry {
 public:
  // `listeners`, if not null, must outlive the registry.
  explicit ChannelGroupRegistry(uint32_t max_channels_per_group,
                                const ListenerList* listeners = nullptr)
      : max_channels_per_group_(max_channels_per_group),
        listeners_(listeners) {}

  // Adds channels to `group`, creating it. FAILED_PRECONDITION, changing
  // nothing, when the group would hold more than the limit.
  absl::Status Add(absl::string_view group,
                   const std::vector<std::string>& channels)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Removes channels from `group` (absent ones are ignored); removing the
  // last channel deletes the group. NOT_FOUND if the group does not exist.
  absl::Status Remove(absl::string_view group,
                      const std::vector<std::string>& channels)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Returns the group's channels, sorted. NOT_FOUND if it does not exist.
  absl::StatusOr<std::vector<std::string>> List(absl::string_view group) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Returns every group's name, sorted.
  std::vector<std::string> Groups() const ABSL_LOCKS_EXCLUDED(mu_);

  // Deletes `group`. NOT_FOUND if it does not exist.
  absl::Status Delete(absl::string_view group) ABSL_LOCKS_EXCLUDED(mu_);

  // Returns the union of the groups' channels, sorted and without
  // duplicates. NOT_FOUND naming the first group that does not exist.
  absl::StatusOr<std::vector<std::string>> Expand(
      const std::vector<std::string>& groups) const ABSL_LOCKS_EXCLUDED(mu_);

  // Sends `listener` every group (OnGroupChange, in group-name order, each
  // with its sorted channels) and then calls `register_listener`, both
  // under the registry's lock: no change can come between the replay and
  // the registration, and nothing registered that way receives an event
  // before the replay is complete.
  void ReplayThenRegister(EventListener* listener,
                          absl::FunctionRef<void()> register_listener)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Reports the current channels of `group` (none if it is gone).
  void ReportLocked(const std::string& group) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const uint32_t max_channels_per_group_;
  const ListenerList* const listeners_;
  mutable SharedMutex mu_;
  absl::flat_hash_map<std::string, std::set<std::string>> groups_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace presence

#endif  // PRESENCE_INTERNAL_CHANNEL_GROUP_REGISTRY_H_
