// RpcStats: counts and times every RPC the gRPC server handles, by method and
// status code, exported with the names dashboards for gRPC servers know
// (go-grpc-prometheus, grpc-java):
//
//   grpc_server_handled_total{grpc_service,grpc_method,grpc_code}   counter
//   grpc_server_handling_seconds{grpc_service,grpc_method}          histogram
//
//   presence_unparsable_requests_total{grpc_method}                 counter
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

  // Writes the families (series with no RPC yet are left out), and
  // presence_unparsable_requests_total{grpc_method}.
  void Collect(MetricsWriter& out) const;

  static constexpr int kMethods = static_cast<int>(RpcMethod::kDeleteGroup) + 1;
  static constexpr int kCodes = grpc::StatusCode::UNAUTHENTICATED + 1;

 private:
  struct PerMethod {
    std::array<std::atomic<uint64_t>, kCodes> handled{};
    std::atomic<uint64_t> unparsable{0};
    std::unique_ptr<Histogram> seconds;
  };
  std::array<PerMethod, kMethods> methods_;
};

}  // namespace presence

#endif  // SERVICE_GRPC_RPC_STATS_H_
