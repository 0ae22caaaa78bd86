#include "service/grpc/rpc_stats.h"

#include <string>

namespace presence {
namespace {

struct MethodInfo {
  absl::string_view service;
  absl::string_view name;
  bool stream;
};

constexpr absl::string_view kPresenceService = "presence.v1.PresenceService";
constexpr absl::string_view kGroupService = "presence.v1.ChannelGroupService";
constexpr absl::string_view kAccessService = "presence.v1.AccessService";

// Indexed by RpcMethod.
constexpr MethodInfo kMethodInfo[] = {
    {kPresenceService, "HereNow", false},
    {kPresenceService, "WhereNow", false},
    {kPresenceService, "SetState", false},
    {kPresenceService, "GetState", false},
    {kPresenceService, "Heartbeat", false},
    {kPresenceService, "Leave", false},
    {kPresenceService, "BatchHeartbeat", false},
    {kPresenceService, "WatchEvents", true},
    {kGroupService, "AddChannels", false},
    {kGroupService, "RemoveChannels", false},
    {kGroupService, "ListChannels", false},
    {kGroupService, "ListGroups", false},
    {kGroupService, "DeleteGroup", false},
    {kAccessService, "GrantToken", false},
};
static_assert(sizeof(kMethodInfo) / sizeof(kMethodInfo[0]) ==
              RpcStats::kMethods);

// Indexed by grpc::StatusCode.
constexpr absl::string_view kCodeNames[] = {
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
};
static_assert(sizeof(kCodeNames) / sizeof(kCodeNames[0]) == RpcStats::kCodes);

const MethodInfo& Info(RpcMethod method) {
  return kMethodInfo[static_cast<int>(method)];
}

}  // namespace

absl::string_view RpcServiceName(RpcMethod method) {
  return Info(method).service;
}

absl::string_view RpcMethodName(RpcMethod method) { return Info(method).name; }

RpcStats::RpcStats() {
  // 10 µs to ~5 s.
  for (PerMethod& method : methods_) {
    method.seconds = std::make_unique<Histogram>(
        Histogram::ExponentialBounds(1e-5, 2.5, 15));
  }
}

void RpcStats::Record(RpcMethod method, grpc::StatusCode code,
                      absl::Duration elapsed) {
  const int index = static_cast<int>(method);
  const int code_index =
      code >= 0 && code < kCodes ? code : grpc::StatusCode::UNKNOWN;
  methods_[index].handled[code_index].fetch_add(1, std::memory_order_relaxed);
  if (!kMethodInfo[index].stream) {
    methods_[index].seconds->Observe(absl::ToDoubleSeconds(elapsed));
  }
}

void RpcStats::RecordUnparsable(RpcMethod method) {
  methods_[static_cast<int>(method)].unparsable.fetch_add(
      1, std::memory_order_relaxed);
}

void RpcStats::RecordAuthFailure(RpcMethod method, auth::AuthFailure failure) {
  methods_[static_cast<int>(method)]
      .auth_failures[static_cast<int>(failure)]
      .fetch_add(1, std::memory_order_relaxed);
}

void RpcStats::Collect(MetricsWriter& out) const {
  out.Family("presence_unparsable_requests_total", "counter",
             "Requests whose bytes were not a valid message of their type.");
  for (int m = 0; m < kMethods; ++m) {
    const uint64_t n = methods_[m].unparsable.load(std::memory_order_relaxed);
    if (n == 0) continue;
    out.Sample("presence_unparsable_requests_total",
               {{"grpc_method", std::string(kMethodInfo[m].name)}},
               static_cast<double>(n));
  }
  out.Family("presence_auth_failures_total", "counter",
             "Calls (and batch entries) refused by authentication or "
             "authorization, by method and reason.");
  for (int m = 0; m < kMethods; ++m) {
    for (int f = 0; f < auth::kAuthFailureKinds; ++f) {
      const uint64_t n =
          methods_[m].auth_failures[f].load(std::memory_order_relaxed);
      if (n == 0) continue;
      out.Sample("presence_auth_failures_total",
                 {{"grpc_method", std::string(kMethodInfo[m].name)},
                  {"reason", std::string(auth::AuthFailureName(
                                 static_cast<auth::AuthFailure>(f)))}},
                 static_cast<double>(n));
    }
  }
  out.Family("grpc_server_handled_total", "counter",
             "RPCs completed on the server, by method and status code.");
  for (int m = 0; m < kMethods; ++m) {
    for (int c = 0; c < kCodes; ++c) {
      const uint64_t n = methods_[m].handled[c].load(std::memory_order_relaxed);
      if (n == 0) continue;
      out.Sample("grpc_server_handled_total",
                 {{"grpc_service", std::string(kMethodInfo[m].service)},
                  {"grpc_method", std::string(kMethodInfo[m].name)},
                  {"grpc_code", std::string(kCodeNames[c])}},
                 static_cast<double>(n));
    }
  }
  out.Family("grpc_server_handling_seconds", "histogram",
             "Time from a unary RPC's arrival to its answer, by method.");
  for (int m = 0; m < kMethods; ++m) {
    if (kMethodInfo[m].stream) continue;
    const Histogram::Snapshot snapshot = methods_[m].seconds->Take();
    if (snapshot.count == 0) continue;
    out.HistogramSamples("grpc_server_handling_seconds",
                         {{"grpc_service", std::string(kMethodInfo[m].service)},
                          {"grpc_method", std::string(kMethodInfo[m].name)}},
                         methods_[m].seconds->bounds(), snapshot);
  }
}

}  // namespace presence
