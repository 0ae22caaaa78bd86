// PresenceStore: where presence lives. The embedded in-memory store
// (presence/store/memory/memory_store.h) is the default; the Redis-backed
// store (presence/store/redis/redis_store.h) shares this interface, and the
// conformance suite (presence/testing/store_conformance.h) runs against
// both.
//
// Callers go through Presence (presence/presence.h), which validates requests
// and normalises them before they reach a store; a store may therefore assume:
// names are valid, channel and group lists are sorted and free of duplicates,
// states are canonical JSON objects within limits, HeartbeatRequest has a
// non-zero timeout, HereNowRequest has a non-zero limit, and a
// HeartbeatRequest's states are keyed by names of the request.
//
// Thread-safe: every method may be called concurrently. Each call is atomic
// with respect to the channels it touches.
//
// Every call exists in two forms. The synchronous one returns the result.
// The asynchronous one (`...Async`) hands it to a callback, called exactly
// once: either before the method returns, on the caller's thread, or later on
// a store thread; the callback must not block. A store whose calls wait on a
// backend (Redis) implements the asynchronous forms without blocking the
// caller, so servers never park a thread on a round trip; the defaults here
// run the synchronous form and call back at once, which is right for a store
// that answers from memory.
#ifndef PRESENCE_STORE_H_
#define PRESENCE_STORE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "presence/event.h"
#include "presence/types.h"

namespace presence {

// The completion of an asynchronous call (see the file comment).
template <typename T>
using StoreCallback = absl::AnyInvocable<void(absl::StatusOr<T>) &&>;
using StoreStatusCallback = absl::AnyInvocable<void(absl::Status) &&>;

class PresenceStore {
 public:
  virtual ~PresenceStore() = default;

  // Returns the occupancy (and a page of occupants) of the request's
  // channels and of the occupied channels of its groups; with neither, of
  // every occupied channel. NOT_FOUND names a group that does not exist.
  virtual absl::StatusOr<HereNowResult> HereNow(
      const HereNowRequest& request) = 0;

  // Returns the channels the user is present in.
  virtual absl::StatusOr<WhereNowResult> WhereNow(
      const WhereNowRequest& request) = 0;

  // Replaces the user's state on the request's channels (FAILED_PRECONDITION
  // naming those where the user is absent, changing nothing) and on the
  // channels of its groups where the user is present.
  virtual absl::StatusOr<SetStateResult> SetState(
      const SetStateRequest& request) = 0;

  // Returns the user's state on each channel (of the request and its groups)
  // where the user is present.
  virtual absl::StatusOr<GetStateResult> GetState(
      const GetStateRequest& request) = 0;

  // Starts or extends the session's presence on every channel of the request
  // and its groups, and sets the given states.
  virtual absl::Status Heartbeat(const HeartbeatRequest& request) = 0;

  // Ends the session on the channels; returns those the user left.
  virtual absl::StatusOr<LeaveResult> Leave(const LeaveRequest& request) = 0;

  // Applies each entry as Heartbeat or Leave would, in order, each atomic
  // on its own (not the batch as a whole); one failing entry (e.g. a group
  // that does not exist) does not stop the others. Returns one result per
  // entry: its status and, for leaves, the channels left. Entries arrive
  // validated and normalised, like the single calls.
  virtual std::vector<BatchEntryResult> Batch(
      const std::vector<BatchEntry>& entries);

  // Returns how much presence the store holds now (for metrics).
  // UNIMPLEMENTED from a store that cannot tell cheaply.
  virtual absl::StatusOr<StoreStats> Stats() {
    return absl::UnimplementedError("this store does not report stats");
  }

  // Times out every membership whose last session passed its deadline, and
  // emits the interval events that are due. A channel's timeouts due
  // together come in deadline order, then user-id order (byte-wise). The
  // server calls this periodically; tests call it after moving the clock.
  virtual absl::Status ExpireSessions() = 0;

  // Channel groups. AddChannels creates the group; FAILED_PRECONDITION when
  // it would hold more channels than the store's limit. The others return
  // NOT_FOUND for a group that does not exist; removing a group's last
  // channel deletes the group.
  virtual absl::Status AddChannelsToGroup(
      absl::string_view group, const std::vector<std::string>& channels) = 0;
  virtual absl::Status RemoveChannelsFromGroup(
      absl::string_view group, const std::vector<std::string>& channels) = 0;
  virtual absl::StatusOr<std::vector<std::string>> ListChannelsInGroup(
      absl::string_view group) = 0;
  virtual absl::StatusOr<std::vector<std::string>> ListGroups() = 0;
  virtual absl::Status DeleteGroup(absl::string_view group) = 0;

  // The asynchronous forms (see the file comment).
  virtual void HereNowAsync(const HereNowRequest& request,
                            StoreCallback<HereNowResult> done) {
    std::move(done)(HereNow(request));
  }
  virtual void WhereNowAsync(const WhereNowRequest& request,
                             StoreCallback<WhereNowResult> done) {
    std::move(done)(WhereNow(request));
  }
  virtual void SetStateAsync(const SetStateRequest& request,
                             StoreCallback<SetStateResult> done) {
    std::move(done)(SetState(request));
  }
  virtual void GetStateAsync(const GetStateRequest& request,
                             StoreCallback<GetStateResult> done) {
    std::move(done)(GetState(request));
  }
  virtual void HeartbeatAsync(const HeartbeatRequest& request,
                              StoreStatusCallback done) {
    std::move(done)(Heartbeat(request));
  }
  virtual void LeaveAsync(const LeaveRequest& request,
                          StoreCallback<LeaveResult> done) {
    std::move(done)(Leave(request));
  }
  virtual void BatchAsync(
      const std::vector<BatchEntry>& entries,
      absl::AnyInvocable<void(std::vector<BatchEntryResult>) &&> done) {
    std::move(done)(Batch(entries));
  }
  virtual void AddChannelsToGroupAsync(absl::string_view group,
                                       const std::vector<std::string>& channels,
                                       StoreStatusCallback done) {
    std::move(done)(AddChannelsToGroup(group, channels));
  }
  virtual void RemoveChannelsFromGroupAsync(
      absl::string_view group, const std::vector<std::string>& channels,
      StoreStatusCallback done) {
    std::move(done)(RemoveChannelsFromGroup(group, channels));
  }
  virtual void ListChannelsInGroupAsync(
      absl::string_view group, StoreCallback<std::vector<std::string>> done) {
    std::move(done)(ListChannelsInGroup(group));
  }
  virtual void ListGroupsAsync(StoreCallback<std::vector<std::string>> done) {
    std::move(done)(ListGroups());
  }
  virtual void DeleteGroupAsync(absl::string_view group,
                                StoreStatusCallback done) {
    std::move(done)(DeleteGroup(group));
  }

  // Registers `listener` for every event from now on, under the rules of
  // event.h: the consumer events (joins, leaves, timeouts and state changes,
  // active/inactive, interval events above announce_max, with per-channel
  // sequences) and group changes. Atomically with the registration, it
  // first sends the listener every existing group (OnGroupChange, in group
  // order, each with its sorted channels), before any later event or
  // change, so a listener that mirrors groups never misses or reorders one.
  // Listeners get each call in the order they were added.
  virtual void AddListener(EventListener* listener) = 0;

  // Unregisters `listener`; no call to it is in progress when this returns.
  virtual void RemoveListener(EventListener* listener) = 0;

  // Registers `listener` for events whose side effects must happen once
  // across all replicas sharing the store (webhooks): with several replicas,
  // one of them at a time delivers each event to its exclusive listeners,
  // at least once (around a handover between replicas an event may come
  // twice; deduplicate by channel and sequence). A store of one process
  // delivers every event to them as it does to AddListener's. Exclusive
  // listeners get events only: no group changes (nor the replay) and no
  // OnEventsInterrupted. The rules of event.h apply; each store's header
  // says which thread calls them.
  virtual void AddExclusiveListener(EventListener* listener) = 0;
  virtual void RemoveExclusiveListener(EventListener* listener) = 0;

  // Waits until every event of the changes made before the call has been
  // delivered to listeners (stores that deliver asynchronously), or fails.
  virtual absl::Status SyncEvents() { return absl::OkStatus(); }

  // Returns whether the store can serve now (false while a backend it
  // needs is unreachable). For readiness health checks.
  virtual bool Healthy() const { return true; }
};

}  // namespace presence

#endif  // PRESENCE_STORE_H_
