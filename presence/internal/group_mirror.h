// GroupMirror: a copy of channel-group membership kept from GroupChange
// events, indexed both ways (group -> channels, channel -> groups), for
// listeners that route events by group (the Redis store's replay to new
// listeners, the service's event fan-out).
//
//   GroupMirror groups;
//   groups.Apply(GroupChange{"friends", {"a", "b"}});
//   groups.GroupsOf("a");  // {"friends"}
//   groups.Apply(GroupChange{"friends", {}});  // deleted
//   groups.GroupsOf("a");  // nullptr
//
// Not thread-safe: the owner serialises calls (typically under its lock).
#ifndef PRESENCE_INTERNAL_GROUP_MIRROR_H_
#define PRESENCE_INTERNAL_GROUP_MIRROR_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "presence/event.h"

namespace presence {

class GroupMirror {
 public:
  // Makes `change.group` hold exactly `change.channels` (sorted, no
  // duplicates, as stores send them); none deletes the group.
  void Apply(const GroupChange& change);

  // Forgets every group (e.g. when a store's feed broke and it will send
  // its groups again).
  void Clear();

  // Returns whether `group` exists (holds a channel).
  bool HasGroup(absl::string_view group) const;

  // Returns the sorted channels of `group`, or nullptr when it does not
  // exist. Valid until the next Apply or Clear.
  const std::vector<std::string>* ChannelsOf(absl::string_view group) const;

  // Returns the groups that hold `channel`, in no particular order, or
  // nullptr when none does. Valid until the next Apply or Clear.
  const std::vector<std::string>* GroupsOf(absl::string_view channel) const;

  // Returns every group with its sorted channels, sorted by group: what a
  // new listener must be sent to catch up.
  std::vector<GroupChange> Snapshot() const;

 private:
  absl::flat_hash_map<std::string, std::vector<std::string>> channels_of_;
  absl::flat_hash_map<std::string, std::vector<std::string>> groups_of_;
};

}  // namespace presence

#endif  // PRESENCE_INTERNAL_GROUP_MIRROR_H_
