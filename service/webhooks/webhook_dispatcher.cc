#include "service/webhooks/webhook_dispatcher.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <limits>
#include <optional>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "service/logging/log_throttle.h"
#include "service/logging/logging.h"
#include "service/webhooks/webhook_attempt_outcome.h"
#include "service/webhooks/webhook_counters.h"
#include "service/webhooks/webhook_queue.h"
#include "service/webhooks/webhook_retry_policy.h"
#include "service/webhooks/webhook_transport.h"

namespace presence {
namespace {

// Scheduling (batch delays, backoffs, the drain deadline) is about real I/O,
// so it follows the monotonic clock, not the injectable presence::Clock.
using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;

// At most one log line per URL and kind (drops, failures) per this interval.
constexpr SteadyClock::duration kLogInterval = std::chrono::seconds(10);
// The LogThrottle keys of those kinds.
constexpr absl::string_view kQueueFullLog = "queue full";
constexpr absl::string_view kBatchFailedLog = "batch failed";

// The delivery thread wakes at least this often even with nothing to do, so
// that a missed wakeup could only ever delay a batch, never strand it.
constexpr SteadyClock::duration kMaxPollInterval = std::chrono::seconds(1);

constexpr EventType kAllEventTypes[] = {
    EventType::kJoin,        EventType::kLeave,    EventType::kTimeout,
    EventType::kStateChange, EventType::kInterval, EventType::kActive,
    EventType::kInactive,
};

uint32_t Bit(EventType type) { return 1u << static_cast<int>(type); }

uint32_t ActionMask(const std::vector<EventType>& actions) {
  if (actions.empty()) return std::numeric_limits<uint32_t>::max();
  uint32_t mask = 0;
  for (EventType type : actions) mask |= Bit(type);
  return mask;
}

SteadyClock::duration ToSteady(absl::Duration d) {
  // absl saturates infinite durations to nanoseconds::max(), which would
  // overflow when added to a time point; a century is forever enough.
  const absl::Duration kForever = absl::Hours(24 * 365 * 100);
  return std::chrono::duration_cast<SteadyClock::duration>(
      absl::ToChronoNanoseconds(std::clamp(d, absl::ZeroDuration(), kForever)));
}

// Returns `url` without credentials, query or fragment, for log lines.
std::string RedactUrl(absl::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == absl::string_view::npos) return "<invalid url>";
  const size_t authority_begin = scheme_end + 3;
  size_t authority_end = url.find_first_of("/?#", authority_begin);
  if (authority_end == absl::string_view::npos) authority_end = url.size();
  absl::string_view authority =
      url.substr(authority_begin, authority_end - authority_begin);
  const size_t at = authority.rfind('@');
  if (at != absl::string_view::npos) authority.remove_prefix(at + 1);
  absl::string_view path = url.substr(authority_end);
  path = path.substr(0, path.find_first_of("?#"));
  return absl::StrCat(url.substr(0, authority_begin), authority, path);
}

}  // namespace

absl::Status ValidateWebhookOptions(const WebhookOptions& options) {
  if (options.urls.empty()) {
    return absl::InvalidArgumentError(
        "webhook urls: empty; at least one URL is required");
  }
  for (size_t i = 0; i < options.urls.size(); ++i) {
    const absl::Status status = CheckWebhookUrl(options.urls[i]);
    if (absl::IsInvalidArgument(status)) {
      return absl::InvalidArgumentError(
          absl::StrCat("webhook urls[", i, "]: \"", RedactUrl(options.urls[i]),
                       "\" ", status.message()));
    }
    if (!status.ok()) return status;
    for (size_t j = 0; j < i; ++j) {
      if (options.urls[j] == options.urls[i]) {
        return absl::InvalidArgumentError(
            absl::StrCat("webhook urls[", i, "]: duplicate of urls[", j, "]"));
      }
    }
  }
  if (options.secret.empty()) {
    return absl::InvalidArgumentError(
        "webhook secret: empty; requests must be signed");
  }
  if (options.max_batch_events < 1) {
    return absl::InvalidArgumentError(
        "webhook max_batch_events: 0; must be at least 1");
  }
  if (options.max_queue_events < options.max_batch_events) {
    return absl::InvalidArgumentError(
        absl::StrCat("webhook max_queue_events: ", options.max_queue_events,
                     "; must be at least max_batch_events (",
                     options.max_batch_events, ")"));
  }
  if (options.max_batch_delay < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("webhook max_batch_delay: ",
                     absl::FormatDuration(options.max_batch_delay),
                     "; must not be negative"));
  }
  if (options.request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "webhook request_timeout: ",
        absl::FormatDuration(options.request_timeout), "; must be positive"));
  }
  if (options.initial_backoff <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "webhook initial_backoff: ",
        absl::FormatDuration(options.initial_backoff), "; must be positive"));
  }
  if (options.max_backoff < options.initial_backoff) {
    return absl::InvalidArgumentError(absl::StrCat(
        "webhook max_backoff: ", absl::FormatDuration(options.max_backoff),
        "; must be at least initial_backoff (",
        absl::FormatDuration(options.initial_backoff), ")"));
  }
  if (options.max_attempts < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("webhook max_attempts: ", options.max_attempts,
                     "; must be at least 1"));
  }
  return absl::OkStatus();
}

// One URL. The queue (filled by OnEvent) and the counters (read by stats())
// are thread-safe; everything else belongs to the delivery thread, which
// calls the methods.
struct WebhookDispatcher::Target {
  Target(const WebhookOptions& options,
         std::unique_ptr<WebhookEndpoint> url_endpoint)
      : max_batch_events(options.max_batch_events),
        max_batch_delay(ToSteady(options.max_batch_delay)),
        max_queue_events(options.max_queue_events),
        retry_policy(options.initial_backoff, options.max_backoff,
                     options.max_attempts),
        log_name(RedactUrl(url_endpoint->url())),
        queue(options.max_queue_events),
        endpoint(std::move(url_endpoint)) {}

  // Starts a request if one is due: the pending retry once its backoff has
  // passed, else a new batch once it is full or old enough (at once when
  // stopping). A retry that could only start after `deadline` is given up.
  void StartIfDue(SteadyTime now, bool stopping, SteadyTime deadline) {
    if (endpoint->in_flight()) return;
    if (!body.empty()) {
      if (stopping && retry_at > deadline) {
        GiveUp(now, "not retried before the shutdown deadline");
      } else if (now < retry_at) {
        return;
      } else {
        Send();
        return;
      }
    }
    // Only this thread pops, and a full queue (the only one that drops)
    // holds a full batch, so a batch found due stays due until popped.
    const WebhookQueue::Head head = queue.Peek();
    if (head.size == 0) return;
    const bool due = stopping || head.size >= max_batch_events ||
                     now >= head.oldest + max_batch_delay;
    if (!due) return;
    // Published before the pop (DoneThrough reads the queue first), then
    // made exact: never above the batch's first position.
    batch_first.store(head.oldest_position);
    uint64_t first = 0;
    const std::vector<WebhookQueue::Json> batch =
        queue.PopOldest(max_batch_events, &first);
    batch_first.store(first);
    EncodeWebhookBody(batch, &body);
    batch_events = batch.size();
    attempts = 0;
    Send();
  }

  void Send() {
    ++attempts;
    if (attempts > 1) counters.AddRetry();
    if (std::optional<AttemptOutcome> failed = endpoint->Start(body)) {
      Finish(*failed, SteadyClock::now());
    }
  }

  // Handles how the current attempt ended: done, retry later or give up.
  void Finish(const AttemptOutcome& outcome, SteadyTime now) {
    const WebhookRetryPolicy::Decision decision =
        retry_policy.Decide(outcome, attempts, rng);
    switch (decision.action) {
      case WebhookRetryPolicy::Decision::Action::kDelivered:
        counters.AddDelivered(batch_events);
        ClearBatch();
        return;
      case WebhookRetryPolicy::Decision::Action::kReject:
        GiveUp(now, absl::StrCat("rejected (", outcome.description,
                                 "; not retried)"));
        return;
      case WebhookRetryPolicy::Decision::Action::kExhausted:
        GiveUp(now,
               absl::StrCat("not delivered after ", attempts,
                            " attempts (last: ", outcome.description, ")"));
        return;
      case WebhookRetryPolicy::Decision::Action::kRetry:
        retry_at = now + ToSteady(decision.backoff);
        return;
    }
  }

  void GiveUp(SteadyTime now, absl::string_view why) {
    counters.AddFailed(batch_events);
    const size_t events = batch_events;
    ClearBatch();
    if (!log_throttle.Allow(kBatchFailedLog, now)) {
      log_throttle.HoldBack(kBatchFailedLog);
      return;
    }
    const uint64_t unlogged = log_throttle.TakeHeldBack(kBatchFailedLog);
    LogError(absl::StrCat(
        "webhook ", log_name, ": a batch of ", events, " events was ", why,
        unlogged > 0
            ? absl::StrCat("; ", unlogged,
                           " more batches failed since the previous line")
            : ""));
  }

  void ClearBatch() {
    batch_first.store(0);
    body.clear();
    // Large batches should not pin their memory while the queue is idle.
    if (body.capacity() > (size_t{1} << 20)) body.shrink_to_fit();
    batch_events = 0;
    attempts = 0;
  }

  // Logs the drops since the previous line, at most once per kLogInterval.
  void LogDrops(SteadyTime now) {
    if (queue.untaken_drops() == 0 || !log_throttle.Allow(kQueueFullLog, now)) {
      return;
    }
    LogQueueFull(queue.TakeDrops());
  }

  void LogQueueFull(uint64_t drops) {
    LogWarning(absl::StrCat("webhook ", log_name, ": queue full (",
                            max_queue_events, " events); dropped ", drops,
                            " oldest events since the previous line"));
  }

  // Returns when StartIfDue or LogDrops next has something to do, assuming
  // no new event arrives (a new event that matters wakes the thread).
  SteadyTime NextWake(SteadyTime now, bool stopping) {
    SteadyTime wake = SteadyTime::max();
    if (!endpoint->in_flight()) {
      if (!body.empty()) {
        wake = retry_at;
      } else if (const WebhookQueue::Head head = queue.Peek(); head.size > 0) {
        wake = stopping || head.size >= max_batch_events
                   ? now
                   : head.oldest + max_batch_delay;
      }
    }
    if (queue.untaken_drops() > 0) {
      wake = std::min(wake,
                      std::max(now, log_throttle.NextAllowed(kQueueFullLog)));
    }
    return wake;
  }

  // Returns how far this URL is done (WebhookDispatcher::DoneThrough),
  // given that every event up to `offered` was offered: below the oldest
  // event queued or being delivered. The queue is read before the batch,
  // which StartIfDue publishes before popping, so an event moving from one
  // to the other is never missed.
  uint64_t DoneThrough(uint64_t offered) const {
    uint64_t done = std::min(offered, abandoned_through.load());
    if (const uint64_t queued = queue.Peek().oldest_position; queued != 0) {
      done = std::min(done, queued - 1);
    }
    if (const uint64_t batch = batch_first.load(); batch != 0) {
      done = std::min(done, batch - 1);
    }
    return done;
  }

  bool Idle() const {
    return !endpoint->in_flight() && body.empty() && queue.size() == 0;
  }

  // At the end of delivery: fails the batch in flight or waiting for a
  // retry, drops what is queued, closes the queue and logs what the
  // rate limits held back.
  void Abandon() {
    // What is abandoned here is not done: DoneThrough stays below it.
    abandoned_through.store(DoneThrough(std::numeric_limits<uint64_t>::max()));
    endpoint->Abort();
    const uint64_t not_sent = batch_events;
    counters.AddFailed(batch_events);
    ClearBatch();
    const uint64_t not_queued = queue.Close();
    counters.AddDropped(not_queued);
    // Nothing is pushed after Close(), so these are the last drops.
    if (const uint64_t overflowed = queue.TakeDrops(); overflowed > 0) {
      LogQueueFull(overflowed);
    }
    if (const uint64_t unlogged = log_throttle.TakeHeldBack(kBatchFailedLog);
        unlogged > 0) {
      LogError(absl::StrCat("webhook ", log_name, ": ", unlogged,
                            " more batches failed since the previous line"));
    }
    if (not_sent + not_queued > 0) {
      LogError(absl::StrCat("webhook ", log_name,
                            ": stopped at the shutdown deadline; ", not_sent,
                            " events of the batch being sent failed, ",
                            not_queued, " queued events dropped"));
    }
  }

  const size_t max_batch_events;
  const SteadyClock::duration max_batch_delay;
  const size_t max_queue_events;
  const WebhookRetryPolicy retry_policy;
  const std::string log_name;  // The URL without credentials or query.

  // Shared with OnEvent() and stats(); thread-safe.
  WebhookQueue queue;
  WebhookCounters counters;

  // The delivery_position of the batch's first event (0: no batch, or no
  // positions); written by the delivery thread, read by DoneThrough.
  std::atomic<uint64_t> batch_first{0};
  // Set when delivery ends: events after it were abandoned, not done.
  std::atomic<uint64_t> abandoned_through{std::numeric_limits<uint64_t>::max()};

  // The delivery thread's.
  const std::unique_ptr<WebhookEndpoint> endpoint;
  LogThrottle log_throttle{kLogInterval};
  std::string body;  // The batch being delivered; empty when none.
  size_t batch_events = 0;
  int attempts = 0;     // Of the current batch, so far.
  SteadyTime retry_at;  // When the current batch goes again, if not in flight.
  absl::BitGen rng;     // For the backoff's jitter.
};

absl::StatusOr<std::unique_ptr<WebhookDispatcher>> WebhookDispatcher::Create(
    WebhookOptions options, const Clock* clock) {
  if (absl::Status status = WebhookTransport::GlobalInit(); !status.ok()) {
    return status;
  }
  if (absl::Status status = ValidateWebhookOptions(options); !status.ok()) {
    return status;
  }
  absl::StatusOr<std::unique_ptr<WebhookTransport>> transport =
      WebhookTransport::Create();
  if (!transport.ok()) return transport.status();
  // Destroyed before `transport` if this returns early.
  std::vector<std::unique_ptr<Target>> targets;
  targets.reserve(options.urls.size());
  for (const std::string& url : options.urls) {
    absl::StatusOr<std::unique_ptr<WebhookEndpoint>> endpoint =
        WebhookEndpoint::Create(transport->get(), url, options.secret,
                                options.request_timeout, clock);
    if (!endpoint.ok()) return endpoint.status();
    targets.push_back(std::make_unique<Target>(options, *std::move(endpoint)));
  }
  std::unique_ptr<WebhookDispatcher> dispatcher(new WebhookDispatcher(
      std::move(options), *std::move(transport), std::move(targets)));
  {
    MutexLock lock(&dispatcher->shutdown_mu_);
    dispatcher->thread_ = std::thread([d = dispatcher.get()] { d->Run(); });
  }
  return dispatcher;
}

WebhookDispatcher::WebhookDispatcher(
    WebhookOptions options, std::unique_ptr<WebhookTransport> transport,
    std::vector<std::unique_ptr<Target>> targets)
    : options_(std::move(options)),
      action_mask_(ActionMask(options_.actions)),
      transport_(std::move(transport)),
      targets_(std::move(targets)) {}

WebhookDispatcher::~WebhookDispatcher() { Shutdown(absl::ZeroDuration()); }

absl::StatusOr<std::vector<EventType>> WebhookDispatcher::ParseActions(
    absl::string_view csv) {
  std::vector<EventType> actions;
  if (absl::StripAsciiWhitespace(csv).empty()) return actions;
  uint32_t seen = 0;
  for (absl::string_view name : absl::StrSplit(csv, ',')) {
    name = absl::StripAsciiWhitespace(name);
    const EventType* found = nullptr;
    for (const EventType& type : kAllEventTypes) {
      if (EventTypeName(type) == name) found = &type;
    }
    if (found == nullptr) {
      std::vector<absl::string_view> known;
      for (EventType type : kAllEventTypes) {
        known.push_back(EventTypeName(type));
      }
      return absl::InvalidArgumentError(
          absl::StrCat("webhook actions: unknown action \"", name,
                       "\"; expected ", absl::StrJoin(known, ", ")));
    }
    if ((seen & Bit(*found)) == 0) actions.push_back(*found);
    seen |= Bit(*found);
  }
  return actions;
}

void WebhookDispatcher::OnEvent(const PresenceEvent& event) {
  if (!accepting_.load(std::memory_order_acquire)) return;
  if ((action_mask_ & Bit(event.type)) == 0) {
    // Filtered out: done at once.
    if (event.delivery_position != 0) {
      offered_through_.store(event.delivery_position);
    }
    return;
  }
  const auto json = std::make_shared<const std::string>(EncodeEventJson(event));
  const SteadyTime now = SteadyClock::now();
  bool wake = false;
  for (const auto& target : targets_) {
    const WebhookQueue::PushResult pushed =
        target->queue.Push(json, now, event.delivery_position);
    if (!pushed.queued) continue;
    if (pushed.dropped_oldest) {
      target->counters.AddDropped(1);
      // The first drop since the last line about drops: one is due.
      if (pushed.untaken_drops == 1) wake = true;
    }
    // The delivery thread cares when a batch delay starts and when a batch
    // is full; in between, it already knows when to look again.
    if (pushed.size == 1 || pushed.size == options_.max_batch_events) {
      wake = true;
    }
  }
  if (event.delivery_position != 0) {
    offered_through_.store(event.delivery_position);
  }
  if (wake) Wake();
}

uint64_t WebhookDispatcher::DoneThrough() const {
  uint64_t done = offered_through_.load();
  for (const auto& target : targets_) {
    done = std::min(done, target->DoneThrough(done));
  }
  return done;
}

void WebhookDispatcher::Wake() {
  if (!wake_pending_.exchange(true)) transport_->Wakeup();
}

void WebhookDispatcher::Shutdown(absl::Duration deadline) {
  MutexLock lock(&shutdown_mu_);
  accepting_.store(false);
  if (!thread_.joinable()) return;
  {
    MutexLock stop_lock(&stop_mu_);
    drain_deadline_ = SteadyClock::now() + ToSteady(deadline);
    stopping_ = true;
  }
  Wake();
  thread_.join();
}

WebhookDispatcher::Stats WebhookDispatcher::stats() const {
  WebhookCounters::Totals totals;
  Stats stats;
  for (const auto& target : targets_) {
    totals += target->counters.Load();
    stats.queued_events += target->queue.size();
  }
  stats.delivered_events = totals.delivered_events;
  stats.dropped_events = totals.dropped_events;
  stats.failed_events = totals.failed_events;
  stats.retries = totals.retries;
  stats.batches = totals.batches;
  return stats;
}

WebhookDispatcher::Target& WebhookDispatcher::TargetOf(
    const WebhookEndpoint* endpoint) const {
  // A linear search: there are few URLs, and it runs once per request.
  for (const auto& target : targets_) {
    if (target->endpoint.get() == endpoint) return *target;
  }
  std::abort();  // Every endpoint of the transport belongs to a target.
}

void WebhookDispatcher::Run() {
  while (true) {
    // Cleared before looking at the queues: an event queued after this
    // point wakes the poll below.
    wake_pending_.store(false);
    SteadyTime now = SteadyClock::now();
    bool stopping = false;
    SteadyTime deadline = SteadyTime::max();
    {
      MutexLock lock(&stop_mu_);
      stopping = stopping_;
      if (stopping_) deadline = drain_deadline_;
    }
    if (now >= deadline) break;
    for (const auto& target : targets_) {
      target->StartIfDue(now, stopping, deadline);
    }
    transport_->Perform();
    bool finished_any = false;
    while (std::optional<WebhookTransport::Finished> finished =
               transport_->NextFinished()) {
      TargetOf(finished->endpoint)
          .Finish(finished->outcome, SteadyClock::now());
      finished_any = true;
    }
    now = SteadyClock::now();
    bool idle = true;
    for (const auto& target : targets_) {
      target->LogDrops(now);
      idle = idle && target->Idle();
    }
    if (stopping && idle) break;
    // A finished request may make the next batch due at once.
    if (finished_any) continue;
    SteadyTime wake = std::min(deadline, now + kMaxPollInterval);
    for (const auto& target : targets_) {
      wake = std::min(wake, target->NextWake(now, stopping));
    }
    // Rounded up, so that the poll does not return just before `wake`.
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(
        std::max(wake - now, SteadyClock::duration::zero()));
    if (wait.count() > 0) transport_->Poll(wait);
  }
  for (const auto& target : targets_) target->Abandon();
}

}  // namespace presence
