// RpcStats: counts and times every RPC the gRPC server handles, by method and
// status code, exported with the names dashboards for gRPC servers know
// (go-grpc-prometheus, grpc-java):
//
//   grpc_server_handled_total{grpc_service,grpc_method,grpc_code}   counter
//   grpc_server_handling_seconds{grpc_service,grpc_method}          histogram
//
//   presence_unparsable_requests_total{grpc_method}                 counter
//   presence_auth_failures_total{grpc_method,reason}                counter
//
// Refused calls are also in grpc_server_handled_total, as Unauthenticated or
// PermissionDenied; presence_auth_failures_total says why (missing,
// malformed, bad_signature, expired, permission_denied) and also counts
// BatchHeartbeat entries refused inside a call that succeeded.
//
// Streams (WatchEvents) are counted when they end; their duration is not a
// latency and is not timed. Label values come from fixed tables, so the
// number of series is bounded whatever clients send.
//
//   RpcStats stats;
//   stats.Record(RpcMethod::kHeartbeat, grpc::StatusCode::OK, elapsed);
//   registry.AddCollector([&](MetricsWriter& out) { stats.Collect(out); });
//
// Thread-safe; Record() is a few relaxed atomic adds.
#ifndef SERVICE_GRPC_RPC_STATS_H_
#define SERVICE_GRPC_RPC_STATS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/support/status.h"
#include "service/auth/authorizer.h"
#include "service/metrics/histogram.h"
#include "service/metrics/metrics.h"

namespace presence {

enum class RpcMethod {
  kHereNow,
  kWhereNow,
  kSetState,
  kGetState,
  kHeartbeat,
  kLeave,
  kBatchHeartbeat,
  kWatchEvents,
  kAddChannels,
  kRemoveChannels,
  kListChannels,
  kListGroups,
  kDeleteGroup,
  kGrantToken,
};

// Returns the method's service ("presence.v1.PresenceService") and name
// ("Heartbeat").
absl::string_view RpcServiceName(RpcMethod method);
absl::string_view RpcMethodName(RpcMethod method);

class RpcStats {
 public:
  RpcStats();

  // Records one finished RPC. `elapsed` is ignored for streams.
  void Record(RpcMethod method, grpc::StatusCode code, absl::Duration elapsed);

  // Counts a request whose bytes were not a valid message of its type (it
  // is also Record()ed, as INVALID_ARGUMENT).
  void RecordUnparsable(RpcMethod method);

  // Counts a call (or a batch entry) refused by the Authorizer.
  void RecordAuthFailure(RpcMethod method, auth::AuthFailure failure);

  // Writes the families (series with no RPC yet are left out),
  // presence_unparsable_requests_total{grpc_method} and
  // presence_auth_failures_total{grpc_method,reason}.
  void Collect(MetricsWriter& out) const;

  static constexpr int kMethods = static_cast<int>(RpcMethod::kGrantToken) + 1;
  static constexpr int kCodes = grpc::StatusCode::UNAUTHENTICATED + 1;

 private:
  struct PerMethod {
    std::array<std::atomic<uint64_t>, kCodes> handled{};
    std::atomic<uint64_t> unparsable{0};
    std::array<std::atomic<uint64_t>, auth::kAuthFailureKinds> auth_failures{};
    std::unique_ptr<Histogram> seconds;
  };
  std::array<PerMethod, kMethods> methods_;
};

}  // namespace presence

#endif  // SERVICE_GRPC_RPC_STATS_H_
