#include "presence/internal/channel_group_registry.h"

#include <algorithm>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace presence {

void ChannelGroupRegistry::Report(const std::string& group) const {
  if (listeners_ == nullptr || listeners_->empty()) return;
  GroupChange change;
  change.group = group;
  auto it = groups_.find(group);
  if (it != groups_.end()) {
    change.channels.assign(it->second.begin(), it->second.end());
  }
  listeners_->NotifyGroupChange(change);
}

absl::Status ChannelGroupRegistry::Add(
    absl::string_view group, const std::vector<std::string>& channels) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto it = groups_.find(group);
  size_t would_hold = channels.size();
  if (it != groups_.end()) {
    would_hold = it->second.size();
    for (const std::string& channel : channels) {
      would_hold += it->second.count(channel) == 0;
    }
  }
  if (would_hold > max_channels_per_group_) {
    return GroupFullError(group, would_hold, max_channels_per_group_);
  }
  std::set<std::string>& members = groups_[std::string(group)];
  members.insert(channels.begin(), channels.end());
  Report(std::string(group));
  return absl::OkStatus();
}

absl::Status ChannelGroupRegistry::Remove(
    absl::string_view group, const std::vector<std::string>& channels) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto it = groups_.find(group);
  if (it == groups_.end()) return GroupNotFoundError(group);
  for (const std::string& channel : channels) it->second.erase(channel);
  if (it->second.empty()) groups_.erase(it);
  Report(std::string(group));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ChannelGroupRegistry::List(
    absl::string_view group) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = groups_.find(group);
  if (it == groups_.end()) return GroupNotFoundError(group);
  return std::vector<std::string>(it->second.begin(), it->second.end());
}

std::vector<std::string> ChannelGroupRegistry::Groups() const {
  std::vector<std::string> names;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    names.reserve(groups_.size());
    for (const auto& [name, members] : groups_) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

absl::Status ChannelGroupRegistry::Delete(absl::string_view group) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto it = groups_.find(group);
  if (it == groups_.end()) return GroupNotFoundError(group);
  groups_.erase(it);
  Report(std::string(group));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ChannelGroupRegistry::Expand(
    const std::vector<std::string>& groups) const {
  std::vector<std::string> channels;
  std::shared_lock<std::shared_mutex> lock(mu_);
  for (const std::string& group : groups) {
    auto it = groups_.find(group);
    if (it == groups_.end()) return GroupNotFoundError(group);
    channels.insert(channels.end(), it->second.begin(), it->second.end());
  }
  lock.unlock();
  std::sort(channels.begin(), channels.end());
  channels.erase(std::unique(channels.begin(), channels.end()), channels.end());
  return channels;
}

}  // namespace presence
