// WebhookQueue: the events waiting for one webhook URL, oldest first, in a
// bounded FIFO that drops its oldest event to make room for a new one. A
// slow or unreachable receiver thus costs at most `capacity` events of
// memory, and the producer (WebhookDispatcher::OnEvent, on the store's
// threads) never waits for the consumer (the delivery thread). The drops are
// counted until the consumer takes the count, to report them.
//
//   WebhookQueue queue(/*capacity=*/3);
//   for (int i = 1; i <= 4; ++i) queue.Push(json[i], now);
//   // json[1] was dropped: queue.size() == 3, queue.untaken_drops() == 1.
//   std::vector<WebhookQueue::Json> batch = queue.PopOldest(2);  // 2, 3
//   uint64_t dropped = queue.TakeDrops();  // 1; then 0 until another drop
//
// Thread-safe: any number of threads may call any method at once; each call
// holds the queue's own lock briefly and never blocks on anything else.
#ifndef SERVICE_WEBHOOKS_WEBHOOK_QUEUE_H_
#define SERVICE_WEBHOOKS_WEBHOOK_QUEUE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "presence/base/mutex.h"

namespace presence {

class WebhookQueue {
 public:
  // An encoded event (EncodeEventJson()), shared by the queues of every URL.
  using Json = std::shared_ptr<const std::string>;
  // Batch delays are about real I/O, so pushes are stamped with the
  // monotonic clock (passed in, so that tests choose it).
  using Time = std::chrono::steady_clock::time_point;

  struct PushResult {
    // False when the queue is closed: the event was ignored, and the other
    // fields are zero.
    bool queued = false;
    // Whether the oldest event was dropped to make room for this one.
    bool dropped_oldest = false;
    // The number of queued events after the push.
    size_t size = 0;
    // Drops that TakeDrops() has not returned yet, this one included.
    uint64_t untaken_drops = 0;
  };

  struct Head {
    size_t size = 0;  // Queued events.
    Time oldest;      // When the oldest of them was pushed; Time() if none.
    // The oldest event's position (as pushed); 0 if none.
    uint64_t oldest_position = 0;
  };

  // `capacity` (at least 1) is the most events the queue holds.
  explicit WebhookQueue(size_t capacity);

  WebhookQueue(const WebhookQueue&) = delete;
  WebhookQueue& operator=(const WebhookQueue&) = delete;

  // Appends `event`, pushed at `now`, dropping the oldest event first when
  // the queue is full. Returns what happened (see PushResult). `position`
  // (PresenceEvent::delivery_position, 0 for none) is kept with the event,
  // so the owner can tell how far it is done (WebhookDispatcher::
  // DoneThrough); positions must not decrease from one push to the next.
  PushResult Push(Json event, Time now, uint64_t position = 0);

  // Returns the number of queued events and when the oldest was pushed.
  Head Peek() const;

  // Removes and returns the `max_events` oldest events (all of them when
  // fewer are queued), oldest first; sets `*first_position` (if not null)
  // to the position of the first of them (0 if none).
  std::vector<Json> PopOldest(size_t max_events,
                              uint64_t* first_position = nullptr);

  // Returns the number of events dropped by Push() since the previous call
  // (since creation for the first), and starts counting again from 0.
  uint64_t TakeDrops();

  // Returns what TakeDrops() would return now, without resetting it.
  uint64_t untaken_drops() const;

  // Returns the number of queued events.
  size_t size() const;

  // Discards every queued event and ignores the events pushed from now on.
  // Returns how many were discarded (they are not counted as drops).
  // Idempotent: later calls return 0.
  size_t Close();

 private:
  struct Entry {
    Json json;
    Time pushed;
    uint64_t position;
  };

  const size_t capacity_;
  mutable Mutex mu_;
  std::deque<Entry> entries_ ABSL_GUARDED_BY(mu_);
  uint64_t untaken_drops_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace presence

#endif  // SERVICE_WEBHOOKS_WEBHOOK_QUEUE_H_
