// PresenceServer: the gRPC server of the presence service. It serves
// presence.v1.PresenceService, ChannelGroupService and AccessService, the
// standard health service (grpc.health.v1) and server reflection, with
// keepalive and connection-age settings suited to Kubernetes load
// balancing, over plaintext or the credentials it is given (TLS, mTLS).
//
// Presence, group and access calls are authenticated and authorized by
// options.authorizer; health and reflection are open to every caller.
//
// Health: "" and the two service names report readiness (SetServing: the
// store's backend is reachable) and NOT_SERVING once a shutdown starts;
// "liveness" reports SERVING while the process runs, whatever the store, so
// a liveness probe does not restart replicas during a Redis outage.
//
//   presence::PresenceServerOptions options;
//   options.listen_address = "127.0.0.1:0";  // Any free port.
//   auto server =
//       presence::PresenceServer::Start(options, &presence, &fanout);
//   if (!server.ok()) ...;
//   std::cout << (*server)->address();  // "127.0.0.1:41235"
//   ...
//   (*server)->Shutdown();  // Health NOT_SERVING, drain, stop.
//
// Thread-safe.
#ifndef SERVICE_GRPC_SERVER_H_
#define SERVICE_GRPC_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "presence/base/mutex.h"
#include "presence/presence.h"
#include "service/auth/authorizer.h"
#include "service/fanout/event_fanout.h"
#include "service/grpc/access_service.h"
#include "service/grpc/presence_service.h"
#include "service/grpc/rpc_stats.h"
#include "service/limits/client_limits.h"

namespace presence {

struct PresenceServerOptions {
  // host:port; port 0 picks a free port (see PresenceServer::port()).
  std::string listen_address = "127.0.0.1:50051";
  // Largest request accepted; larger ones fail with RESOURCE_EXHAUSTED.
  int max_receive_message_bytes = 4 * 1024 * 1024;
  // Server-initiated pings find dead connections (and their streams).
  absl::Duration keepalive_time = absl::Seconds(30);
  absl::Duration keepalive_timeout = absl::Seconds(10);
  // Clients may ping this often, even without calls in flight.
  absl::Duration min_client_ping_interval = absl::Seconds(10);
  // Connections are closed gracefully after this age, so that clients
  // reconnect and spread over new replicas behind a Kubernetes Service.
  absl::Duration max_connection_age = absl::Minutes(5);
  // In-flight calls get this long to finish when a connection ages out.
  absl::Duration max_connection_age_grace = absl::Seconds(30);
  absl::Duration max_connection_idle = absl::Minutes(10);
  // Shutdown() waits this long for in-flight calls before cancelling them.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // Events a WatchEvents stream may have waiting before it is ended with
  // RESOURCE_EXHAUSTED.
  size_t watch_buffer_events = 4096;
  // The listening port's credentials (TLS, mTLS); null is plaintext.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // Who may call what; null lets every call through (--auth=none). Must
  // outlive the server.
  const auth::Authorizer* authorizer = nullptr;
  // Per-client write rates and watcher limits (service/limits), shared with
  // the HTTP transport; null applies none. Must outlive the server.
  ClientLimits* limits = nullptr;
};

class PresenceServer {
 public:
  // Starts serving `presence`, with WatchEvents fed by `fanout`; both must
  // outlive the server. Fails if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<PresenceServer>> Start(
      const PresenceServerOptions& options, Presence* presence,
      EventFanout* fanout);

  ~PresenceServer();
  PresenceServer(const PresenceServer&) = delete;
  PresenceServer& operator=(const PresenceServer&) = delete;

  // Returns the port actually bound.
  int port() const { return port_; }

  // Returns the listen address with the bound port, e.g. "127.0.0.1:41235".
  const std::string& address() const { return address_; }

  // Counts and timings of the RPCs served (for metrics).
  const RpcStats& rpc_stats() const { return rpc_stats_; }

  // Reports SERVING or NOT_SERVING on every health service name (e.g. while
  // the store's backend is unreachable). Ignored after Shutdown().
  void SetServing(bool serving);

  // Reports NOT_SERVING on every health service name, ends every watch
  // with UNAVAILABLE (so watchers move to another replica at once), stops
  // accepting calls, waits up to options.shutdown_grace for in-flight calls
  // and cancels the rest. Idempotent.
  void Shutdown() ABSL_LOCKS_EXCLUDED(shutdown_mu_);

 private:
  PresenceServer(const PresenceServerOptions& options, Presence* presence,
                 EventFanout* fanout);

  RpcStats rpc_stats_;
  PresenceServiceImpl presence_service_;
  ChannelGroupServiceImpl group_service_;
  AccessServiceImpl access_service_;
  EventFanout* const fanout_;
  std::unique_ptr<grpc::Server> server_;
  absl::Duration shutdown_grace_;
  int port_ = 0;
  std::string address_;
  Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace presence

#endif  // SERVICE_GRPC_SERVER_H_
