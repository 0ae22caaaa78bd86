// ClientLimits: the limits that protect the service from one client (or
// from all of them), applied by every transport before it calls Presence:
//
//   --write_rate_per_client, --write_burst_per_client   writes per client
//       (Heartbeat, Leave, SetState, BatchHeartbeat entries, group changes;
//       over HTTP the same calls and subscribes that heartbeat): a token
//       bucket each (write_rate_limiter.h); RESOURCE_EXHAUSTED with a retry
//       hint beyond.
//   --max_watchers_per_client, --max_watchers   open watches (gRPC
//       WatchEvents streams, HTTP subscribe long-polls), per client and in
//       total (watcher_limits.h); RESOURCE_EXHAUSTED beyond.
//
// Each is off when its flag is 0 (the default). A client is who
// ClientKey() says: the user a token is bound to, an unbound token, or
// without auth the peer's IP address; the two transports share the limits,
// so a client's gRPC and HTTP calls count together.
//
//   ClientLimits limits(options, clock);
//   absl::Duration retry_after;
//   absl::Status admitted = limits.AdmitWrite(client, 1, "grpc", "Heartbeat",
//                                             &retry_after);
//   absl::StatusOr<WatchSlot> slot = limits.AcquireWatch(client, "grpc");
//   registry.AddCollector([&](MetricsWriter& out) { limits.Collect(out); });
//
// Metrics (label values come from the transports' fixed tables, never from
// requests: no user, channel or peer is a label):
//
//   presence_rate_limited_total{transport,method}       counter
//   presence_rate_limiter_clients                       gauge
//   presence_rate_limiter_evictions_total               counter
//   presence_watch_rejected_total{transport,limit}      counter
//   presence_user_limit_rejected_total{transport,limit} counter
//
// The last counts heartbeats the store refused by --max_sessions_per_user
// or --max_channels_per_user (presence::Limits; enforced by the stores
// atomically), as the transports report them with CountUserLimit().
//
// Thread-safe.
#ifndef SERVICE_LIMITS_CLIENT_LIMITS_H_
#define SERVICE_LIMITS_CLIENT_LIMITS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "presence/base/mutex.h"
#include "presence/clock.h"
#include "presence/limits.h"
#include "service/auth/authorizer.h"
#include "service/limits/watcher_limits.h"
#include "service/limits/write_rate_limiter.h"
#include "service/metrics/metrics.h"

namespace presence {

struct ClientLimitsOptions {
  // Writes per second per client, on average (--write_rate_per_client);
  // 0 is off.
  double write_rate_per_client = 0;
  // Most writes a client may make at once (--write_burst_per_client); 0 is
  // one second's worth of the rate (at least 1).
  uint32_t write_burst_per_client = 0;
  // Most clients whose rate is tracked at once (--write_rate_max_clients).
  size_t write_rate_max_clients = 100000;
  // Most open watches per client and in total (--max_watchers_per_client,
  // --max_watchers); 0 is unlimited.
  uint32_t max_watchers_per_client = 0;
  uint32_t max_watchers = 0;
};

// Returns OK, or INVALID_ARGUMENT naming the flag that is wrong.
absl::Status ValidateClientLimitsOptions(const ClientLimitsOptions& options);

// Returns who a call comes from, for per-client limits:
//   "user:<id>"       a token bound to a user: every token and connection of
//                     the user shares its limits;
//   "token:<mac>"     a token bound to no user (a backend's): each token is
//                     a client (keyed by its signature, which is unique and
//                     cannot be forged);
//   "ip:<address>"    no token (--auth=none): the peer's IP address, as
//                     PeerAddress() gives it.
// `token` is the token's text as sent ("Bearer " prefix or not), or empty.
std::string ClientKey(const auth::Caller& caller, absl::string_view token,
                      absl::string_view peer_address);

// Returns the IP address of a peer, without the port: from gRPC's peer URI
// ("ipv4:10.0.0.7:5000" -> "10.0.0.7", "ipv6:[::1]:5000" or
// "ipv6:%5B::1%5D:5000" -> "::1") or a bare address; an IPv4-mapped IPv6
// address becomes the IPv4 one. Anything else (e.g. "unix:/run/x.sock")
// comes back whole.
std::string PeerAddress(absl::string_view peer);

class ClientLimits {
 public:
  // `clock` paces the write rate and must outlive the limits.
  ClientLimits(const ClientLimitsOptions& options, const Clock* clock);
  ClientLimits(const ClientLimits&) = delete;
  ClientLimits& operator=(const ClientLimits&) = delete;

  // Limits that are all off (for servers built without any).
  static ClientLimits* Unlimited();

  bool limits_writes() const { return writes_ != nullptr; }

  // Charges a write of `cost` (a BatchHeartbeat: its entries; at least 1)
  // to `client`. Returns OK, or RESOURCE_EXHAUSTED naming the limit and
  // its flags, with `*retry_after` set to how long until the same call
  // would be admitted (otherwise zero). A refusal is counted under
  // {transport, method}, which must be constants (metric labels).
  absl::Status AdmitWrite(absl::string_view client, uint64_t cost,
                          absl::string_view transport, absl::string_view method,
                          absl::Duration* retry_after)
      ABSL_LOCKS_EXCLUDED(counts_mu_);

  // Returns the slot of a new watch of `client`, or RESOURCE_EXHAUSTED
  // naming the limit and its flag; a refusal is counted under `transport`
  // (a constant). The slot must be released (or destroyed) before the
  // limits are.
  absl::StatusOr<WatchSlot> AcquireWatch(absl::string_view client,
                                         absl::string_view transport)
      ABSL_LOCKS_EXCLUDED(counts_mu_);

  // Counts `status` under {transport, limit} when it is a store's refusal by
  // a per-user limit (presence::UserLimitOf); does nothing otherwise.
  // `transport` must be a constant.
  void CountUserLimit(const absl::Status& status, absl::string_view transport)
      ABSL_LOCKS_EXCLUDED(counts_mu_);

  // Writes the families listed above.
  void Collect(MetricsWriter& out) const ABSL_LOCKS_EXCLUDED(counts_mu_);

  // Counts, for tests and metrics.
  uint64_t rate_limited(absl::string_view transport,
                        absl::string_view method) const
      ABSL_LOCKS_EXCLUDED(counts_mu_);
  uint64_t watch_rejections(absl::string_view transport, WatchLimit limit) const
      ABSL_LOCKS_EXCLUDED(counts_mu_);
  uint64_t user_limit_rejections(absl::string_view transport,
                                 UserLimit limit) const
      ABSL_LOCKS_EXCLUDED(counts_mu_);
  const WatcherLimits& watchers() const { return watchers_; }
  // Null when the write rate is not limited.
  const WriteRateLimiter* writes() const { return writes_.get(); }

 private:
  using Labels = std::pair<std::string, std::string>;

  const ClientLimitsOptions options_;
  std::unique_ptr<WriteRateLimiter> writes_;  // Null: writes not limited.
  WatcherLimits watchers_;

  // Refusals, by label values. Touched only on refusals.
  mutable Mutex counts_mu_;
  std::map<Labels, uint64_t> rate_limited_ ABSL_GUARDED_BY(counts_mu_);
  std::map<Labels, uint64_t> watch_rejected_ ABSL_GUARDED_BY(counts_mu_);
  std::map<Labels, uint64_t> user_limit_rejected_ ABSL_GUARDED_BY(counts_mu_);
};

}  // namespace presence

#endif  // SERVICE_LIMITS_CLIENT_LIMITS_H_
