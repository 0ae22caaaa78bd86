#include "service/fanout/event_fanout.h"

#include <algorithm>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"

namespace presence {

void EventFanout::Erase(std::vector<EventSink*>& sinks, EventSink* sink) {
  sinks.erase(std::remove(sinks.begin(), sinks.end(), sink), sinks.end());
}

void EventFanout::SetSizeLocked() {
  MutexLock lock(&size_mu_);
  size_ = watches_.size();
  size_changed_.SignalAll();
}

absl::Status EventFanout::Add(EventSink* sink, const EventEncoder* encoder,
                              const std::vector<std::string>& channels,
                              const std::vector<std::string>& groups,
                              std::optional<uint64_t> seen) {
  WriterMutexLock lock(&mu_);
  if (seen.has_value() && *seen != interruptions_) {
    return absl::UnavailableError(
        "the event feed was interrupted while the watch started; watch again");
  }
  for (const std::string& group : groups) {
    if (!groups_.HasGroup(group)) {
      return absl::NotFoundError(
          absl::StrCat("channel group '", group, "' does not exist"));
    }
  }
  watches_[sink] = Watch{encoder, channels, groups};
  if (channels.empty() && groups.empty()) firehose_.push_back(sink);
  for (const std::string& channel : channels) {
    by_channel_[channel].push_back(sink);
  }
  for (const std::string& group : groups) by_group_[group].push_back(sink);
  SetSizeLocked();
  return absl::OkStatus();
}

void EventFanout::Remove(EventSink* sink) {
  WriterMutexLock lock(&mu_);
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
  SetSizeLocked();
}

void EventFanout::CloseAll(const absl::Status& status,
                           const EventEncoder* encoder) {
  ReaderMutexLock lock(&mu_);
  for (const auto& [sink, watch] : watches_) {
    if (encoder == nullptr || watch.encoder == encoder) sink->Close(status);
  }
}

void EventFanout::OnEventsInterrupted(const absl::Status& status) {
  WriterMutexLock lock(&mu_);
  // DATA_LOSS (events were skipped for good) is kept; anything else tells
  // the watcher to retry: UNAVAILABLE.
  const absl::Status closing = absl::IsDataLoss(status)
                                   ? status
                                   : absl::UnavailableError(status.message());
  for (const auto& [sink, watch] : watches_) sink->Close(closing);
  groups_.Clear();
  ++interruptions_;
}

uint64_t EventFanout::interruptions() const {
  ReaderMutexLock lock(&mu_);
  return interruptions_;
}

size_t EventFanout::size() const {
  MutexLock lock(&size_mu_);
  return size_;
}

std::map<std::string, size_t> EventFanout::SizeByTransport() const {
  std::map<std::string, size_t> sizes;
  ReaderMutexLock lock(&mu_);
  for (const auto& [sink, watch] : watches_) {
    ++sizes[std::string(watch.encoder->transport())];
  }
  return sizes;
}

std::vector<std::string> EventFanout::ChannelsOfGroup(
    absl::string_view group) const {
  ReaderMutexLock lock(&mu_);
  const std::vector<std::string>* channels = groups_.ChannelsOf(group);
  return channels == nullptr ? std::vector<std::string>() : *channels;
}

bool EventFanout::WaitForSize(size_t n, absl::Duration timeout) const {
  MutexLock lock(&size_mu_);
  return size_changed_.WaitFor(
      &size_mu_,
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(size_mu_) { return size_ == n; },
      timeout);
}

void EventFanout::OnEvent(const PresenceEvent& event) {
  ReaderMutexLock lock(&mu_);
  absl::InlinedVector<EventSink*, 16> recipients(firehose_.begin(),
                                                 firehose_.end());
  if (auto it = by_channel_.find(event.channel); it != by_channel_.end()) {
    recipients.insert(recipients.end(), it->second.begin(), it->second.end());
  }
  if (const std::vector<std::string>* groups = groups_.GroupsOf(event.channel);
      groups != nullptr) {
    for (const std::string& group : *groups) {
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
  // Encoded once per transport; there are few transports.
  absl::InlinedVector<
      std::pair<const EventEncoder*, std::shared_ptr<const EncodedEvent>>, 2>
      encoded;
  for (EventSink* sink : recipients) {
    const EventEncoder* encoder = watches_.at(sink).encoder;
    auto it = std::find_if(encoded.begin(), encoded.end(),
                           [&](const auto& e) { return e.first == encoder; });
    if (it == encoded.end()) {
      encoded.emplace_back(encoder, encoder->Encode(event));
      it = encoded.end() - 1;
    }
    sink->Deliver(it->second);
  }
}

void EventFanout::OnGroupChange(const GroupChange& change) {
  WriterMutexLock lock(&mu_);
  groups_.Apply(change);
}

}  // namespace presence
