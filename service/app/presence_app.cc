#include "service/app/presence_app.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "service/logging/logging.h"

namespace presence {
namespace {

absl::Status FlagError(absl::string_view flag, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", message));
}

absl::Status ValidateLimits(const Limits& limits) {
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

}  // namespace

absl::Status ValidatePresenceAppOptions(const PresenceAppOptions& options) {
  if (absl::Status status = ValidateLimits(options.limits); !status.ok()) {
    return status;
  }
  if (options.store == PresenceAppOptions::Store::kRedis &&
      (options.redis.shards < 1 || options.redis.shards > 1024)) {
    return absl::InvalidArgumentError("--redis_shards must be in [1, 1024]");
  }
  if (options.expiry_interval < absl::ZeroDuration()) {
    return FlagError("expiry_interval", "must not be negative");
  }
  if (options.readiness_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("readiness_interval: must be positive");
  }
  if (options.clock == nullptr) {
    return absl::InvalidArgumentError("clock: must not be null");
  }
  return absl::OkStatus();
}

PresenceApp::PresenceApp(PresenceAppOptions options)
    : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<PresenceApp>> PresenceApp::Start(
    PresenceAppOptions options) {
  if (absl::Status status = ValidatePresenceAppOptions(options); !status.ok()) {
    return status;
  }
  std::unique_ptr<PresenceApp> app(new PresenceApp(std::move(options)));
  if (absl::Status status = app->Init(); !status.ok()) return status;
  return app;
}

absl::Status PresenceApp::Init() {
  if (!options_.webhooks.urls.empty()) {
    absl::StatusOr<std::unique_ptr<WebhookDispatcher>> webhooks =
        WebhookDispatcher::Create(options_.webhooks);
    if (!webhooks.ok()) return webhooks.status();
    webhooks_ = *std::move(webhooks);
  }

  if (options_.store == PresenceAppOptions::Store::kMemory) {
    MemoryStoreOptions memory = options_.memory;
    memory.limits = options_.limits;
    memory.events = options_.events;
    store_ = NewMemoryStore(memory, options_.clock);
  } else {
    RedisStoreOptions redis = options_.redis;
    redis.limits = options_.limits;
    redis.events = options_.events;
    absl::StatusOr<std::unique_ptr<PresenceStore>> store =
        NewRedisStore(redis, options_.clock);
    if (!store.ok()) return store.status();
    store_ = *std::move(store);
  }
  presence_ = std::make_unique<Presence>(store_.get(), options_.limits);

  store_->AddListener(&fanout_);
  store_->AddListener(&event_counter_);
  // With several replicas on one store, one of them sends each webhook.
  if (webhooks_ != nullptr) store_->AddExclusiveListener(webhooks_.get());
  listening_ = true;

  if (options_.expiry_interval > absl::ZeroDuration()) {
    expirer_.emplace([this] { return store_->ExpireSessions(); },
                     options_.expiry_interval);
  }

  // Metrics first, so their address is logged before the server is up.
  RegisterMetrics();
  if (!options_.metrics_address.empty()) {
    absl::StatusOr<std::unique_ptr<MetricsHttpServer>> started =
        MetricsHttpServer::Start(options_.metrics_address, &metrics_);
    if (!started.ok()) return started.status();
    metrics_server_ = *std::move(started);
    const std::string& address = options_.metrics_address;
    LogInfo(absl::StrCat("metrics on http://",
                         address.substr(0, address.rfind(':')), ":",
                         metrics_server_->port(), "/metrics"));
  }

  absl::StatusOr<std::unique_ptr<PresenceServer>> server =
      PresenceServer::Start(options_.grpc, presence_.get(), &fanout_);
  if (!server.ok()) return server.status();
  grpc_server_ = *std::move(server);
  LogInfo(absl::StrCat(
      "presence_server listening on ", grpc_server_->address(), " (store: ",
      options_.store == PresenceAppOptions::Store::kMemory ? "memory" : "redis",
      ")"));

  // Readiness follows the store: NOT_SERVING while its backend is down.
  readiness_.emplace(
      [this] {
        CheckReadiness();
        return absl::OkStatus();
      },
      options_.readiness_interval);
  return absl::OkStatus();
}

void PresenceApp::CheckReadiness() {
  const bool healthy = store_->Healthy();
  if (healthy == serving_) return;
  serving_ = healthy;
  grpc_server_->SetServing(healthy);
  if (healthy) {
    LogInfo("store reachable again; health SERVING");
  } else {
    LogWarning("store unreachable; health NOT_SERVING until it is back");
  }
}

int PresenceApp::metrics_port() const {
  return metrics_server_ == nullptr ? 0 : metrics_server_->port();
}

void PresenceApp::RegisterMetrics() {
  event_counter_.Register(metrics_);
  const absl::Time start = absl::Now();
  metrics_.AddGauge(
      "presence_uptime_seconds", "Seconds since the server started.",
      [start] { return absl::ToDoubleSeconds(absl::Now() - start); });
  metrics_.AddGauge("presence_store_healthy",
                    "1 while the store can serve (its backend is reachable).",
                    [this] { return store_->Healthy() ? 1.0 : 0.0; });
  metrics_.AddGauge("presence_watchers", "Open WatchEvents streams.",
                    [this] { return static_cast<double>(fanout_.size()); });
  metrics_.AddCounter(
      "presence_slow_watchers_total", "Watch streams ended for falling behind.",
      [this] { return static_cast<double>(fanout_.slow_watchers()); });
  if (expirer_.has_value()) {
    metrics_.AddCounter(
        "presence_expiry_sweeps_total", "Timeout sweeps run.",
        [this] { return static_cast<double>(expirer_->runs()); });
    metrics_.AddCounter(
        "presence_expiry_sweep_failures_total",
        "Timeout sweeps that failed (store unreachable).",
        [this] { return static_cast<double>(expirer_->failures()); });
  }
  if (webhooks_ == nullptr) return;
  const WebhookDispatcher* webhooks = webhooks_.get();
  const auto stat = [webhooks](uint64_t WebhookDispatcher::Stats::*field) {
    return [webhooks, field] {
      return static_cast<double>(webhooks->stats().*field);
    };
  };
  metrics_.AddCounter("presence_webhook_delivered_events_total",
                      "Events POSTed successfully.",
                      stat(&WebhookDispatcher::Stats::delivered_events));
  metrics_.AddCounter("presence_webhook_dropped_events_total",
                      "Events dropped because a receiver's queue was full.",
                      stat(&WebhookDispatcher::Stats::dropped_events));
  metrics_.AddCounter("presence_webhook_failed_events_total",
                      "Events given up on (4xx, or retries exhausted).",
                      stat(&WebhookDispatcher::Stats::failed_events));
  metrics_.AddCounter("presence_webhook_retries_total", "Batches sent again.",
                      stat(&WebhookDispatcher::Stats::retries));
  metrics_.AddCounter("presence_webhook_batches_total", "Batches POSTed.",
                      stat(&WebhookDispatcher::Stats::batches));
  metrics_.AddGauge("presence_webhook_queued_events",
                    "Events waiting to be sent.",
                    stat(&WebhookDispatcher::Stats::queued_events));
}

void PresenceApp::Shutdown() {
  MutexLock lock(&shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  const absl::Time drain_deadline = absl::Now() + options_.grpc.shutdown_grace;
  if (readiness_.has_value()) readiness_->Stop();
  metrics_server_.reset();
  if (grpc_server_ != nullptr) grpc_server_->Shutdown();
  if (expirer_.has_value()) expirer_->Stop();
  if (listening_) {
    store_->RemoveListener(&fanout_);
    store_->RemoveListener(&event_counter_);
    if (webhooks_ != nullptr) store_->RemoveExclusiveListener(webhooks_.get());
    listening_ = false;
  }
  if (webhooks_ != nullptr) {
    // What is queued gets what is left of the drain time.
    webhooks_->Shutdown(
        std::max(absl::ZeroDuration(), drain_deadline - absl::Now()));
  }
}

PresenceApp::~PresenceApp() { Shutdown(); }

}  // namespace presence
