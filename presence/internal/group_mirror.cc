#include "presence/internal/group_mirror.h"

#include <algorithm>
#include <utility>

namespace presence {

void GroupMirror::Apply(const GroupChange& change) {
  if (auto old = channels_of_.find(change.group); old != channels_of_.end()) {
    for (const std::string& channel : old->second) {
      auto groups = groups_of_.find(channel);
      if (groups == groups_of_.end()) continue;
      std::vector<std::string>& list = groups->second;
      list.erase(std::remove(list.begin(), list.end(), change.group),
                 list.end());
      if (list.empty()) groups_of_.erase(groups);
    }
    channels_of_.erase(old);
  }
  if (change.channels.empty()) return;  // Deleted.
  std::vector<std::string>& channels = channels_of_[change.group];
  channels = change.channels;
  // Stores send sorted lists; sorting again keeps Snapshot() sorted for any
  // caller.
  std::sort(channels.begin(), channels.end());
  channels.erase(std::unique(channels.begin(), channels.end()), channels.end());
  for (const std::string& channel : channels) {
    groups_of_[channel].push_back(change.group);
  }
}

void GroupMirror::Clear() {
  channels_of_.clear();
  groups_of_.clear();
}

bool GroupMirror::HasGroup(absl::string_view group) const {
  return channels_of_.contains(group);
}

const std::vector<std::string>* GroupMirror::ChannelsOf(
    absl::string_view group) const {
  auto it = channels_of_.find(group);
  return it == channels_of_.end() ? nullptr : &it->second;
}

const std::vector<std::string>* GroupMirror::GroupsOf(
    absl::string_view channel) const {
  auto it = groups_of_.find(channel);
  return it == groups_of_.end() ? nullptr : &it->second;
}

std::vector<GroupChange> GroupMirror::Snapshot() const {
  std::vector<GroupChange> out;
  out.reserve(channels_of_.size());
  for (const auto& [group, channels] : channels_of_) {
    out.push_back(GroupChange{group, channels});
  }
  std::sort(out.begin(), out.end(),
            [](const GroupChange& a, const GroupChange& b) {
              return a.group < b.group;
            });
  return out;
}

}  // namespace presence
