#include "presence/internal/event_pipeline.h"

#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"

namespace presence {
namespace {

bool ChangesMembership(EventType type) {
  return type == EventType::kJoin || type == EventType::kLeave ||
         type == EventType::kTimeout;
}

}  // namespace

EventPipeline::EventPipeline(const EventOptions& options, Clock* clock)
    : options_(options), clock_(clock) {}

EventPipeline::Shard& EventPipeline::ShardFor(size_t hash) {
  // The top bits: the shard's hash table uses the low ones of the same hash.
  return shards_[(hash >> 52) % kShards];
}

void EventPipeline::Restore(const std::string& channel, uint32_t epoch,
                            uint32_t occupancy, absl::Time now) {
  const size_t hash = absl::Hash<absl::string_view>()(channel);
  Shard& shard = ShardFor(hash);
  MutexLock lock(&shard.mu);
  ChannelState& state = shard.channels[channel];
  state.epoch = epoch;
  state.count = 0;
  state.occupancy = occupancy;
  if (occupancy > options_.announce_max) {
    state.interval_mode = true;
    state.next_interval = now + options_.interval;
    shard.interval_channels.insert(channel);
  }
}

size_t EventPipeline::tracked_channels() const {
  size_t n = 0;
  for (const Shard& shard : shards_) {
    MutexLock lock(&shard.mu);
    n += shard.channels.size();
  }
  return n;
}

void EventPipeline::EmitLocked(Shard& shard, ChannelState& state,
                               PresenceEvent& event) {
  event.sequence = (uint64_t{state.epoch} << 32) | ++state.count;
  listeners_.Notify(event);
}

void EventPipeline::AccumulateLocked(Shard& shard, ChannelState& state,
                                     const PresenceEvent& event) {
  if (state.lists_overflowed) return;
  state.list_bytes += event.user_id.size() + 3;  // "id",
  if (state.list_bytes > options_.interval_lists_max_bytes) {
    // Too many to list: drop them now (bounding memory) and ask consumers
    // to re-read the channel instead.
    state.lists_overflowed = true;
    std::string().swap(state.changes);
    return;
  }
  state.changes.push_back(static_cast<char>(event.type));
  for (size_t n = event.user_id.size(); true; n >>= 7) {
    if (n < 0x80) {
      state.changes.push_back(static_cast<char>(n));
      break;
    }
    state.changes.push_back(static_cast<char>(0x80 | (n & 0x7f)));
  }
  state.changes.append(event.user_id);
}

void EventPipeline::EmitIntervalLocked(Shard& shard, const std::string& channel,
                                       ChannelState& state, absl::Time now) {
  PresenceEvent event;
  event.type = EventType::kInterval;
  event.channel = channel;
  event.occupancy = state.occupancy;
  event.time = now;
  const std::string changes = std::exchange(state.changes, {});
  for (size_t at = 0; at < changes.size();) {
    const EventType type = static_cast<EventType>(changes[at++]);
    size_t n = 0;
    for (int shift = 0;; shift += 7) {
      const uint8_t byte = static_cast<uint8_t>(changes[at++]);
      n |= size_t{byte & 0x7fu} << shift;
      if (byte < 0x80) break;
    }
    std::vector<std::string>& list = type == EventType::kJoin ? event.joined
                                     : type == EventType::kLeave
                                         ? event.left
                                         : event.timed_out;
    list.emplace_back(changes, at, n);
    at += n;
  }
  event.here_now_refresh = state.lists_overflowed;
  state.lists_overflowed = false;
  state.list_bytes = 0;
  EmitLocked(shard, state, event);
}

void EventPipeline::OnEvent(const PresenceEvent& raw) {
  PresenceEvent event = raw;
  Process(event);
}

void EventPipeline::Process(PresenceEvent& event) {
  const PresenceEvent& raw = event;  // Read before it is emitted.
  // One hash for the shard and the lookup (absl::Hash, the tables' own).
  const size_t hash = absl::Hash<absl::string_view>()(raw.channel);
  Shard& shard = ShardFor(hash);
  MutexLock lock(&shard.mu);
  auto it = shard.channels.find(raw.channel, hash);
  if (it == shard.channels.end())
    it = shard.channels.try_emplace(raw.channel).first;
  ChannelState& state = it->second;
  const uint32_t epoch = static_cast<uint32_t>(raw.sequence >> 32);
  if (state.epoch != epoch) {
    state.epoch = epoch;
    state.count = 0;
  }
  const uint32_t before = state.occupancy;
  state.occupancy = raw.occupancy;

  if (!ChangesMembership(raw.type)) {
    EmitLocked(shard, state, event);
    return;
  }
  if (before == 0 && raw.occupancy > 0) {
    PresenceEvent active;
    active.type = EventType::kActive;
    active.channel = raw.channel;
    active.occupancy = raw.occupancy;
    active.time = raw.time;
    EmitLocked(shard, state, active);
  }
  if (raw.occupancy > options_.announce_max) {
    if (!state.interval_mode) {
      state.interval_mode = true;
      state.next_interval = raw.time + options_.interval;
      shard.interval_channels.insert(raw.channel);
    }
    AccumulateLocked(shard, state, raw);
  } else {
    if (state.interval_mode) {
      // Back to per-user events: first what is pending, as it stood.
      state.occupancy = before;
      EmitIntervalLocked(shard, raw.channel, state, raw.time);
      state.occupancy = raw.occupancy;
      state.interval_mode = false;
      shard.interval_channels.erase(raw.channel);
    }
    EmitLocked(shard, state, event);
  }
  if (raw.occupancy == 0) {
    PresenceEvent inactive;
    inactive.type = EventType::kInactive;
    inactive.channel = raw.channel;
    inactive.occupancy = 0;
    inactive.time = raw.time;
    EmitLocked(shard, state, inactive);
    shard.channels.erase(raw.channel);  // A new occupant starts a new epoch.
  }
}

void EventPipeline::OnGroupChange(const GroupChange& change) {
  listeners_.NotifyGroupChange(change);
}

void EventPipeline::Tick() {
  const absl::Time now = clock_->Now();
  for (Shard& shard : shards_) {
    MutexLock lock(&shard.mu);
    for (const std::string& channel : shard.interval_channels) {
      ChannelState& state = shard.channels[channel];
      if (state.next_interval > now) continue;
      EmitIntervalLocked(shard, channel, state, now);
      // The next one a period later; after a late tick, a period from now
      // rather than a burst of catch-up events.
      state.next_interval += options_.interval;
      if (state.next_interval <= now)
        state.next_interval = now + options_.interval;
    }
  }
}

}  // namespace presence
