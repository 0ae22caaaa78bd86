// EventFanout: delivers presence events to the watchers of every transport
// (gRPC WatchEvents streams today; an HTTP long-poll plugs in the same way).
//
// It listens to a store and hands each event to the sinks registered for its
// channel: those that named the channel, those watching a group that holds
// the channel now (the fan-out mirrors group membership from GroupChange
// events, which a store replays to a listener on registration, so a group
// watch follows its group), and the firehose sinks that named nothing.
//
// Each sink belongs to a transport, represented by the EventEncoder it
// registers with. An event is encoded at most once per transport, however
// many of that transport's sinks receive it, and those sinks share the
// encoded bytes. Nothing here knows a wire format.
//
//   EventFanout fanout;
//   store->AddListener(&fanout);
//   fanout.Add(&sink, &encoder, {"lobby"}, {"friends"});  // sink.Deliver(...)
//   ...
//   fanout.Remove(&sink);  // No Deliver() to sink after this returns.
//
// Thread-safe. Sinks are called with the fan-out's lock held (shared for
// Deliver, exclusive for Close on interruption), in per-channel order: they
// must not block and must not call back into the fan-out.
#ifndef SERVICE_FANOUT_EVENT_FANOUT_H_
#define SERVICE_FANOUT_EVENT_FANOUT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "presence/base/mutex.h"
#include "presence/event.h"
#include "presence/internal/group_mirror.h"

namespace presence {

// An event in one transport's wire form. Each transport derives its own
// type; its sinks know which one they receive.
class EncodedEvent {
 public:
  virtual ~EncodedEvent() = default;
};

// A transport's encoding of events. Thread-safe: Encode may run on several
// threads at once (for events of different channels).
class EventEncoder {
 public:
  virtual ~EventEncoder() = default;

  // Returns a short name of the transport, for metrics ("grpc", "http").
  virtual absl::string_view transport() const = 0;

  // Returns `event` in the transport's wire form.
  virtual std::shared_ptr<const EncodedEvent> Encode(
      const PresenceEvent& event) const = 0;
};

// One watcher: a stream, a long-poll subscription, ...
class EventSink {
 public:
  virtual ~EventSink() = default;

  // Receives one event, encoded by the encoder the sink registered with.
  // Must not block.
  virtual void Deliver(const std::shared_ptr<const EncodedEvent>& event) = 0;

  // Ends the watch with `status` (the server is shutting down, or events
  // may have been lost). Must not block; may be called more than once.
  virtual void Close(const absl::Status& status) = 0;
};

class EventFanout : public EventListener {
 public:
  // Registers `sink`, whose events `encoder` encodes, for the events of
  // `channels` and of the channels of `groups` (both validated by the
  // caller); with neither, for every channel. NOT_FOUND naming a group that
  // does not exist. `sink` and `encoder` must stay valid until Remove(sink)
  // returns. With `seen` (what interruptions() returned before the caller
  // found the store's event feed healthy), UNAVAILABLE if the events were
  // interrupted since: a watch registered just after an interruption it was
  // not closed by would look complete and not be.
  absl::Status Add(EventSink* sink, const EventEncoder* encoder,
                   const std::vector<std::string>& channels,
                   const std::vector<std::string>& groups,
                   std::optional<uint64_t> seen = std::nullopt)
      ABSL_LOCKS_EXCLUDED(mu_);

  // How many times the events were interrupted (OnEventsInterrupted).
  uint64_t interruptions() const ABSL_LOCKS_EXCLUDED(mu_);

  // Unregisters `sink`; when this returns no call to it is running.
  void Remove(EventSink* sink) ABSL_LOCKS_EXCLUDED(mu_);

  // Closes every registered sink with `status`, or only those of `encoder`
  // when it is not null.
  void CloseAll(const absl::Status& status,
                const EventEncoder* encoder = nullptr) ABSL_LOCKS_EXCLUDED(mu_);

  // Returns the number of registered sinks.
  size_t size() const ABSL_LOCKS_EXCLUDED(size_mu_);

  // Returns the number of registered sinks per transport name.
  std::map<std::string, size_t> SizeByTransport() const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Waits until exactly `n` sinks are registered, or `timeout` passes;
  // returns whether it happened. For tests and shutdown.
  bool WaitForSize(size_t n, absl::Duration timeout) const
      ABSL_LOCKS_EXCLUDED(size_mu_);

  // Returns the channels of `group` as the fan-out mirrors them now
  // (sorted; empty for a group that does not exist). A transport that
  // catches a group watcher up from its own history reads them.
  std::vector<std::string> ChannelsOfGroup(absl::string_view group) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Counts a sink cut off for falling behind (a metric).
  void CountSlowWatcher() { slow_watchers_.fetch_add(1); }
  uint64_t slow_watchers() const { return slow_watchers_.load(); }

  // EventListener.
  void OnEvent(const PresenceEvent& event) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnGroupChange(const GroupChange& change) override
      ABSL_LOCKS_EXCLUDED(mu_);
  // Closes every sink with UNAVAILABLE (it may have missed events), or
  // with `status` itself when it is DATA_LOSS (events were lost for good),
  // and forgets the group mirror, which the store sends again.
  void OnEventsInterrupted(const absl::Status& status) override
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Watch {
    const EventEncoder* encoder;
    std::vector<std::string> channels;
    std::vector<std::string> groups;
  };

  static void Erase(std::vector<EventSink*>& sinks, EventSink* sink);
  void SetSizeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::atomic<uint64_t> slow_watchers_{0};

  mutable SharedMutex mu_;
  absl::flat_hash_map<EventSink*, Watch> watches_ ABSL_GUARDED_BY(mu_);
  std::vector<EventSink*> firehose_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::vector<EventSink*>> by_channel_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::vector<EventSink*>> by_group_
      ABSL_GUARDED_BY(mu_);
  // Group membership as the store reported it.
  GroupMirror groups_ ABSL_GUARDED_BY(mu_);
  uint64_t interruptions_ ABSL_GUARDED_BY(mu_) = 0;

  // The sink count, for WaitForSize (taken after mu_ when both are held).
  mutable Mutex size_mu_;
  mutable CondVar size_changed_;
  size_t size_ ABSL_GUARDED_BY(size_mu_) = 0;
};

}  // namespace presence

#endif  // SERVICE_FANOUT_EVENT_FANOUT_H_
