#include "service/grpc/server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "grpc/grpc.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace presence {
namespace {

int Millis(absl::Duration d) {
  return static_cast<int>(absl::ToInt64Milliseconds(d));
}

// Replaces the port of "host:port" (or "[v6]:port").
std::string WithPort(const std::string& address, int port) {
  const size_t colon = address.rfind(':');
  return absl::StrCat(address.substr(0, colon), ":", port);
}

// The health names that report readiness.
constexpr const char* kServiceNames[] = {
    "",
    "presence.v1.PresenceService",
    "presence.v1.ChannelGroupService",
};

// The health name that reports liveness.
constexpr char kLivenessName[] = "liveness";

// The authorizer of a server given none: every call is allowed.
const auth::Authorizer* AllowEveryone() {
  static const auth::Authorizer* const kAuthorizer = new auth::Authorizer();
  return kAuthorizer;
}

const auth::Authorizer* AuthorizerOf(const PresenceServerOptions& options) {
  return options.authorizer != nullptr ? options.authorizer : AllowEveryone();
}

ClientLimits* LimitsOf(const PresenceServerOptions& options) {
  return options.limits != nullptr ? options.limits : ClientLimits::Unlimited();
}

}  // namespace

PresenceServer::PresenceServer(const PresenceServerOptions& options,
                               Presence* presence, EventFanout* fanout)
    : presence_service_(presence, fanout, options.watch_buffer_events,
                        AuthorizerOf(options), LimitsOf(options), &rpc_stats_),
      group_service_(presence, AuthorizerOf(options), LimitsOf(options),
                     &rpc_stats_),
      access_service_(AuthorizerOf(options), &rpc_stats_),
      fanout_(fanout) {}

PresenceServer::~PresenceServer() { Shutdown(); }

absl::StatusOr<std::unique_ptr<PresenceServer>> PresenceServer::Start(
    const PresenceServerOptions& options, Presence* presence,
    EventFanout* fanout) {
  // Process-wide switches; both must be set before a builder is created.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  std::unique_ptr<PresenceServer> server(
      new PresenceServer(options, presence, fanout));
  server->shutdown_grace_ = options.shutdown_grace;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address,
                           options.credentials != nullptr
                               ? options.credentials
                               : grpc::InsecureServerCredentials(),
                           &server->port_);
  builder.RegisterService(&server->presence_service_);
  builder.RegisterService(&server->group_service_);
  builder.RegisterService(&server->access_service_);
  // gRPC sets SO_REUSEPORT by default, which would let a second server bind
  // the same port and silently split the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             Millis(options.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             Millis(options.keepalive_timeout));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      Millis(options.min_client_ping_interval));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                             Millis(options.max_connection_age));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                             Millis(options.max_connection_age_grace));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             Millis(options.max_connection_idle));
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen_address));
  }
  server->address_ = WithPort(options.listen_address, server->port_);
  grpc::HealthCheckServiceInterface* health =
      server->server_->GetHealthCheckService();
  for (const char* name : kServiceNames) health->SetServingStatus(name, true);
  health->SetServingStatus(kLivenessName, true);
  return server;
}

void PresenceServer::SetServing(bool serving) {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  for (const char* name : kServiceNames)
    health->SetServingStatus(name, serving);
}

void PresenceServer::Shutdown() {
  MutexLock lock(&shutdown_mu_);
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  // NOT_SERVING first, so load balancers stop sending before calls fail;
  // the health service ignores later updates.
  server_->GetHealthCheckService()->Shutdown();
  fanout_->CloseAll(
      absl::UnavailableError("the server is shutting down; watch again"),
      presence_service_.encoder());
  server_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoNanoseconds(shutdown_grace_));
  server_->Wait();
}

}  // namespace presence
