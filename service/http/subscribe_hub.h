// SubscribeHub: the presence events of PubNub subscribe long-polls — a
// bounded recent history addressed by timetoken, and the polls waiting for
// their next event.
//
// Events come from the HTTP transport's EventFanout sinks (a firehose sink
// for every channel, and one sink per channel group that a poll asks for, so
// that a group poll follows the group's membership live). The first sink to
// bring an event numbers it with a timetoken (strictly increasing, under the
// hub's lock, so numbering order is history order) and appends it to its
// channel's history. A poll asks for events after its timetoken on some
// channels and groups: what the history holds is answered at once;
// otherwise the poll waits (a Waiter) until an event of one of its channels
// or groups arrives, its deadline passes, or the hub drains.
//
//   SubscribeHub hub({});
//   uint64_t cursor = hub.NextTimetoken();          // a handshake's answer
//   SubscribeHub::PollResult r = hub.Poll(query, waiter, deadline);
//   if (r.ready) Answer(r.deliveries, r.cursor);    // else waiter->Wake later
//
// Events made while a client was between two polls are therefore delivered,
// not lost, as long as the history still holds them: it keeps at most
// `max_events` events (all channels together, oldest dropped first) and none
// older than `retention`. A poll whose timetoken is older than what the
// history still covers (events were dropped after it, or it predates this
// process) gets what is left, and is counted in gaps().
//
// Thread-safe. Waiter::Wake runs without the hub's lock.
#ifndef SERVICE_HTTP_SUBSCRIBE_HUB_H_
#define SERVICE_HTTP_SUBSCRIBE_HUB_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "presence/base/mutex.h"
#include "service/http/pubnub_event_encoder.h"
#include "service/http/timetoken.h"

namespace presence {

class SubscribeHub {
 public:
  struct Options {
    // Events kept for catch-up, all channels together.
    size_t max_events = 50000;
    // Events older than this are dropped from the history.
    absl::Duration retention = absl::Minutes(5);
    // Most events in one answer; a client with more waiting gets them on
    // its next poll (at once).
    size_t max_events_per_answer = 100;
    // The source of wall-clock time (tests pass a fake).
    std::function<absl::Time()> now = [] { return absl::Now(); };
  };

  // One event for one poll.
  struct Delivery {
    uint64_t timetoken = 0;
    std::shared_ptr<const PubNubEncodedEvent> event;
    // The name the client subscribed to that brought it ("b"): the
    // channel's "<ch>-pnpres", or "<cg>-pnpres" for a group's channel.
    std::string subscription;
  };

  // A waiting poll.
  class Waiter {
   public:
    virtual ~Waiter() = default;
    // Answers the poll: `deliveries` (possibly empty: the deadline passed or
    // the hub drains) and the cursor for the next poll. Called at most once
    // (not for a waiter that Cancel() removed; a Cancel racing with a wake
    // may return before Wake runs), without the hub's lock, possibly on a
    // thread that is delivering an event with the fan-out's and the store's
    // locks held: must be quick and must not block.
    virtual void Wake(std::vector<Delivery> deliveries, uint64_t cursor) = 0;
  };

  struct Query {
    struct Group {
      std::string name;
      // The group's channels now (the catch-up from history reads these;
      // live events follow the group through OnGroupEvent).
      std::vector<std::string> channels;
    };
    // Channels (without "-pnpres") whose presence events are wanted.
    std::vector<std::string> channels;
    std::vector<Group> groups;
    // Deliver events with a timetoken after this one.
    uint64_t after = 0;
  };

  struct PollResult {
    // True: answer now with `deliveries` and `cursor`. False: the waiter was
    // registered and will be woken.
    bool ready = false;
    std::vector<Delivery> deliveries;
    uint64_t cursor = 0;
  };

  explicit SubscribeHub(Options options);
  SubscribeHub(const SubscribeHub&) = delete;
  SubscribeHub& operator=(const SubscribeHub&) = delete;

  // Returns a fresh timetoken: every event numbered later has a larger one
  // (the cursor of a handshake, of an empty answer, and /time/0).
  uint64_t NextTimetoken() ABSL_LOCKS_EXCLUDED(mu_);

  // Returns the events of `query` after query.after, or, when there are
  // none, registers `waiter` (if not null) until `deadline`. While
  // draining, answers at once.
  PollResult Poll(const Query& query, std::shared_ptr<Waiter> waiter,
                  absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);

  // Unregisters a waiter (the client went away); no-op if it was woken.
  void Cancel(const Waiter* waiter) ABSL_LOCKS_EXCLUDED(mu_);

  // Wakes, with no events, the waiters whose deadline is not after `now`,
  // and drops history older than the retention. Returns how many it woke.
  size_t ExpireWaiters(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  // Wakes every waiter with no events; from now on polls answer at once.
  void Drain() ABSL_LOCKS_EXCLUDED(mu_);

  // An event from the firehose sink (every channel).
  void OnEvent(const std::shared_ptr<const PubNubEncodedEvent>& event)
      ABSL_LOCKS_EXCLUDED(mu_);
  // An event of a channel in `group`, from that group's sink.
  void OnGroupEvent(absl::string_view group,
                    const std::shared_ptr<const PubNubEncodedEvent>& event)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The store's event feed broke: events may be missing from the history.
  void OnEventsLost() ABSL_LOCKS_EXCLUDED(mu_);

  size_t waiters() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t history_events() const ABSL_LOCKS_EXCLUDED(mu_);
  // Polls whose timetoken was older than the history covers.
  uint64_t gaps() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    uint64_t timetoken;
    std::shared_ptr<const PubNubEncodedEvent> event;
  };
  struct Registration {
    std::shared_ptr<Waiter> waiter;
    std::vector<std::string> channels;
    std::vector<std::string> groups;
    absl::Time deadline;
  };
  using Woken = std::vector<std::pair<std::shared_ptr<Waiter>, Delivery>>;

  // Numbers a new event and appends it to the history; false if the event
  // was numbered before (another sink brought it first).
  bool NumberLocked(const std::shared_ptr<const PubNubEncodedEvent>& event)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TrimLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends the history of `channel` after `after` to `out`.
  void CollectLocked(const std::string& channel, uint64_t after,
                     const std::string& subscription,
                     std::vector<Delivery>& out) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Unregisters a waiter; returns it (null if it was not registered).
  std::shared_ptr<Waiter> RemoveLocked(const Waiter* waiter)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Unregisters the waiters of `set` (a copy: removal edits the maps) and
  // adds them to `woken` with `event`.
  void WakeSetLocked(const absl::flat_hash_set<const Waiter*>& set,
                     const std::shared_ptr<const PubNubEncodedEvent>& event,
                     const std::string& subscription, Woken& woken)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void Deliver(Woken& woken);

  const Options options_;

  mutable Mutex mu_;
  TimetokenClock clock_ ABSL_GUARDED_BY(mu_);
  // Events per channel, in timetoken order; and all of them in arrival
  // order (which is timetoken order) for trimming. `order_` points at the
  // keys of `history_` (stable in a node map).
  absl::node_hash_map<std::string, std::deque<Entry>> history_
      ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<uint64_t, const std::string*>> order_
      ABSL_GUARDED_BY(mu_);
  // Polls after a timetoken older than this may have missed events.
  uint64_t floor_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t gaps_ ABSL_GUARDED_BY(mu_) = 0;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;

  absl::flat_hash_map<const Waiter*, Registration> waiters_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::flat_hash_set<const Waiter*>>
      by_channel_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::flat_hash_set<const Waiter*>> by_group_
      ABSL_GUARDED_BY(mu_);
  std::set<std::pair<absl::Time, const Waiter*>> deadlines_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace presence

#endif  // SERVICE_HTTP_SUBSCRIBE_HUB_H_
