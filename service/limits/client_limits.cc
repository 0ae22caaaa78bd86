#include "service/limits/client_limits.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace presence {
namespace {

// Longest token signature used in a key; a real one is 43 characters.
constexpr size_t kMaxSignatureChars = 64;

// The label of a per-user limit: its name without "max_".
std::string UserLimitLabel(UserLimit limit) {
  return std::string(absl::StripPrefix(UserLimitName(limit), "max_"));
}

double BurstOf(const ClientLimitsOptions& options) {
  if (options.write_burst_per_client != 0) {
    return options.write_burst_per_client;
  }
  return std::max(1.0, std::ceil(options.write_rate_per_client));
}

// Writes `counts` as samples of `family`, labelled {first, second}.
void WriteCounts(
    MetricsWriter& out, absl::string_view family, absl::string_view first,
    absl::string_view second,
    const std::map<std::pair<std::string, std::string>, uint64_t>& counts) {
  for (const auto& [labels, n] : counts) {
    out.Sample(family,
               {{std::string(first), labels.first},
                {std::string(second), labels.second}},
               static_cast<double>(n));
  }
}

}  // namespace

absl::Status ValidateClientLimitsOptions(const ClientLimitsOptions& options) {
  const double rate = options.write_rate_per_client;
  if (!std::isfinite(rate) || rate < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--write_rate_per_client: must be 0 (off) or a positive number of "
        "writes per second; got ",
        rate));
  }
  if (rate == 0 && options.write_burst_per_client != 0) {
    return absl::InvalidArgumentError(
        "--write_burst_per_client needs --write_rate_per_client");
  }
  if (rate > 0 && options.write_rate_max_clients == 0) {
    return absl::InvalidArgumentError(
        "--write_rate_max_clients: must be at least 1");
  }
  return absl::OkStatus();
}

std::string ClientKey(const auth::Caller& caller, absl::string_view token,
                      absl::string_view peer_address) {
  const auth::Claims* claims = caller.claims();
  if (claims == nullptr) return absl::StrCat("ip:", peer_address);
  if (!claims->user_id.empty()) return absl::StrCat("user:", claims->user_id);
  // "pv1.<claims>.<mac>": the MAC identifies the token.
  const size_t dot = token.rfind('.');
  absl::string_view signature =
      dot == absl::string_view::npos ? token : token.substr(dot + 1);
  return absl::StrCat("token:", signature.substr(0, kMaxSignatureChars));
}

std::string PeerAddress(absl::string_view peer) {
  std::string host;
  absl::string_view rest = peer;
  if (absl::ConsumePrefix(&rest, "ipv4:")) {
    host = std::string(rest.substr(0, rest.rfind(':')));
  } else if (absl::ConsumePrefix(&rest, "ipv6:") ||
             absl::StartsWith(peer, "[")) {
    const std::string decoded =
        absl::StrReplaceAll(rest, {{"%5B", "["}, {"%5D", "]"}, {"%25", "%"}});
    absl::string_view text = decoded;
    if (absl::ConsumePrefix(&text, "[")) {
      host = std::string(text.substr(0, text.find(']')));
    } else {
      host = std::string(text.substr(0, text.rfind(':')));
    }
  } else {
    // A bare address, or a peer that is not IP (unix:...): as it is.
    host = std::string(peer);
  }
  absl::string_view mapped = host;
  if (absl::StartsWithIgnoreCase(mapped, "::ffff:") &&
      absl::StrContains(mapped, '.')) {
    return std::string(mapped.substr(7));
  }
  return host;
}

ClientLimits::ClientLimits(const ClientLimitsOptions& options,
                           const Clock* clock)
    : options_(options),
      watchers_({options.max_watchers_per_client, options.max_watchers}) {
  if (options.write_rate_per_client > 0) {
    writes_ = std::make_unique<WriteRateLimiter>(
        WriteRateLimiterOptions{options.write_rate_per_client, BurstOf(options),
                                options.write_rate_max_clients},
        clock);
  }
}

ClientLimits* ClientLimits::Unlimited() {
  static ClientLimits* const kUnlimited =
      new ClientLimits(ClientLimitsOptions(), Clock::Real());
  return kUnlimited;
}

absl::Status ClientLimits::AdmitWrite(absl::string_view client, uint64_t cost,
                                      absl::string_view transport,
                                      absl::string_view method,
                                      absl::Duration* retry_after) {
  *retry_after = absl::ZeroDuration();
  if (writes_ == nullptr) return absl::OkStatus();
  const absl::Duration wait =
      writes_->Admit(client, static_cast<double>(std::max<uint64_t>(1, cost)));
  if (wait == absl::ZeroDuration()) return absl::OkStatus();
  *retry_after = wait;
  {
    MutexLock lock(&counts_mu_);
    ++rate_limited_[{std::string(transport), std::string(method)}];
  }
  const TokenBucketPolicy& policy = writes_->policy();
  return absl::ResourceExhaustedError(absl::StrCat(
      "write rate limit: a client may make ", policy.rate,
      " writes per second, in bursts of up to ", policy.burst,
      " (--write_rate_per_client, --write_burst_per_client; a BatchHeartbeat "
      "counts its entries); retry in ",
      absl::ToInt64Milliseconds(wait), " ms"));
}

absl::StatusOr<WatchSlot> ClientLimits::AcquireWatch(
    absl::string_view client, absl::string_view transport) {
  WatchLimit refused = WatchLimit::kTotal;
  absl::StatusOr<WatchSlot> slot = watchers_.Acquire(client, &refused);
  if (!slot.ok()) {
    MutexLock lock(&counts_mu_);
    ++watch_rejected_[{std::string(transport),
                       std::string(WatchLimitName(refused))}];
  }
  return slot;
}

uint64_t ClientLimits::rate_limited(absl::string_view transport,
                                    absl::string_view method) const {
  MutexLock lock(&counts_mu_);
  auto it = rate_limited_.find({std::string(transport), std::string(method)});
  return it == rate_limited_.end() ? 0 : it->second;
}

uint64_t ClientLimits::watch_rejections(absl::string_view transport,
                                        WatchLimit limit) const {
  MutexLock lock(&counts_mu_);
  auto it = watch_rejected_.find(
      {std::string(transport), std::string(WatchLimitName(limit))});
  return it == watch_rejected_.end() ? 0 : it->second;
}

void ClientLimits::CountUserLimit(const absl::Status& status,
                                  absl::string_view transport) {
  const std::optional<UserLimit> limit = UserLimitOf(status);
  if (!limit.has_value()) return;
  MutexLock lock(&counts_mu_);
  ++user_limit_rejected_[{std::string(transport), UserLimitLabel(*limit)}];
}

uint64_t ClientLimits::user_limit_rejections(absl::string_view transport,
                                             UserLimit limit) const {
  MutexLock lock(&counts_mu_);
  auto it = user_limit_rejected_.find(
      {std::string(transport), UserLimitLabel(limit)});
  return it == user_limit_rejected_.end() ? 0 : it->second;
}

void ClientLimits::Collect(MetricsWriter& out) const {
  std::map<Labels, uint64_t> rate_limited;
  std::map<Labels, uint64_t> watch_rejected;
  std::map<Labels, uint64_t> user_limit_rejected;
  {
    MutexLock lock(&counts_mu_);
    rate_limited = rate_limited_;
    watch_rejected = watch_rejected_;
    user_limit_rejected = user_limit_rejected_;
  }
  out.Family("presence_rate_limited_total", "counter",
             "Writes refused by --write_rate_per_client, by transport and "
             "method (HTTP subscribes: heartbeats deferred).");
  WriteCounts(out, "presence_rate_limited_total", "transport", "method",
              rate_limited);
  out.Family("presence_watch_rejected_total", "counter",
             "Watches refused by --max_watchers_per_client (limit=per_client) "
             "or --max_watchers (limit=total), by transport.");
  WriteCounts(out, "presence_watch_rejected_total", "transport", "limit",
              watch_rejected);
  out.Family("presence_user_limit_rejected_total", "counter",
             "Heartbeats the store refused by --max_sessions_per_user "
             "(limit=sessions_per_user) or --max_channels_per_user "
             "(limit=channels_per_user), by transport.");
  WriteCounts(out, "presence_user_limit_rejected_total", "transport", "limit",
              user_limit_rejected);
  if (writes_ == nullptr) return;
  out.Family("presence_rate_limiter_clients", "gauge",
             "Clients whose write rate is being tracked (their bucket is "
             "refilling).");
  out.Sample("presence_rate_limiter_clients", {},
             static_cast<double>(writes_->clients()));
  out.Family("presence_rate_limiter_evictions_total", "counter",
             "Clients forgotten before their bucket refilled because "
             "--write_rate_max_clients were being tracked.");
  out.Sample("presence_rate_limiter_evictions_total", {},
             static_cast<double>(writes_->evictions()));
}

}  // namespace presence
