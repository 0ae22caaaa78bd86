#include "service/app/presence_app.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "service/logging/logging.h"
#include "service/logging/protobuf_log.h"
#include "service/tls/grpc_server_credentials.h"

namespace presence {
namespace {

// The release, reported by presence_build_info.
constexpr char kVersion[] = "0.9.0";

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
  if (options.store == PresenceAppOptions::Store::kRedis &&
      !options.durable.data_dir.empty()) {
    return absl::InvalidArgumentError(
        "--data_dir is for the embedded store (--store=memory); with "
        "--store=redis, Redis's own persistence keeps presence");
  }
  if (options.durable.snapshot_interval < absl::ZeroDuration()) {
    return FlagError("snapshot_interval", "must not be negative");
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
  if (options.auth.mode == auth::AuthMode::kToken &&
      options.auth.secret_file.empty()) {
    return absl::InvalidArgumentError(
        "--auth=token needs --auth_secret_file (one secret of at least 32 "
        "characters per line)");
  }
  if (options.auth.mode == auth::AuthMode::kNone &&
      !options.auth.secret_file.empty()) {
    return absl::InvalidArgumentError(
        "--auth_secret_file is used only with --auth=token");
  }
  if (absl::Status status = ValidateClientLimitsOptions(options.client_limits);
      !status.ok()) {
    return status;
  }
  if (options.tls.metrics && options.metrics_address.empty()) {
    return absl::InvalidArgumentError("--metrics_tls needs --metrics_address");
  }
  return ValidateTlsOptions(options.tls);
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

absl::Status PresenceApp::OpenDurableStore(const MemoryStoreOptions& memory) {
  DurableStoreOptions durable = options_.durable;
  durable.warn = [](absl::string_view message) { LogWarning(message); };
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<DurableStore>> store =
      NewDurableMemoryStore(memory, durable, options_.clock);
  if (!store.ok()) {
    if (store.status().code() != absl::StatusCode::kDataLoss) {
      return store.status();
    }
    return absl::DataLossError(absl::StrCat(
        store.status().message(),
        "; --data_dir_recover starts from every record that reads intact"));
  }
  LogInfo(absl::StrCat("restored ", (*store)->restored_sessions(),
                       " sessions from ", durable.data_dir, " in ",
                       absl::FormatDuration(absl::Now() - start)),
          {{"data_dir", durable.data_dir},
           {"sessions", absl::StrCat((*store)->restored_sessions())}});
  store_ = *std::move(store);
  return absl::OkStatus();
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
    if (options_.durable.data_dir.empty()) {
      store_ = NewMemoryStore(memory, options_.clock);
    } else if (absl::Status status = OpenDurableStore(memory); !status.ok()) {
      return status;
    }
  } else {
    RedisStoreOptions redis = options_.redis;
    redis.limits = options_.limits;
    redis.events = options_.events;
    redis.on_round_trip = redis_calls_.Observer();
    absl::StatusOr<std::unique_ptr<PresenceStore>> store =
        NewRedisStore(redis, options_.clock);
    if (!store.ok()) return store.status();
    store_ = *std::move(store);
  }
  presence_ = std::make_unique<Presence>(store_.get(), options_.limits);
  if (absl::Status status = InitSecurity(); !status.ok()) return status;
  client_limits_ =
      std::make_unique<ClientLimits>(options_.client_limits, options_.clock);

  // Counters first: a client that saw an event or an interruption on its
  // watch finds it already counted in /metrics.
  store_->AddListener(&event_counter_);
  store_->AddListener(&fanout_);
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
        MetricsHttpServer::Start(
            options_.metrics_address, &metrics_,
            options_.tls.metrics ? tls_context_.get() : nullptr);
    if (!started.ok()) return started.status();
    metrics_server_ = *std::move(started);
    const std::string& address = options_.metrics_address;
    const std::string url =
        absl::StrCat(options_.tls.metrics ? "https://" : "http://",
                     address.substr(0, address.rfind(':')), ":",
                     metrics_server_->port(), "/metrics");
    LogInfo(absl::StrCat("metrics on ", url), {{"url", url}});
  }

  PresenceServerOptions grpc = options_.grpc;
  grpc.authorizer = authorizer_.get();
  grpc.limits = client_limits_.get();
  if (options_.tls.enabled()) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
        GrpcServerCredentials(options_.tls);
    if (!credentials.ok()) return credentials.status();
    grpc.credentials = *std::move(credentials);
  }
  absl::StatusOr<std::unique_ptr<PresenceServer>> server =
      PresenceServer::Start(grpc, presence_.get(), &fanout_);
  if (!server.ok()) return server.status();
  grpc_server_ = *std::move(server);
  metrics_.AddCollector([server = grpc_server_.get()](MetricsWriter& out) {
    server->rpc_stats().Collect(out);
  });
  const char* store_name =
      options_.store == PresenceAppOptions::Store::kMemory ? "memory" : "redis";
  const char* tls_name = !options_.tls.enabled()               ? "off"
                         : options_.tls.client_ca_file.empty() ? "tls"
                                                               : "mtls";
  const char* auth_name = authorizer_->enabled() ? "token" : "none";
  LogInfo(absl::StrCat("presence_server listening on ", grpc_server_->address(),
                       " (store: ", store_name, ", tls: ", tls_name,
                       ", auth: ", auth_name, ")"),
          {{"address", grpc_server_->address()},
           {"store", store_name},
           {"tls", tls_name},
           {"auth", auth_name}});

  if (!options_.pubnub.http.address.empty()) {
    PubNubHttpOptions pubnub = options_.pubnub;
    pubnub.authorizer = authorizer_.get();
    pubnub.limits = client_limits_.get();
    pubnub.http.tls = tls_context_.get();
    absl::StatusOr<std::unique_ptr<PubNubHttpServer>> http =
        PubNubHttpServer::Start(pubnub, presence_.get(), &fanout_);
    if (!http.ok()) return http.status();
    http_server_ = *std::move(http);
    http_server_->RegisterMetrics(metrics_);
    LogInfo(absl::StrCat("PubNub HTTP API on ",
                         tls_context_ != nullptr ? "https://" : "http://",
                         http_server_->address()));
  }

  // Readiness follows the store: NOT_SERVING while its backend is down.
  readiness_.emplace(
      [this] {
        CheckReadiness();
        return absl::OkStatus();
      },
      options_.readiness_interval);
  return absl::OkStatus();
}

absl::Status PresenceApp::InitSecurity() {
  absl::StatusOr<std::unique_ptr<auth::Authorizer>> authorizer =
      auth::Authorizer::Create(options_.auth, options_.clock);
  if (!authorizer.ok()) return authorizer.status();
  authorizer_ = *std::move(authorizer);
  if (authorizer_->enabled()) {
    // Secret files mounted from a Kubernetes Secret change in place.
    secret_reloader_.emplace([this] { return ReloadSecrets(); },
                             options_.tls.reload_interval);
  }
  if (options_.tls.enabled() &&
      (options_.tls.metrics || !options_.pubnub.http.address.empty())) {
    absl::StatusOr<std::unique_ptr<SslServerContext>> tls =
        SslServerContext::Create(options_.tls);
    if (!tls.ok()) return tls.status();
    tls_context_ = *std::move(tls);
  }
  return absl::OkStatus();
}

absl::Status PresenceApp::ReloadSecrets() {
  absl::StatusOr<bool> changed = authorizer_->ReloadSecrets();
  if (!changed.ok()) {
    // Once per distinct error, not once per check.
    if (changed.status().message() != last_secret_error_) {
      last_secret_error_ = std::string(changed.status().message());
      LogWarning(
          absl::StrCat("secret file not reloaded; the secrets in use "
                       "stay: ",
                       changed.status().message()));
    }
    return changed.status();
  }
  last_secret_error_.clear();
  if (*changed) LogInfo("secret file changed; tokens are checked against it");
  return absl::OkStatus();
}

absl::Status PresenceApp::Reload() {
  absl::Status result = absl::OkStatus();
  if (authorizer_->enabled()) {
    absl::StatusOr<bool> changed = authorizer_->ReloadSecrets();
    if (!changed.ok()) {
      LogWarning(absl::StrCat("secret file not reloaded: ",
                              changed.status().message()));
      result.Update(changed.status());
    } else {
      LogInfo(*changed ? "secret file reloaded" : "secret file unchanged");
    }
  }
  if (tls_context_ != nullptr) {
    absl::StatusOr<bool> changed = tls_context_->Reload();
    if (!changed.ok()) {
      LogWarning(
          absl::StrCat("TLS files of the HTTP and metrics ports not "
                       "reloaded: ",
                       changed.status().message()));
      result.Update(changed.status());
    } else {
      LogInfo(*changed ? "TLS files of the HTTP and metrics ports reloaded"
                       : "TLS files of the HTTP and metrics ports unchanged");
    }
  }
  return result;
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

int PresenceApp::http_port() const {
  return http_server_ == nullptr ? 0 : http_server_->port();
}

void PresenceApp::RegisterMetrics() {
  event_counter_.Register(metrics_);
  if (options_.store == PresenceAppOptions::Store::kRedis) {
    redis_calls_.Register(metrics_);
  }
  const absl::Time start = absl::Now();
  metrics_.AddGauge(
      "presence_uptime_seconds", "Seconds since the server started.",
      [start] { return absl::ToDoubleSeconds(absl::Now() - start); });
  metrics_.AddGauge("presence_store_healthy",
                    "1 while the store can serve (its backend is reachable).",
                    [this] { return store_->Healthy() ? 1.0 : 0.0; });
  // How much presence the store holds, read once per scrape; nothing from a
  // store that cannot tell cheaply (UNIMPLEMENTED) or cannot now.
  metrics_.AddCollector([this](MetricsWriter& out) {
    absl::StatusOr<StoreStats> stats = store_->Stats();
    if (!stats.ok()) return;
    const std::pair<const char*, const char*> families[] = {
        {"presence_channels", "Occupied channels."},
        {"presence_memberships", "(user, channel) pairs present."},
        {"presence_sessions", "(session, channel) pairs alive."}};
    const uint64_t values[] = {stats->channels, stats->memberships,
                               stats->sessions};
    for (int i = 0; i < 3; ++i) {
      out.Family(families[i].first, "gauge", families[i].second);
      out.Sample(families[i].first, {}, static_cast<double>(values[i]));
    }
  });
  metrics_.AddGauge("presence_watchers", "Open WatchEvents streams.",
                    [this] { return static_cast<double>(fanout_.size()); });
  metrics_.AddCounter(
      "presence_slow_watchers_total", "Watch streams ended for falling behind.",
      [this] { return static_cast<double>(fanout_.slow_watchers()); });
  metrics_.AddCollector([this](MetricsWriter& out) {
    out.Family("presence_watchers_by_transport", "gauge",
               "Open watches (gRPC streams, HTTP long-polls), by transport.");
    for (const auto& [transport, count] : fanout_.SizeByTransport()) {
      out.Sample("presence_watchers_by_transport", {{"transport", transport}},
                 static_cast<double>(count));
    }
  });
  metrics_.AddCollector([limits = client_limits_.get()](MetricsWriter& out) {
    limits->Collect(out);
  });
  metrics_.AddCounter(
      "presence_protobuf_log_lines_total",
      "Lines libprotobuf logged (e.g. requests with invalid UTF-8 strings).",
      [] { return static_cast<double>(ProtobufLogLines()); });
  metrics_.AddCollector([](MetricsWriter& out) {
    out.Family("presence_build_info", "gauge",
               "Always 1; the labels say what is running.");
    out.Sample("presence_build_info",
               {{"version", kVersion}, {"grpc_version", grpc::Version()}}, 1);
  });
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
  if (secret_reloader_.has_value()) secret_reloader_->Stop();
  metrics_server_.reset();
  if (grpc_server_ != nullptr) grpc_server_->Shutdown();
  // Held long-polls are answered at once; in-flight calls get the drain time.
  if (http_server_ != nullptr) http_server_->Shutdown(drain_deadline);
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
