// WatchHub: fans presence events out to WatchEvents streams.
//
// It listens to the EventPipeline, encodes each event once as a serialized
// presence.v1.WatchEventsResponse (whatever the number of watchers), and
// hands the same bytes to every watcher of the event's channel: those that
// named the channel, those watching a group that holds it now (the hub
// mirrors group membership from GroupChange events, so a group watch
// follows the group), and the firehose watchers that named nothing.
//
//   WatchHub hub;
//   pipeline.AddListener(&hub);
//   hub.Add(&sink, {"lobby"}, {"friends"});  // Events flow to sink.Deliver.
//   hub.Remove(&sink);                        // No Deliver after this.
//
// Thread-safe. Deliver() is called with the hub's lock held (shared), in
// per-channel order; sinks must not block.
#ifndef SERVICE_FANOUT_WATCH_HUB_H_
#define SERVICE_FANOUT_WATCH_HUB_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/status.h"
#include "presence/event.h"
#include "presence/v1/presence.pb.h"

namespace presence {

// The watcher side: a WatchEvents stream.
class WatchSink {
 public:
  virtual ~WatchSink() = default;

  // Receives one encoded WatchEventsResponse. Must not block.
  virtual void Deliver(const grpc::ByteBuffer& event) = 0;

  // Ends the watch with `status` (e.g. the server is shutting down).
  virtual void Close(const grpc::Status& status) = 0;
};

class WatchHub : public EventListener {
 public:
  // Registers `sink` for the events of `channels` and of the channels of
  // `groups` (both validated by the caller); with neither, of every
  // channel. NOT_FOUND naming a group that does not exist. `sink` must stay
  // valid until Remove(sink) returns.
  absl::Status Add(WatchSink* sink, const std::vector<std::string>& channels,
                   const std::vector<std::string>& groups);

  // Unregisters `sink`; when this returns no Deliver() to it is running.
  void Remove(WatchSink* sink);

  // Closes every registered watch with `status`.
  void CloseAll(const grpc::Status& status);

  // Returns the number of registered watches.
  size_t size() const;

  // Counts a watch cut off for falling behind (a metric).
  void CountSlowWatcher() { slow_watchers_.fetch_add(1); }
  uint64_t slow_watchers() const { return slow_watchers_.load(); }

  // Waits until exactly `n` watches are registered, or `timeout` passes;
  // returns whether it happened. For tests and shutdown.
  bool WaitForSize(size_t n, absl::Duration timeout) const;

  void OnEvent(const PresenceEvent& event) override;
  void OnGroupChange(const GroupChange& change) override;
  // Ends every watch with UNAVAILABLE (it may have missed events) and
  // forgets the group mirror, which the store sends again.
  void OnEventsInterrupted(const absl::Status& status) override;

  // Returns `event` as a WatchEventsResponse.
  static v1::WatchEventsResponse ToProto(const PresenceEvent& event);

 private:
  struct Watch {
    std::vector<std::string> channels;
    std::vector<std::string> groups;
  };

  static void Erase(std::vector<WatchSink*>& sinks, WatchSink* sink);

  std::atomic<uint64_t> slow_watchers_{0};
  mutable std::shared_mutex mu_;
  mutable std::condition_variable_any size_changed_;
  // Everything below is guarded by mu_.
  absl::flat_hash_map<WatchSink*, Watch> watches_;
  std::vector<WatchSink*> firehose_;
  absl::flat_hash_map<std::string, std::vector<WatchSink*>> by_channel_;
  absl::flat_hash_map<std::string, std::vector<WatchSink*>> by_group_;
  // The mirror of group membership, both ways.
  absl::flat_hash_map<std::string, std::vector<std::string>> group_channels_;
  absl::flat_hash_map<std::string, std::vector<std::string>> channel_groups_;
};

}  // namespace presence

#endif  // SERVICE_FANOUT_WATCH_HUB_H_
