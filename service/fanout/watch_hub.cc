#include "service/fanout/watch_hub.h"

#include <algorithm>
#include <mutex>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "service/grpc/struct_json.h"

namespace presence {
namespace {

v1::WatchEventsResponse::Action ToAction(EventType type) {
  switch (type) {
    case EventType::kJoin:
      return v1::WatchEventsResponse::ACTION_JOIN;
    case EventType::kLeave:
      return v1::WatchEventsResponse::ACTION_LEAVE;
    case EventType::kTimeout:
      return v1::WatchEventsResponse::ACTION_TIMEOUT;
    case EventType::kStateChange:
      return v1::WatchEventsResponse::ACTION_STATE_CHANGE;
    case EventType::kInterval:
      return v1::WatchEventsResponse::ACTION_INTERVAL;
    case EventType::kActive:
      return v1::WatchEventsResponse::ACTION_ACTIVE;
    case EventType::kInactive:
      return v1::WatchEventsResponse::ACTION_INACTIVE;
  }
  return v1::WatchEventsResponse::ACTION_UNSPECIFIED;
}

grpc::ByteBuffer Serialize(const v1::WatchEventsResponse& message) {
  grpc::Slice slice(message.SerializeAsString());
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace

v1::WatchEventsResponse WatchHub::ToProto(const PresenceEvent& event) {
  v1::WatchEventsResponse out;
  out.set_channel(event.channel);
  out.set_action(ToAction(event.type));
  out.set_user_id(event.user_id);
  out.set_occupancy(event.occupancy);
  *out.mutable_time() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
          absl::ToUnixNanos(event.time));
  if (!event.state.empty()) {
    // Stored states are valid JSON objects; a failure leaves no state.
    JsonToStruct(event.state, out.mutable_state()).IgnoreError();
  }
  for (const std::string& user : event.joined) out.add_join(user);
  for (const std::string& user : event.left) out.add_leave(user);
  for (const std::string& user : event.timed_out) out.add_timeout(user);
  out.set_here_now_refresh(event.here_now_refresh);
  out.set_sequence(event.sequence);
  return out;
}

void WatchHub::Erase(std::vector<WatchSink*>& sinks, WatchSink* sink) {
  sinks.erase(std::remove(sinks.begin(), sinks.end(), sink), sinks.end());
}

absl::Status WatchHub::Add(WatchSink* sink,
                           const std::vector<std::string>& channels,
                           const std::vector<std::string>& groups) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  for (const std::string& group : groups) {
    if (!group_channels_.contains(group)) {
      return absl::NotFoundError(
          absl::StrCat("channel group '", group, "' does not exist"));
    }
  }
  watches_[sink] = Watch{channels, groups};
  if (channels.empty() && groups.empty()) firehose_.push_back(sink);
  for (const std::string& channel : channels)
    by_channel_[channel].push_back(sink);
  for (const std::string& group : groups) by_group_[group].push_back(sink);
  size_changed_.notify_all();
  return absl::OkStatus();
}

void WatchHub::Remove(WatchSink* sink) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto it = watches_.find(sink);
  if (it == watches_.end()) return;
  Erase(firehose_, sink);
  for (const std::string& channel : it->second.channels) {
    auto entry = by_channel_.find(channel);
    Erase(entry->second, sink);
    if (entry->second.empty()) by_channel_.erase(entry);
  }
  for (const std::string& group : it->second.groups) {
    auto entry = by_group_.find(group);
    Erase(entry->second, sink);
    if (entry->second.empty()) by_group_.erase(entry);
  }
  watches_.erase(it);
  size_changed_.notify_all();
}

void WatchHub::CloseAll(const grpc::Status& status) {
  std::shared_lock<std::shared_mutex> lock(mu_);
  for (const auto& [sink, watch] : watches_) sink->Close(status);
}

void WatchHub::OnEventsInterrupted(const absl::Status& status) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  for (const auto& [sink, watch] : watches_) {
    sink->Close(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                             std::string(status.message())));
  }
  group_channels_.clear();
  channel_groups_.clear();
}

size_t WatchHub::size() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return watches_.size();
}

bool WatchHub::WaitForSize(size_t n, absl::Duration timeout) const {
  std::unique_lock<std::shared_mutex> lock(mu_);
  return size_changed_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                                [&] { return watches_.size() == n; });
}

void WatchHub::OnEvent(const PresenceEvent& event) {
  std::shared_lock<std::shared_mutex> lock(mu_);
  absl::InlinedVector<WatchSink*, 16> recipients(firehose_.begin(),
                                                 firehose_.end());
  if (auto it = by_channel_.find(event.channel); it != by_channel_.end()) {
    recipients.insert(recipients.end(), it->second.begin(), it->second.end());
  }
  if (auto it = channel_groups_.find(event.channel);
      it != channel_groups_.end()) {
    for (const std::string& group : it->second) {
      if (auto watchers = by_group_.find(group); watchers != by_group_.end()) {
        recipients.insert(recipients.end(), watchers->second.begin(),
                          watchers->second.end());
      }
    }
  }
  if (recipients.empty()) return;
  // A watcher reached several ways still gets the event once.
  std::sort(recipients.begin(), recipients.end());
  recipients.erase(std::unique(recipients.begin(), recipients.end()),
                   recipients.end());
  const grpc::ByteBuffer encoded = Serialize(ToProto(event));
  for (WatchSink* sink : recipients) sink->Deliver(encoded);
}

void WatchHub::OnGroupChange(const GroupChange& change) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (auto old = group_channels_.find(change.group);
      old != group_channels_.end()) {
    for (const std::string& channel : old->second) {
      auto groups = channel_groups_.find(channel);
      if (groups == channel_groups_.end()) continue;
      auto& list = groups->second;
      list.erase(std::remove(list.begin(), list.end(), change.group),
                 list.end());
      if (groups->second.empty()) channel_groups_.erase(groups);
    }
    group_channels_.erase(old);
  }
  if (change.channels.empty()) return;  // Deleted.
  group_channels_[change.group] = change.channels;
  for (const std::string& channel : change.channels) {
    channel_groups_[channel].push_back(change.group);
  }
}

}  // namespace presence
