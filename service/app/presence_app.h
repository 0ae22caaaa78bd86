// PresenceApp: the presence service assembled from one options struct — the
// composition root. It builds the store, the Presence facade, the event
// fan-out, webhooks, the expiry sweeps, metrics, health, the gRPC server and
// the PubNub-compatible HTTP server, and shuts them down in order.
// presence_server's main() only turns flags into PresenceAppOptions;
// integration tests start the same object, so they exercise the wiring that
// ships.
//
//   PresenceAppOptions options;
//   options.grpc.listen_address = "127.0.0.1:0";
//   absl::StatusOr<std::unique_ptr<PresenceApp>> app =
//       PresenceApp::Start(std::move(options));
//   if (!app.ok()) return app.status();  // Names the option that is wrong.
//   std::cout << (*app)->grpc_address();
//   ...
//   (*app)->Shutdown();  // Drains within options.grpc.shutdown_grace.
//
// Thread-safe.
#ifndef SERVICE_APP_PRESENCE_APP_H_
#define SERVICE_APP_PRESENCE_APP_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "presence/base/mutex.h"
#include "presence/base/ticker.h"
#include "presence/clock.h"
#include "presence/event.h"
#include "presence/limits.h"
#include "presence/presence.h"
#include "presence/store.h"
#include "presence/store/durable/durable_store.h"
#include "presence/store/memory/memory_store.h"
#include "presence/store/redis/redis_store.h"
#include "service/auth/authorizer.h"
#include "service/fanout/event_fanout.h"
#include "service/grpc/server.h"
#include "service/http/pubnub_http_server.h"
#include "service/limits/client_limits.h"
#include "service/metrics/metrics.h"
#include "service/metrics/redis_call_metrics.h"
#include "service/tls/ssl_server_context.h"
#include "service/tls/tls_options.h"
#include "service/webhooks/webhook_dispatcher.h"

namespace presence {

struct PresenceAppOptions {
  enum class Store { kMemory, kRedis };

  // Where presence lives (--store).
  Store store = Store::kMemory;
  // Request limits (--max_*, --*_timeout_seconds); also the stores' limits.
  Limits limits;
  // Interval mode (--announce_max, --presence_interval, ...); also the
  // stores' event options.
  EventOptions events;
  // Store settings; their `limits` and `events` are replaced by the two
  // above.
  MemoryStoreOptions memory;
  RedisStoreOptions redis;
  // With a data_dir (--data_dir, --snapshot_interval, --data_dir_recover),
  // the embedded store keeps channel groups and live presence across
  // restarts (presence/store/durable/durable_store.h); with --store=redis
  // a data_dir is an error.
  DurableStoreOptions durable;
  // The gRPC server (--listen_address, keepalive, --shutdown_grace, ...).
  // Its `credentials` and `authorizer` are set from `tls` and `auth`.
  PresenceServerOptions grpc;
  // Tokens (--auth, --auth_secret_file): with AuthMode::kToken, presence,
  // group and access RPCs need a signed token.
  auth::AuthOptions auth;
  // TLS of the gRPC and HTTP ports, and of the metrics port with tls.metrics
  // (--tls_cert_file, --tls_key_file, --tls_client_ca_file, --metrics_tls,
  // --reload_interval). The files are re-read when they change (checked
  // every tls.reload_interval, which also paces the secret file's checks)
  // and on Reload().
  TlsOptions tls;
  // PubNub's REST presence API over HTTP (--http_address, --pubnub_*); off
  // when `pubnub.http.address` is empty.
  PubNubHttpOptions pubnub;
  // Per-client write rates and watcher limits of both transports
  // (--write_rate_per_client, --max_watchers_per_client, ...; all off by
  // default). The per-user limits are in `limits` (the stores enforce
  // them).
  ClientLimitsOptions client_limits;
  // Webhooks (--webhook_*); off when `webhooks.urls` is empty.
  WebhookOptions webhooks;
  // host:port of the Prometheus endpoint (--metrics_address); empty is off.
  std::string metrics_address;
  // How often timed-out sessions are swept (--expiry_interval). Zero turns
  // the background sweeps off; callers then call ExpireSessions() (tests
  // with a simulated clock do).
  absl::Duration expiry_interval = absl::Milliseconds(10);
  // How often readiness health is aligned with the store's health.
  absl::Duration readiness_interval = absl::Milliseconds(250);
  // The source of time of the stores (tests pass a SimulatedClock). Must
  // outlive the app.
  Clock* clock = Clock::Real();
};

// Returns OK, or INVALID_ARGUMENT naming the presence_server flag whose
// value is wrong and the rule it breaks.
absl::Status ValidatePresenceAppOptions(const PresenceAppOptions& options);

class PresenceApp {
 public:
  // Validates `options`, assembles the service and starts serving. Fails
  // with INVALID_ARGUMENT for bad options, or UNAVAILABLE when an address
  // cannot be bound.
  static absl::StatusOr<std::unique_ptr<PresenceApp>> Start(
      PresenceAppOptions options);

  // Calls Shutdown().
  ~PresenceApp();
  PresenceApp(const PresenceApp&) = delete;
  PresenceApp& operator=(const PresenceApp&) = delete;

  // Drains and stops, in order: readiness goes NOT_SERVING and gRPC watches
  // end with UNAVAILABLE, in-flight calls get options.grpc.shutdown_grace,
  // the HTTP server answers its held long-polls at once and its in-flight
  // calls get what is left of that time, the sweeps stop, and queued
  // webhooks get what is left.
  // Idempotent; concurrent calls return when the first one is done.
  void Shutdown() ABSL_LOCKS_EXCLUDED(shutdown_mu_);

  // The gRPC listen address with the bound port, e.g. "127.0.0.1:41235".
  const std::string& grpc_address() const { return grpc_server_->address(); }
  // The bound metrics port, or 0 when metrics are off.
  int metrics_port() const;
  // The bound PubNub HTTP port, or 0 when it is off.
  int http_port() const;

  // Sweeps timed-out sessions now (what the background sweeps do).
  absl::Status ExpireSessions() { return store_->ExpireSessions(); }

  // Re-reads the secret file and the certificate files of the listeners
  // that terminate TLS themselves (HTTP, metrics) now, as on SIGHUP; gRPC's
  // listener follows its files every tls.reload_interval. Logs what
  // changed; returns the first error (what was in use stays in use).
  absl::Status Reload();

  PresenceStore& store() { return *store_; }
  const auth::Authorizer& authorizer() const { return *authorizer_; }
  Presence& presence() { return *presence_; }
  EventFanout& fanout() { return fanout_; }
  // The limits both transports apply (and their refusal counts).
  ClientLimits& client_limits() { return *client_limits_; }
  PresenceServer& grpc_server() { return *grpc_server_; }
  const PresenceAppOptions& options() const { return options_; }

 private:
  explicit PresenceApp(PresenceAppOptions options);

  absl::Status Init();
  // Opens the embedded store on options_.durable.data_dir into store_.
  absl::Status OpenDurableStore(const MemoryStoreOptions& memory);
  void RegisterMetrics();
  // Aligns readiness health with the store's health; logs changes.
  void CheckReadiness();
  // Builds the authorizer and the TLS credentials and contexts.
  absl::Status InitSecurity();
  // Re-reads the secret file if it changed; logs what happened.
  absl::Status ReloadSecrets();

  const PresenceAppOptions options_;
  // Declared in construction order; destroyed in reverse.
  std::unique_ptr<WebhookDispatcher> webhooks_;
  RedisCallMetrics redis_calls_;  // Observed by the Redis store.
  std::unique_ptr<PresenceStore> store_;
  std::unique_ptr<Presence> presence_;
  std::unique_ptr<auth::Authorizer> authorizer_;
  std::unique_ptr<ClientLimits> client_limits_;
  // The TLS context of the listeners that terminate TLS themselves: HTTP,
  // and metrics with tls.metrics. Null without TLS.
  std::unique_ptr<SslServerContext> tls_context_;
  std::optional<Ticker> secret_reloader_;  // With --auth=token.
  std::string last_secret_error_;          // Read and written by the reloader.
  EventFanout fanout_;
  EventCounter event_counter_;
  std::optional<Ticker> expirer_;
  MetricsRegistry metrics_;
  std::unique_ptr<MetricsHttpServer> metrics_server_;
  std::unique_ptr<PresenceServer> grpc_server_;
  std::unique_ptr<PubNubHttpServer> http_server_;
  bool serving_ = true;  // Read and written by the readiness ticker only.
  std::optional<Ticker> readiness_;
  // Which listeners are registered with the store, for Shutdown.
  bool listening_ = false;

  Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace presence

#endif  // SERVICE_APP_PRESENCE_APP_H_
