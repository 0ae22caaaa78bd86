#include "presence/internal/channel_group_registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace presence {

void ChannelGroupRegistry::ReportLocked(const std::string& group) const {
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
  WriterMutexLock lock(&mu_);
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
  ReportLocked(std::string(group));
  return absl::OkStatus();
}

absl::Status ChannelGroupRegistry::Remove(
    absl::string_view group, const std::vector<std::string>& channels) {
  WriterMutexLock lock(&mu_);
  auto it = groups_.find(group);
  if (it == groups_.end()) return GroupNotFoundError(group);
  for (const std::string& channel : channels) it->second.erase(channel);
  if (it->second.empty()) groups_.erase(it);
  ReportLocked(std::string(group));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ChannelGroupRegistry::List(
    absl::string_view group) const {
  ReaderMutexLock lock(&mu_);
  auto it = groups_.find(group);
  if (it == groups_.end()) return GroupNotFoundError(group);
  return std::vector<std::string>(it->second.begin(), it->second.end());
}

std::vector<std::string> ChannelGroupRegistry::Groups() const {
  std::vector<std::string> names;
  {
    ReaderMutexLock lock(&mu_);
    names.reserve(groups_.size());
    for (const auto& [name, members] : groups_) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

absl::Status ChannelGroupRegistry::Delete(absl::string_view group) {
  WriterMutexLock lock(&mu_);
  auto it = groups_.find(group);
  if (it == groups_.end()) return GroupNotFoundError(group);
  groups_.erase(it);
  ReportLocked(std::string(group));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ChannelGroupRegistry::Expand(
    const std::vector<std::string>& groups) const {
  std::vector<std::string> channels;
  {
    ReaderMutexLock lock(&mu_);
    for (const std::string& group : groups) {
      auto it = groups_.find(group);
      if (it == groups_.end()) return GroupNotFoundError(group);
      channels.insert(channels.end(), it->second.begin(), it->second.end());
    }
  }
  std::sort(channels.begin(), channels.end());
  channels.erase(std::unique(channels.begin(), channels.end()), channels.end());
  return channels;
}

void ChannelGroupRegistry::ReplayThenRegister(
    EventListener* listener, absl::FunctionRef<void()> register_listener) {
  // Exclusive: changes report under the lock, so none can interleave.
  WriterMutexLock lock(&mu_);
  std::vector<const std::string*> names;
  names.reserve(groups_.size());
  for (const auto& [name, members] : groups_) names.push_back(&name);
  std::sort(names.begin(), names.end(),
            [](const std::string* a, const std::string* b) { return *a < *b; });
  for (const std::string* name : names) {
    const std::set<std::string>& members = groups_.find(*name)->second;
    listener->OnGroupChange(GroupChange{
        *name, std::vector<std::string>(members.begin(), members.end())});
  }
  register_listener();
}

}  // namespace presence
