// Webhooks: presence events POSTed, signed and in batches, to HTTP endpoints.
//
//   presence::WebhookOptions options;
//   options.urls = {"https://hooks.example.com/presence"};
//   options.secret = secret_from_env;
//   options.actions = *presence::WebhookDispatcher::ParseActions("join,leave");
//   auto dispatcher = presence::WebhookDispatcher::Create(options);
//   if (!dispatcher.ok()) return dispatcher.status();
//   store->AddListener(dispatcher->get());
//   ...
//   store->RemoveListener(dispatcher->get());
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
// every attempt) and each <event> as EncodeEventJson() describes.
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
// Thread-safe. OnEvent() may be called from any number of threads at once; it
// never blocks on I/O. Delivery runs on one thread owned by the dispatcher.
#ifndef SERVICE_WEBHOOKS_WEBHOOK_DISPATCHER_H_
#define SERVICE_WEBHOOKS_WEBHOOK_DISPATCHER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "presence/clock.h"
#include "presence/event.h"

namespace presence {

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

// Returns the JSON object that represents `event` in a webhook, on one line:
//
//   {"channel":"lobby","action":"join","user_id":"alice","occupancy":3,
//    "timestamp":"2026-11-27T17:01:21.123Z","timestamp_ms":1795798881123,
//    "sequence":"4294967297","state":{"mood":"happy"}}
//
// "action" is EventTypeName(event.type); "user_id" and "state" are present
// only when not empty ("state" is event.state embedded as is, so it must be
// JSON text); "sequence" is a string because it exceeds 2^53. Interval
// events have no "user_id" but "join", "leave" and "timeout" arrays (each
// only when not empty) and "here_now_refresh":true when the lists were too
// large to send.
std::string EncodeEventJson(const PresenceEvent& event);

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

  // Returns a dispatcher whose delivery thread is running, or
  // InvalidArgument naming the option that is wrong. `clock` (which must
  // outlive the dispatcher) gives the signature timestamps; batching delays,
  // backoffs and timeouts use a monotonic clock, since they govern real I/O.
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
  struct Target;

  WebhookDispatcher(WebhookOptions options, const Clock* clock, void* multi);

  void Run();
  void Wake();

  const WebhookOptions options_;
  const Clock* const clock_;
  const uint32_t action_mask_;  // Bit per EventType; all bits when no filter.
  void* const multi_;           // CURLM*; lives until the destructor.
  std::vector<std::unique_ptr<Target>> targets_;

  std::atomic<bool> accepting_{true};
  // Set before the delivery thread is told to stop; read by it.
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> drain_deadline_ns_{
      0};  // Monotonic clock, when stopping.
  // Whether a curl_multi_wakeup() is pending, so that a burst of events
  // wakes the delivery thread once.
  std::atomic<bool> wake_pending_{false};

  std::mutex shutdown_mu_;  // Serializes Shutdown().
  std::thread thread_;      // Joined by Shutdown(); guarded by shutdown_mu_.
};

}  // namespace presence

#endif  // SERVICE_WEBHOOKS_WEBHOOK_DISPATCHER_H_
