// Webhooks: presence events POSTed, signed and in batches, to HTTP endpoints.
//
//   presence::WebhookOptions options;
//   options.urls = {"https://hooks.example.com/presence"};
//   options.secret = secret_from_env;
//   options.actions = *presence::WebhookDispatcher::ParseActions("join,leave");
//   auto dispatcher = presence::WebhookDispatcher::Create(options);
//   if (!dispatcher.ok()) return dispatcher.status();
//   // Exclusive: with several replicas on one Redis, one replica at a time
//   // delivers each event to exclusive listeners, so each is POSTed once.
//   store->AddExclusiveListener(dispatcher->get());
//   ...
//   store->RemoveExclusiveListener(dispatcher->get());
//   (*dispatcher)->Shutdown(absl::Seconds(5));  // delivers what is queued
//
// Each request is
//
//   POST <url>
//   Content-Type: application/json
//   X-Presence-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
//
//   {"events":[<event>,...]}
//
// with the signature of webhook_signature.h (re-computed, with a fresh t, on
// every attempt) and each <event> as EncodeEventJson() (webhook_event_json.h)
// describes.
//
// Delivery is at least once and in order per URL (so per channel): each URL
// has its own bounded FIFO queue and at most one batch in flight; a batch
// that fails with a connection error, a timeout, a 5xx or a 429 is sent again
// (the same events, before anything newer) after an exponential backoff with
// full jitter, up to max_attempts. Receivers should therefore deduplicate by
// (channel, sequence). When a URL's queue is full, its oldest events are
// dropped: a slow receiver costs at most max_queue_events events of memory
// and never slows the presence engine down.
//
// Across replicas (the Redis store) the dispatcher tells the store how far
// it is done (DoneThrough), and the store's shared delivery cursor moves
// only that far: a replica that dies with a batch in flight or queued
// leaves those events to the replica that takes the delivery over, which
// sends them again (so a receiver may see an event twice, another reason to
// deduplicate by (channel, sequence)).
//
// Thread-safe. OnEvent() may be called from any number of threads at once; it
// never blocks on I/O. Delivery runs on one thread owned by the dispatcher.
//
// The dispatcher composes the parts of this package: the JSON
// (webhook_event_json.h), a WebhookQueue per URL (webhook_queue.h), the
// libcurl transport with a WebhookEndpoint per URL (webhook_transport.h),
// the WebhookRetryPolicy (webhook_retry_policy.h), a LogThrottle per URL
// (log_throttle.h) and WebhookCounters per URL (webhook_counters.h).
#ifndef SERVICE_WEBHOOKS_WEBHOOK_DISPATCHER_H_
#define SERVICE_WEBHOOKS_WEBHOOK_DISPATCHER_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "presence/base/mutex.h"
#include "presence/clock.h"
#include "presence/event.h"
#include "service/webhooks/webhook_event_json.h"  // EncodeEventJson().

namespace presence {

class WebhookEndpoint;
class WebhookTransport;

struct WebhookOptions {
  // Endpoints, each http:// or https://, all distinct. Every URL receives
  // every event (that passes `actions`) through its own queue.
  std::vector<std::string> urls;
  // The HMAC key of X-Presence-Signature. Must not be empty.
  std::string secret;
  // The event types to send; empty sends all of them.
  std::vector<EventType> actions;
  // A batch is sent as soon as this many events are queued, or
  // max_batch_delay after the oldest queued event arrived, whichever is
  // first.
  size_t max_batch_events = 100;
  absl::Duration max_batch_delay = absl::Milliseconds(200);
  // Per URL. When full, the oldest queued events are dropped (and counted).
  // The batch in flight (at most max_batch_events) is not part of the queue.
  size_t max_queue_events = 100000;
  // Whole request, connection included.
  absl::Duration request_timeout = absl::Seconds(5);
  // The n-th retry waits a uniformly random time in
  // [0, min(max_backoff, initial_backoff * 2^(n-1))], at least the
  // receiver's Retry-After (capped at max_backoff).
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(30);
  // Attempts per batch, the first included; then its events are failed.
  int max_attempts = 10;
};

// Returns OK if `options` can make a WebhookDispatcher, else InvalidArgument
// naming the option that is wrong and why, e.g.
// "webhook max_attempts: 0; must be at least 1" or
// "webhook urls[1]: \"http://\" is not a valid URL (...)" (URLs without
// credentials, query or fragment) for the first wrong option found;
// ResourceExhausted or Internal when libcurl cannot check a URL.
absl::Status ValidateWebhookOptions(const WebhookOptions& options);

class WebhookDispatcher : public EventListener {
 public:
  // Counters since creation, summed over URLs; `queued_events` is the
  // current number of events waiting in the queues (not in flight).
  struct Stats {
    uint64_t delivered_events = 0;  // Acknowledged with a 2xx.
    // Never attempted: pushed out of a full queue, or still queued when
    // Shutdown's deadline passed.
    uint64_t dropped_events = 0;
    // Attempted and given up: a 4xx other than 429 (or a 1xx/3xx), no
    // success within max_attempts, or Shutdown's deadline reached first.
    uint64_t failed_events = 0;
    uint64_t retries = 0;  // Requests that re-sent a batch.
    uint64_t batches = 0;  // Batches delivered (2xx).
    uint64_t queued_events = 0;
  };

  // Returns a dispatcher whose delivery thread is running, or the error of
  // ValidateWebhookOptions() (InvalidArgument naming the option that is
  // wrong), or ResourceExhausted or Internal when libcurl cannot start.
  // `clock` (which must outlive the dispatcher) gives the signature
  // timestamps; batching delays, backoffs and timeouts use a monotonic
  // clock, since they govern real I/O.
  static absl::StatusOr<std::unique_ptr<WebhookDispatcher>> Create(
      WebhookOptions options, const Clock* clock = Clock::Real());

  // Returns the event types named in `csv` (e.g. "join,leave,timeout"; names
  // as EventTypeName returns them, surrounding spaces ignored, duplicates
  // merged), an empty vector for an empty `csv` (all types), or
  // InvalidArgument naming the unknown action.
  static absl::StatusOr<std::vector<EventType>> ParseActions(
      absl::string_view csv);

  // Calls Shutdown(absl::ZeroDuration()). No OnEvent() call may be in
  // progress or start (remove the dispatcher from its store first).
  ~WebhookDispatcher() override;

  WebhookDispatcher(const WebhookDispatcher&) = delete;
  WebhookDispatcher& operator=(const WebhookDispatcher&) = delete;

  // Queues `event` for every URL unless its type is filtered out. Never
  // blocks on I/O: it encodes the event once and appends it to each queue.
  // Events offered after Shutdown() began are ignored.
  void OnEvent(const PresenceEvent& event) override;

  // How far delivery is done, for a store that resumes exclusive delivery
  // across replicas (EventListener::DoneThrough): below the oldest event
  // (by PresenceEvent::delivery_position) that some URL still has queued
  // or in flight. An event is done once every URL acknowledged it with a
  // 2xx, dropped it from a full queue, gave it up (a rejection, or
  // max_attempts), or filtered it out; events abandoned or ignored at
  // Shutdown() are never done. Thread-safe.
  uint64_t DoneThrough() const override;

  // Stops accepting events, sends what is queued (at once, without waiting
  // for max_batch_delay) and returns when everything was delivered or given
  // up, or at `deadline` from now, whichever is first. No attempt starts
  // after the deadline, and requests still in flight then are aborted; their
  // events count as failed, events still queued as dropped. Idempotent;
  // concurrent calls return when the first one is done.
  void Shutdown(absl::Duration deadline);

  // Returns the counters (see Stats). Thread-safe, cheap.
  Stats stats() const;

 private:
  // One URL: its queue, endpoint, counters and the batch being delivered.
  struct Target;

  WebhookDispatcher(WebhookOptions options,
                    std::unique_ptr<WebhookTransport> transport,
                    std::vector<std::unique_ptr<Target>> targets);

  // The delivery thread.
  void Run();
  // Makes the delivery thread look at the queues again, once per burst.
  void Wake();
  // Returns the target whose endpoint is `endpoint`.
  Target& TargetOf(const WebhookEndpoint* endpoint) const;

  const WebhookOptions options_;
  const uint32_t action_mask_;  // Bit per EventType; all bits when no filter.
  // Declared before targets_, whose endpoints must be destroyed first.
  const std::unique_ptr<WebhookTransport> transport_;
  const std::vector<std::unique_ptr<Target>> targets_;

  std::atomic<bool> accepting_{true};
  // The delivery_position of the last event offered (0: none had one).
  std::atomic<uint64_t> offered_through_{0};
  // Whether a Wakeup() is pending, so that a burst of events wakes the
  // delivery thread once.
  std::atomic<bool> wake_pending_{false};

  // What Shutdown() tells the delivery thread.
  Mutex stop_mu_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;
  // When stopping_: nothing is attempted after it (monotonic clock).
  std::chrono::steady_clock::time_point drain_deadline_
      ABSL_GUARDED_BY(stop_mu_);

  Mutex shutdown_mu_;  // Serializes Shutdown().
  // Started by Create(), joined by Shutdown().
  std::thread thread_ ABSL_GUARDED_BY(shutdown_mu_);
};

}  // namespace presence

#endif  // SERVICE_WEBHOOKS_WEBHOOK_DISPATCHER_H_
