#include "service/webhooks/webhook_dispatcher.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <limits>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "service/logging/logging.h"
#include "service/webhooks/webhook_signature.h"

namespace presence {
namespace {

// Scheduling (batch delays, backoffs, the drain deadline) is about real I/O,
// so it follows the monotonic clock, not the injectable presence::Clock.
using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;

// At most one log line per URL and kind (drops, failures) per this interval.
constexpr SteadyClock::duration kLogInterval = std::chrono::seconds(10);

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

absl::Status ValidateUrl(absl::string_view url, size_t index) {
  const auto error = [&](absl::string_view rule) {
    return absl::InvalidArgumentError(absl::StrCat(
        "webhook urls[", index, "]: \"", RedactUrl(url), "\" ", rule));
  };
  if (!absl::StartsWithIgnoreCase(url, "http://") &&
      !absl::StartsWithIgnoreCase(url, "https://")) {
    return error("must start with http:// or https://");
  }
  for (char c : url) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) ||
        absl::ascii_iscntrl(static_cast<unsigned char>(c))) {
      return error("contains whitespace or a control character");
    }
  }
  CURLU* parsed = curl_url();
  if (parsed == nullptr) return absl::ResourceExhaustedError("curl_url()");
  const CURLUcode code =
      curl_url_set(parsed, CURLUPART_URL, std::string(url).c_str(), 0);
  char* host = nullptr;
  const bool has_host =
      code == CURLUE_OK &&
      curl_url_get(parsed, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      host != nullptr && host[0] != '\0';
  curl_free(host);
  curl_url_cleanup(parsed);
  if (code != CURLUE_OK) {
    return error(
        absl::StrCat("is not a valid URL (", curl_url_strerror(code), ")"));
  }
  if (!has_host) return error("has no host");
  return absl::OkStatus();
}

absl::Status ValidateOptions(const WebhookOptions& options) {
  if (options.urls.empty()) {
    return absl::InvalidArgumentError(
        "webhook urls: empty; at least one URL is required");
  }
  for (size_t i = 0; i < options.urls.size(); ++i) {
    if (absl::Status status = ValidateUrl(options.urls[i], i); !status.ok()) {
      return status;
    }
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

size_t DiscardBody(char* /*data*/, size_t size, size_t count, void* /*arg*/) {
  return size * count;
}

// Transport errors that no retry can fix.
bool IsPermanent(CURLcode code) {
  return code == CURLE_UNSUPPORTED_PROTOCOL || code == CURLE_URL_MALFORMAT ||
         code == CURLE_NOT_BUILT_IN;
}

// Returns whether a rate-limited line may be logged at `now`, and if so
// records it in `last` (SteadyTime::min() when never).
bool DueForLog(SteadyTime now, SteadyTime& last) {
  if (last != SteadyTime::min() && now - last < kLogInterval) return false;
  last = now;
  return true;
}

// A JSON event as queued for every URL: encoded once, shared.
struct QueuedEvent {
  std::shared_ptr<const std::string> json;
  SteadyTime enqueued;
};

}  // namespace

std::string EncodeEventJson(const PresenceEvent& event) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  const auto string = [&](absl::string_view s) {
    writer.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  const auto string_array = [&](const char* key,
                                const std::vector<std::string>& values) {
    if (values.empty()) return;
    writer.Key(key);
    writer.StartArray();
    for (const std::string& value : values) string(value);
    writer.EndArray();
  };
  writer.StartObject();
  writer.Key("channel");
  string(event.channel);
  writer.Key("action");
  string(EventTypeName(event.type));
  if (!event.user_id.empty()) {
    writer.Key("user_id");
    string(event.user_id);
  }
  writer.Key("occupancy");
  writer.Uint(event.occupancy);
  writer.Key("timestamp");
  string(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", event.time,
                          absl::UTCTimeZone()));
  writer.Key("timestamp_ms");
  writer.Int64(absl::ToUnixMillis(event.time));
  writer.Key("sequence");
  string(absl::StrCat(event.sequence));
  if (!event.state.empty()) {
    writer.Key("state");
    writer.RawValue(event.state.data(), event.state.size(),
                    rapidjson::kObjectType);
  }
  if (event.type == EventType::kInterval) {
    string_array("join", event.joined);
    string_array("leave", event.left);
    string_array("timeout", event.timed_out);
    if (event.here_now_refresh) {
      writer.Key("here_now_refresh");
      writer.Bool(true);
    }
  }
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

// One URL: its queue (shared with OnEvent), the batch being delivered and
// its counters. Everything not guarded by `mu` belongs to the delivery
// thread.
struct WebhookDispatcher::Target {
  Target(const WebhookOptions& options, const Clock* clock, CURLM* multi,
         std::string url)
      : options(options),
        clock(clock),
        multi(multi),
        url(std::move(url)),
        log_name(RedactUrl(this->url)) {}

  ~Target() {
    if (easy != nullptr) curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
  }

  // Configures the easy handle that every request to this URL reuses (which
  // also reuses its connection). Returns false if curl is out of memory.
  bool Init() {
    easy = curl_easy_init();
    if (easy == nullptr) return false;
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(absl::ToInt64Milliseconds(std::max(
                         options.request_timeout, absl::Milliseconds(1)))));
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "presence-webhook/1");
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &DiscardBody);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, this);
    return true;
  }

  // Starts a request if one is due: the pending retry once its backoff has
  // passed, else a new batch once it is full or old enough (at once when
  // stopping). A retry that could only start after `deadline` is given up.
  void StartIfDue(SteadyTime now, bool stopping, SteadyTime deadline) {
    if (in_flight) return;
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
    std::vector<std::shared_ptr<const std::string>> batch;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (queue.empty()) return;
      const bool due =
          stopping || queue.size() >= options.max_batch_events ||
          now >= queue.front().enqueued + ToSteady(options.max_batch_delay);
      if (!due) return;
      const size_t n = std::min(queue.size(), options.max_batch_events);
      batch.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue.front().json));
        queue.pop_front();
      }
    }
    size_t size = sizeof(R"({"events":[]})") + batch.size();
    for (const auto& json : batch) size += json->size();
    body.reserve(size);
    body = R"({"events":[)";
    for (size_t i = 0; i < batch.size(); ++i) {
      if (i > 0) body += ',';
      body += *batch[i];
    }
    body += "]}";
    batch_events = batch.size();
    attempts = 0;
    Send();
  }

  void Send() {
    curl_slist_free_all(headers);
    headers = nullptr;
    const int64_t unix_seconds = absl::ToUnixSeconds(clock->Now());
    for (const std::string& header :
         {std::string("Content-Type: application/json"),
          absl::StrCat(kWebhookSignatureHeader, ": ",
                       SignWebhook(options.secret, unix_seconds, body)),
          // No "Expect: 100-continue" round trip for large batches.
          std::string("Expect:")}) {
      headers = curl_slist_append(headers, header.c_str());
    }
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(body.size()));
    error[0] = '\0';
    ++attempts;
    if (attempts > 1) retries.fetch_add(1, std::memory_order_relaxed);
    if (headers == nullptr || curl_multi_add_handle(multi, easy) != CURLM_OK) {
      // Out of memory: treat like a failed attempt, so it backs off.
      in_flight = true;
      Finish(CURLE_OUT_OF_MEMORY, SteadyClock::now());
      return;
    }
    in_flight = true;
  }

  // Handles the end of the request in flight (already removed from the
  // multi handle).
  void Finish(CURLcode result, SteadyTime now) {
    in_flight = false;
    long status = 0;
    if (result == CURLE_OK) {
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
      if (status >= 200 && status < 300) {
        delivered.fetch_add(batch_events, std::memory_order_relaxed);
        batches.fetch_add(1, std::memory_order_relaxed);
        ClearBatch();
        return;
      }
    }
    const std::string outcome =
        result != CURLE_OK
            ? absl::StrCat(curl_easy_strerror(result),
                           error[0] != '\0' ? absl::StrCat(": ", error) : "")
            : absl::StrCat("HTTP ", status);
    const bool retryable = result != CURLE_OK ? !IsPermanent(result)
                                              : status >= 500 || status == 429;
    if (!retryable) {
      GiveUp(now, absl::StrCat("rejected (", outcome, "; not retried)"));
      return;
    }
    if (attempts >= options.max_attempts) {
      GiveUp(now, absl::StrCat("not delivered after ", attempts,
                               " attempts (last: ", outcome, ")"));
      return;
    }
    retry_at = now + Backoff(status);
  }

  // Returns the wait before the next attempt: full jitter over an
  // exponentially growing cap, but not less than the receiver's Retry-After.
  SteadyClock::duration Backoff(long status) {
    absl::Duration cap = options.initial_backoff;
    for (int i = 1; i < attempts && cap < options.max_backoff; ++i) cap *= 2;
    cap = std::min(cap, options.max_backoff);
    absl::Duration wait = absl::Nanoseconds(absl::Uniform<int64_t>(
        absl::IntervalClosed, rng, 0, absl::ToInt64Nanoseconds(cap)));
    curl_off_t retry_after = 0;
    if ((status == 429 || status == 503) &&
        curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &retry_after) ==
            CURLE_OK &&
        retry_after > 0) {
      wait = std::max(
          wait, std::min(absl::Seconds(retry_after), options.max_backoff));
    }
    return ToSteady(wait);
  }

  void GiveUp(SteadyTime now, absl::string_view why) {
    failed.fetch_add(batch_events, std::memory_order_relaxed);
    const size_t events = batch_events;
    ClearBatch();
    if (!DueForLog(now, last_failure_log)) {
      ++unlogged_failures;
      return;
    }
    LogError(absl::StrCat(
        "webhook ", log_name, ": a batch of ", events, " events was ", why,
        unlogged_failures > 0
            ? absl::StrCat("; ", unlogged_failures,
                           " more batches failed since the previous line")
            : ""));
    unlogged_failures = 0;
  }

  void ClearBatch() {
    body.clear();
    // Large batches should not pin their memory while the queue is idle.
    if (body.capacity() > (size_t{1} << 20)) body.shrink_to_fit();
    batch_events = 0;
    attempts = 0;
  }

  // Logs the drops since the previous line, at most once per kLogInterval.
  void LogDrops(SteadyTime now) {
    uint64_t drops = 0;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (unlogged_drops == 0 || !DueForLog(now, last_drop_log)) return;
      drops = unlogged_drops;
      unlogged_drops = 0;
    }
    LogWarning(absl::StrCat("webhook ", log_name, ": queue full (",
                            options.max_queue_events, " events); dropped ",
                            drops, " oldest events since the previous line"));
  }

  // Returns when StartIfDue or LogDrops next has something to do, assuming
  // no new event arrives (a new event that matters wakes the thread).
  SteadyTime NextWake(SteadyTime now, bool stopping) {
    SteadyTime wake = SteadyTime::max();
    std::lock_guard<std::mutex> lock(mu);
    if (!in_flight) {
      if (!body.empty()) {
        wake = retry_at;
      } else if (!queue.empty()) {
        wake = stopping || queue.size() >= options.max_batch_events
                   ? now
                   : queue.front().enqueued + ToSteady(options.max_batch_delay);
      }
    }
    if (unlogged_drops > 0) {
      wake = std::min(wake, last_drop_log == SteadyTime::min()
                                ? now
                                : last_drop_log + kLogInterval);
    }
    return wake;
  }

  bool Idle() {
    if (in_flight || !body.empty()) return false;
    std::lock_guard<std::mutex> lock(mu);
    return queue.empty();
  }

  // At the end of delivery: fails the batch in flight or waiting for a
  // retry, drops what is queued, closes the queue and logs what the
  // rate limits held back.
  void Abandon() {
    if (in_flight) {
      curl_multi_remove_handle(multi, easy);
      in_flight = false;
    }
    const uint64_t not_sent = batch_events;
    failed.fetch_add(batch_events, std::memory_order_relaxed);
    ClearBatch();
    uint64_t not_queued = 0;
    uint64_t overflowed = 0;
    {
      std::lock_guard<std::mutex> lock(mu);
      closed = true;
      not_queued = queue.size();
      queue.clear();
      queue.shrink_to_fit();
      dropped.fetch_add(not_queued, std::memory_order_relaxed);
      overflowed = unlogged_drops;
      unlogged_drops = 0;
    }
    if (overflowed > 0) {
      LogWarning(absl::StrCat("webhook ", log_name, ": queue full (",
                              options.max_queue_events, " events); dropped ",
                              overflowed,
                              " oldest events since the previous line"));
    }
    if (unlogged_failures > 0) {
      LogError(absl::StrCat("webhook ", log_name, ": ", unlogged_failures,
                            " more batches failed since the previous line"));
      unlogged_failures = 0;
    }
    if (not_sent + not_queued > 0) {
      LogError(absl::StrCat("webhook ", log_name,
                            ": stopped at the shutdown deadline; ", not_sent,
                            " events of the batch being sent failed, ",
                            not_queued, " queued events dropped"));
    }
  }

  const WebhookOptions& options;
  const Clock* const clock;
  CURLM* const multi;
  const std::string url;
  const std::string log_name;  // `url` without credentials or query.

  std::mutex mu;
  std::deque<QueuedEvent> queue;  // Guarded by mu.
  uint64_t unlogged_drops = 0;    // Guarded by mu.
  bool closed = false;            // Guarded by mu. No more events.

  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  char error[CURL_ERROR_SIZE] = {};
  std::string body;  // The batch being delivered; empty when none.
  size_t batch_events = 0;
  int attempts = 0;  // Of the current batch, so far.
  bool in_flight = false;
  SteadyTime retry_at;  // When the current batch goes again, if not in flight.
  SteadyTime last_drop_log = SteadyTime::min();  // See DueForLog().
  SteadyTime last_failure_log = SteadyTime::min();
  uint64_t unlogged_failures = 0;
  absl::BitGen rng;

  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> dropped{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> batches{0};
};

absl::StatusOr<std::unique_ptr<WebhookDispatcher>> WebhookDispatcher::Create(
    WebhookOptions options, const Clock* clock) {
  // Thread-safe since curl 7.84; once is enough for the process.
  static const CURLcode global_init = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (global_init != CURLE_OK) {
    return absl::InternalError(
        absl::StrCat("curl_global_init: ", curl_easy_strerror(global_init)));
  }
  if (absl::Status status = ValidateOptions(options); !status.ok()) {
    return status;
  }
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) return absl::ResourceExhaustedError("curl_multi_init");
  std::unique_ptr<WebhookDispatcher> dispatcher(
      new WebhookDispatcher(std::move(options), clock, multi));
  for (const auto& target : dispatcher->targets_) {
    if (!target->Init()) return absl::ResourceExhaustedError("curl_easy_init");
  }
  dispatcher->thread_ = std::thread([d = dispatcher.get()] { d->Run(); });
  return dispatcher;
}

WebhookDispatcher::WebhookDispatcher(WebhookOptions options, const Clock* clock,
                                     void* multi)
    : options_(std::move(options)),
      clock_(clock),
      action_mask_(ActionMask(options_.actions)),
      multi_(multi) {
  targets_.reserve(options_.urls.size());
  for (const std::string& url : options_.urls) {
    targets_.push_back(std::make_unique<Target>(
        options_, clock_, static_cast<CURLM*>(multi_), url));
  }
}

WebhookDispatcher::~WebhookDispatcher() {
  Shutdown(absl::ZeroDuration());
  targets_.clear();  // Easy handles go before the multi handle.
  curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

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
  if ((action_mask_ & Bit(event.type)) == 0) return;
  if (!accepting_.load(std::memory_order_acquire)) return;
  const auto json = std::make_shared<const std::string>(EncodeEventJson(event));
  const SteadyTime now = SteadyClock::now();
  bool wake = false;
  for (const auto& target : targets_) {
    std::lock_guard<std::mutex> lock(target->mu);
    if (target->closed) continue;
    if (target->queue.size() >= options_.max_queue_events) {
      target->queue.pop_front();
      target->dropped.fetch_add(1, std::memory_order_relaxed);
      if (target->unlogged_drops++ == 0) wake = true;
    }
    target->queue.push_back({json, now});
    // The delivery thread cares when a batch delay starts and when a batch
    // is full; in between, it already knows when to look again.
    const size_t size = target->queue.size();
    if (size == 1 || size == options_.max_batch_events) wake = true;
  }
  if (wake) Wake();
}

void WebhookDispatcher::Wake() {
  // curl_multi_wakeup() is a non-blocking write to a socketpair that the
  // delivery thread polls.
  if (!wake_pending_.exchange(true)) {
    curl_multi_wakeup(static_cast<CURLM*>(multi_));
  }
}

void WebhookDispatcher::Shutdown(absl::Duration deadline) {
  std::lock_guard<std::mutex> lock(shutdown_mu_);
  accepting_.store(false);
  if (!thread_.joinable()) return;
  const SteadyTime drain_deadline = SteadyClock::now() + ToSteady(deadline);
  drain_deadline_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                               drain_deadline.time_since_epoch())
                               .count());
  stopping_.store(true);
  Wake();
  thread_.join();
}

WebhookDispatcher::Stats WebhookDispatcher::stats() const {
  Stats stats;
  for (const auto& target : targets_) {
    stats.delivered_events += target->delivered.load(std::memory_order_relaxed);
    stats.dropped_events += target->dropped.load(std::memory_order_relaxed);
    stats.failed_events += target->failed.load(std::memory_order_relaxed);
    stats.retries += target->retries.load(std::memory_order_relaxed);
    stats.batches += target->batches.load(std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(target->mu);
    stats.queued_events += target->queue.size();
  }
  return stats;
}

void WebhookDispatcher::Run() {
  CURLM* const multi = static_cast<CURLM*>(multi_);
  while (true) {
    // Cleared before looking at the queues: an event queued after this
    // point wakes the poll below.
    wake_pending_.store(false);
    SteadyTime now = SteadyClock::now();
    const bool stopping = stopping_.load();
    const SteadyTime deadline =
        stopping ? SteadyTime(std::chrono::duration_cast<SteadyClock::duration>(
                       std::chrono::nanoseconds(drain_deadline_ns_.load())))
                 : SteadyTime::max();
    if (now >= deadline) break;
    for (const auto& target : targets_) {
      target->StartIfDue(now, stopping, deadline);
    }
    int running = 0;
    curl_multi_perform(multi, &running);
    bool finished_any = false;
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &left)) {
      if (message->msg != CURLMSG_DONE) continue;
      CURL* easy = message->easy_handle;
      const CURLcode result = message->data.result;
      char* target = nullptr;
      curl_easy_getinfo(easy, CURLINFO_PRIVATE, &target);
      // `message` is invalid from here on.
      curl_multi_remove_handle(multi, easy);
      reinterpret_cast<Target*>(target)->Finish(result, SteadyClock::now());
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
    if (wait.count() > 0) {
      curl_multi_poll(multi, nullptr, 0, static_cast<int>(wait.count()),
                      nullptr);
    }
  }
  for (const auto& target : targets_) target->Abandon();
}

}  // namespace presence
