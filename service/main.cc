// presence_server: the presence service's gRPC server.
//
//   bazel run //service:presence_server -- --listen_address=0.0.0.0:50051
//
// Flags are read here only and copied into options structs. SIGTERM or
// SIGINT drains: health NOT_SERVING, in-flight calls get --shutdown_grace,
// then the process exits 0.
#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "presence/base/ticker.h"
#include "presence/clock.h"
#include "presence/event.h"
#include "presence/limits.h"
#include "presence/presence.h"
#include "presence/store/memory/memory_store.h"
#include "presence/store/redis/redis_store.h"
#include "service/fanout/watch_hub.h"
#include "service/grpc/server.h"
#include "service/logging/logging.h"
#include "service/metrics/metrics.h"
#include "service/webhooks/webhook_dispatcher.h"

ABSL_FLAG(std::string, listen_address, "127.0.0.1:50051",
          "host:port to serve gRPC on; port 0 picks a free port");
ABSL_FLAG(std::string, store, "memory",
          "Presence store: memory (embedded, one replica) or redis (shared by "
          "several replicas)");
ABSL_FLAG(std::string, redis_url, "redis://127.0.0.1:6379",
          "With --store=redis: redis://[:password@]host[:port][/db]");
ABSL_FLAG(absl::Duration, redis_timeout, absl::Seconds(1),
          "With --store=redis: connect and command timeout; RPCs fail with "
          "UNAVAILABLE after it while Redis is unreachable");
ABSL_FLAG(int32_t, redis_pool_size, 8, "With --store=redis: connections");
ABSL_FLAG(std::string, redis_key_prefix, "presence",
          "With --store=redis: prefix of every key (several deployments may "
          "share a Redis)");
ABSL_FLAG(int32_t, redis_shards, 16,
          "With --store=redis: key-space shards (one cluster slot each); "
          "every replica must use the same value");
ABSL_FLAG(int32_t, redis_stream_max_len, 10000,
          "With --store=redis: approximate length cap of each event stream");
ABSL_FLAG(uint32_t, default_timeout_seconds, 300,
          "Presence timeout of a heartbeat that asks for 0");
ABSL_FLAG(uint32_t, min_timeout_seconds, 20,
          "Smallest timeout a heartbeat may ask for");
ABSL_FLAG(uint32_t, max_timeout_seconds, 3600,
          "Largest timeout a heartbeat may ask for");
ABSL_FLAG(uint32_t, max_channels_per_request, 1000,
          "Channels one request may name");
ABSL_FLAG(uint32_t, max_groups_per_request, 10,
          "Channel groups one request may name");
ABSL_FLAG(uint32_t, max_channels_per_group, 2000,
          "Channels one group may hold");
ABSL_FLAG(uint32_t, max_state_bytes, 32 * 1024,
          "Largest state, as compact JSON");
ABSL_FLAG(uint32_t, max_state_depth, 16, "Deepest nesting of a state");
ABSL_FLAG(uint32_t, max_name_chars, 92,
          "Longest user id, session id, channel or group");
ABSL_FLAG(int32_t, max_receive_message_bytes, 4 * 1024 * 1024,
          "Largest request accepted (gRPC max receive message size)");
ABSL_FLAG(absl::Duration, keepalive_time, absl::Seconds(30),
          "Interval of server keepalive pings");
ABSL_FLAG(absl::Duration, keepalive_timeout, absl::Seconds(10),
          "How long a keepalive ping may go unanswered");
ABSL_FLAG(absl::Duration, max_connection_age, absl::Minutes(5),
          "Connections are closed gracefully after this age (load balancing)");
ABSL_FLAG(absl::Duration, max_connection_age_grace, absl::Seconds(30),
          "Time in-flight calls get when a connection ages out");
ABSL_FLAG(absl::Duration, max_connection_idle, absl::Minutes(10),
          "Idle connections are closed after this long");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "On SIGTERM, how long in-flight calls get before they are cancelled");
ABSL_FLAG(absl::Duration, expiry_interval, absl::Milliseconds(10),
          "How often timed-out sessions are swept");
ABSL_FLAG(uint32_t, announce_max, 20,
          "Above this many occupants, a channel's joins, leaves and timeouts "
          "are replaced by periodic interval events");
ABSL_FLAG(absl::Duration, presence_interval, absl::Seconds(10),
          "Period of interval events");
ABSL_FLAG(uint32_t, interval_lists_max_bytes, 30 * 1024,
          "Largest join/leave/timeout lists of an interval event; beyond, "
          "here_now_refresh is sent instead");
ABSL_FLAG(std::vector<std::string>, webhook_url, {},
          "POST every event to this URL; repeat the flag (or separate with "
          "commas) for several receivers");
ABSL_FLAG(std::string, webhook_secret, "",
          "HMAC-SHA256 key of the X-Presence-Signature header (default: the "
          "PRESENCE_WEBHOOK_SECRET environment variable)");
ABSL_FLAG(std::string, webhook_actions, "",
          "Comma-separated actions to send (join, leave, timeout, "
          "state-change, interval, active, inactive); empty sends all");
ABSL_FLAG(uint32_t, webhook_batch_events, 100, "Most events in one POST");
ABSL_FLAG(absl::Duration, webhook_batch_delay, absl::Milliseconds(200),
          "Longest an event waits for its batch to fill");
ABSL_FLAG(uint32_t, webhook_queue_events, 100000,
          "Events queued per URL; beyond, the oldest are dropped and counted");
ABSL_FLAG(absl::Duration, webhook_timeout, absl::Seconds(5),
          "Timeout of one POST");
ABSL_FLAG(int32_t, webhook_max_attempts, 10,
          "Attempts per batch (connection errors, timeouts, 5xx and 429 are "
          "retried with exponential backoff)");
ABSL_FLAG(std::string, metrics_address, "",
          "host:port serving Prometheus metrics at /metrics (empty: off; "
          "port 0 picks a free port, logged)");
ABSL_FLAG(uint32_t, watch_buffer_events, 4096,
          "Events a WatchEvents stream may have waiting before it is ended "
          "with RESOURCE_EXHAUSTED");

namespace presence {
namespace {

Limits LimitsFromFlags() {
  Limits limits;
  limits.default_timeout_seconds = absl::GetFlag(FLAGS_default_timeout_seconds);
  limits.min_timeout_seconds = absl::GetFlag(FLAGS_min_timeout_seconds);
  limits.max_timeout_seconds = absl::GetFlag(FLAGS_max_timeout_seconds);
  limits.max_channels_per_request =
      absl::GetFlag(FLAGS_max_channels_per_request);
  limits.max_groups_per_request = absl::GetFlag(FLAGS_max_groups_per_request);
  limits.max_channels_per_group = absl::GetFlag(FLAGS_max_channels_per_group);
  limits.max_state_bytes = absl::GetFlag(FLAGS_max_state_bytes);
  limits.max_state_depth = absl::GetFlag(FLAGS_max_state_depth);
  limits.max_name_chars = absl::GetFlag(FLAGS_max_name_chars);
  return limits;
}

PresenceServerOptions ServerOptionsFromFlags() {
  PresenceServerOptions options;
  options.listen_address = absl::GetFlag(FLAGS_listen_address);
  options.max_receive_message_bytes =
      absl::GetFlag(FLAGS_max_receive_message_bytes);
  options.keepalive_time = absl::GetFlag(FLAGS_keepalive_time);
  options.keepalive_timeout = absl::GetFlag(FLAGS_keepalive_timeout);
  options.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  options.max_connection_age_grace =
      absl::GetFlag(FLAGS_max_connection_age_grace);
  options.max_connection_idle = absl::GetFlag(FLAGS_max_connection_idle);
  options.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  options.watch_buffer_events = absl::GetFlag(FLAGS_watch_buffer_events);
  return options;
}

// --webhook_url may be given several times; absl keeps only the last value of
// a flag, so the occurrences are merged into one comma-separated value first.
std::vector<char*> MergeRepeatedWebhookUrls(int argc, char** argv,
                                            std::string* merged) {
  std::vector<char*> args;
  std::vector<std::string> urls;
  for (int i = 0; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (absl::ConsumePrefix(&arg, "--webhook_url=")) {
      urls.emplace_back(arg);
    } else if (arg == "--webhook_url" && i + 1 < argc) {
      urls.emplace_back(argv[++i]);
    } else {
      args.push_back(argv[i]);
    }
  }
  if (!urls.empty()) {
    *merged = absl::StrCat("--webhook_url=", absl::StrJoin(urls, ","));
    args.push_back(merged->data());
  }
  return args;
}

absl::StatusOr<std::unique_ptr<WebhookDispatcher>> WebhooksFromFlags() {
  WebhookOptions options;
  options.urls = absl::GetFlag(FLAGS_webhook_url);
  if (options.urls.empty()) return nullptr;
  options.secret = absl::GetFlag(FLAGS_webhook_secret);
  if (options.secret.empty()) {
    if (const char* secret = std::getenv("PRESENCE_WEBHOOK_SECRET")) {
      options.secret = secret;
    }
  }
  absl::StatusOr<std::vector<EventType>> actions =
      WebhookDispatcher::ParseActions(absl::GetFlag(FLAGS_webhook_actions));
  if (!actions.ok()) return actions.status();
  options.actions = *std::move(actions);
  options.max_batch_events = absl::GetFlag(FLAGS_webhook_batch_events);
  options.max_batch_delay = absl::GetFlag(FLAGS_webhook_batch_delay);
  options.max_queue_events = absl::GetFlag(FLAGS_webhook_queue_events);
  options.request_timeout = absl::GetFlag(FLAGS_webhook_timeout);
  options.max_attempts = absl::GetFlag(FLAGS_webhook_max_attempts);
  return WebhookDispatcher::Create(std::move(options));
}

EventOptions PipelineOptionsFromFlags();

// Keeps a listener registered with a store for its lifetime, so no return
// path leaves a store calling a destroyed listener.
class ListenerRegistration {
 public:
  ListenerRegistration(PresenceStore* store, EventListener* listener,
                       bool exclusive = false)
      : store_(store), listener_(listener), exclusive_(exclusive) {
    if (exclusive_) {
      store_->AddExclusiveListener(listener_);
    } else {
      store_->AddListener(listener_);
    }
  }
  ~ListenerRegistration() {
    if (exclusive_) {
      store_->RemoveExclusiveListener(listener_);
    } else {
      store_->RemoveListener(listener_);
    }
  }
  ListenerRegistration(const ListenerRegistration&) = delete;
  ListenerRegistration& operator=(const ListenerRegistration&) = delete;

 private:
  PresenceStore* const store_;
  EventListener* const listener_;
  const bool exclusive_;
};

// The server's metrics; `webhooks` may be null.
void RegisterMetrics(MetricsRegistry& metrics, const PresenceStore& store,
                     const WatchHub& hub, const Ticker& expirer,
                     const WebhookDispatcher* webhooks) {
  const absl::Time start = absl::Now();
  metrics.AddGauge(
      "presence_uptime_seconds", "Seconds since the server started.",
      [start] { return absl::ToDoubleSeconds(absl::Now() - start); });
  metrics.AddGauge("presence_store_healthy",
                   "1 while the store can serve (its backend is reachable).",
                   [&store] { return store.Healthy() ? 1.0 : 0.0; });
  metrics.AddGauge("presence_watchers", "Open WatchEvents streams.",
                   [&hub] { return static_cast<double>(hub.size()); });
  metrics.AddCounter(
      "presence_slow_watchers_total", "Watch streams ended for falling behind.",
      [&hub] { return static_cast<double>(hub.slow_watchers()); });
  metrics.AddCounter(
      "presence_expiry_sweeps_total", "Timeout sweeps run.",
      [&expirer] { return static_cast<double>(expirer.runs()); });
  metrics.AddCounter(
      "presence_expiry_sweep_failures_total",
      "Timeout sweeps that failed (store unreachable).",
      [&expirer] { return static_cast<double>(expirer.failures()); });
  if (webhooks == nullptr) return;
  const auto stat = [webhooks](uint64_t WebhookDispatcher::Stats::*field) {
    return [webhooks, field] {
      return static_cast<double>(webhooks->stats().*field);
    };
  };
  metrics.AddCounter("presence_webhook_delivered_events_total",
                     "Events POSTed successfully.",
                     stat(&WebhookDispatcher::Stats::delivered_events));
  metrics.AddCounter("presence_webhook_dropped_events_total",
                     "Events dropped because a receiver's queue was full.",
                     stat(&WebhookDispatcher::Stats::dropped_events));
  metrics.AddCounter("presence_webhook_failed_events_total",
                     "Events given up on (4xx, or retries exhausted).",
                     stat(&WebhookDispatcher::Stats::failed_events));
  metrics.AddCounter("presence_webhook_retries_total", "Batches sent again.",
                     stat(&WebhookDispatcher::Stats::retries));
  metrics.AddCounter("presence_webhook_batches_total", "Batches POSTed.",
                     stat(&WebhookDispatcher::Stats::batches));
  metrics.AddGauge("presence_webhook_queued_events",
                   "Events waiting to be sent.",
                   stat(&WebhookDispatcher::Stats::queued_events));
}

absl::StatusOr<std::unique_ptr<PresenceStore>> NewStoreFromFlags(
    const std::string& kind, const Limits& limits) {
  if (kind == "memory") {
    MemoryStoreOptions options;
    options.limits = limits;
    options.events = PipelineOptionsFromFlags();
    return NewMemoryStore(options, Clock::Real());
  }
  RedisStoreOptions options;
  options.url = absl::GetFlag(FLAGS_redis_url);
  options.limits = limits;
  options.events = PipelineOptionsFromFlags();
  options.key_prefix = absl::GetFlag(FLAGS_redis_key_prefix);
  options.shards = absl::GetFlag(FLAGS_redis_shards);
  options.stream_max_len = absl::GetFlag(FLAGS_redis_stream_max_len);
  options.pool.timeout = absl::GetFlag(FLAGS_redis_timeout);
  options.pool.size = absl::GetFlag(FLAGS_redis_pool_size);
  if (options.shards < 1 || options.shards > 1024) {
    return absl::InvalidArgumentError("--redis_shards must be in [1, 1024]");
  }
  return NewRedisStore(options, Clock::Real());
}

EventOptions PipelineOptionsFromFlags() {
  EventOptions options;
  options.announce_max = absl::GetFlag(FLAGS_announce_max);
  options.interval = absl::GetFlag(FLAGS_presence_interval);
  options.interval_lists_max_bytes =
      absl::GetFlag(FLAGS_interval_lists_max_bytes);
  return options;
}

absl::Status CheckLimits(const Limits& limits) {
  if (limits.min_timeout_seconds == 0 ||
      limits.min_timeout_seconds > limits.max_timeout_seconds ||
      limits.default_timeout_seconds < limits.min_timeout_seconds ||
      limits.default_timeout_seconds > limits.max_timeout_seconds) {
    return absl::InvalidArgumentError(absl::StrCat(
        "need 0 < --min_timeout_seconds <= --default_timeout_seconds <= "
        "--max_timeout_seconds; got ",
        limits.min_timeout_seconds, ", ", limits.default_timeout_seconds, ", ",
        limits.max_timeout_seconds));
  }
  return absl::OkStatus();
}

int Run() {
  const Limits limits = LimitsFromFlags();
  if (absl::Status status = CheckLimits(limits); !status.ok()) {
    LogError(status.message());
    return 2;
  }
  const std::string store_kind = absl::GetFlag(FLAGS_store);
  if (store_kind != "memory" && store_kind != "redis") {
    LogError(absl::StrCat("unknown --store=", store_kind,
                          "; supported: memory, redis"));
    return 2;
  }

  // Block the shutdown signals in every thread (gRPC's included, which
  // inherit the mask); this thread waits for them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // After the mask, so the dispatcher's thread inherits it.
  absl::StatusOr<std::unique_ptr<WebhookDispatcher>> webhooks =
      WebhooksFromFlags();
  if (!webhooks.ok()) {
    LogError(webhooks.status().message());
    return 2;
  }

  absl::StatusOr<std::unique_ptr<PresenceStore>> created =
      NewStoreFromFlags(store_kind, limits);
  if (!created.ok()) {
    LogError(created.status().message());
    return 2;
  }
  std::unique_ptr<PresenceStore> store = *std::move(created);
  Presence presence(store.get(), limits);
  WatchHub hub;
  ListenerRegistration hub_registration(store.get(), &hub);
  // With several replicas on one store, one of them sends each webhook.
  std::optional<ListenerRegistration> webhook_registration;
  if (*webhooks != nullptr) {
    webhook_registration.emplace(store.get(), webhooks->get(),
                                 /*exclusive=*/true);
  }
  Ticker expirer([&store] { return store->ExpireSessions(); },
                 absl::GetFlag(FLAGS_expiry_interval));

  // Metrics first, so their address is logged before the server is up.
  MetricsRegistry metrics;
  EventCounter event_counter;
  ListenerRegistration counter_registration(store.get(), &event_counter);
  event_counter.Register(metrics);
  RegisterMetrics(metrics, *store, hub, expirer, webhooks->get());
  std::unique_ptr<MetricsHttpServer> metrics_server;
  if (const std::string address = absl::GetFlag(FLAGS_metrics_address);
      !address.empty()) {
    absl::StatusOr<std::unique_ptr<MetricsHttpServer>> started =
        MetricsHttpServer::Start(address, &metrics);
    if (!started.ok()) {
      LogError(started.status().message());
      return 1;
    }
    metrics_server = *std::move(started);
    LogInfo(absl::StrCat("metrics on http://",
                         address.substr(0, address.rfind(':')), ":",
                         metrics_server->port(), "/metrics"));
  }

  absl::StatusOr<std::unique_ptr<PresenceServer>> server =
      PresenceServer::Start(ServerOptionsFromFlags(), &presence, &hub);
  if (!server.ok()) {
    LogError(server.status().message());
    return 1;
  }
  LogInfo(absl::StrCat("presence_server listening on ", (*server)->address(),
                       " (store: ", store_kind, ")"));

  // Readiness follows the store: NOT_SERVING while its backend is down.
  bool serving = true;
  Ticker readiness(
      [&] {
        const bool healthy = store->Healthy();
        if (healthy != serving) {
          serving = healthy;
          (*server)->SetServing(healthy);
          if (healthy) {
            LogInfo("store reachable again; health SERVING");
          } else {
            LogWarning(
                "store unreachable; health NOT_SERVING until it is back");
          }
        }
        return absl::OkStatus();
      },
      absl::Milliseconds(250));

  int signal = 0;
  sigwait(&signals, &signal);
  LogInfo(
      absl::StrCat("received ", signal == SIGTERM ? "SIGTERM" : "SIGINT",
                   "; draining for up to ",
                   absl::FormatDuration(absl::GetFlag(FLAGS_shutdown_grace))));
  const absl::Time drain_deadline =
      absl::Now() + absl::GetFlag(FLAGS_shutdown_grace);
  readiness.Stop();
  metrics_server.reset();
  (*server)->Shutdown();
  expirer.Stop();
  if (*webhooks != nullptr) {
    // What is queued gets what is left of the drain time.
    webhook_registration.reset();
    (*webhooks)->Shutdown(
        std::max(absl::ZeroDuration(), drain_deadline - absl::Now()));
  }
  LogInfo("presence_server stopped");
  return 0;
}

}  // namespace
}  // namespace presence

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "The presence service's gRPC server. See README.md for the API.");
  std::string merged_urls;
  std::vector<char*> args =
      presence::MergeRepeatedWebhookUrls(argc, argv, &merged_urls);
  absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  return presence::Run();
}
