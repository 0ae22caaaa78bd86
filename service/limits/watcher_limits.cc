#include "service/limits/watcher_limits.h"

#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace presence {

absl::string_view WatchLimitName(WatchLimit limit) {
  return limit == WatchLimit::kPerClient ? "per_client" : "total";
}

WatchSlot::WatchSlot(WatchSlot&& other) noexcept
    : limits_(std::exchange(other.limits_, nullptr)),
      client_(std::move(other.client_)) {}

WatchSlot& WatchSlot::operator=(WatchSlot&& other) noexcept {
  if (this != &other) {
    Release();
    limits_ = std::exchange(other.limits_, nullptr);
    client_ = std::move(other.client_);
  }
  return *this;
}

void WatchSlot::Release() {
  if (limits_ == nullptr) return;
  std::exchange(limits_, nullptr)->Release(client_);
}

absl::StatusOr<WatchSlot> WatcherLimits::Acquire(absl::string_view client,
                                                 WatchLimit* refused) {
  if (options_.per_client == 0 && options_.total == 0) return WatchSlot();
  MutexLock lock(&mu_);
  if (options_.total != 0 && total_ >= options_.total) {
    *refused = WatchLimit::kTotal;
    return absl::ResourceExhaustedError(absl::StrCat(
        "too many watches: this server has ", total_, " open (--max_watchers=",
        options_.total, "); watch again later, or through another replica"));
  }
  std::optional<std::string> counted;
  if (options_.per_client != 0) {
    uint32_t& open = per_client_[client];
    if (open >= options_.per_client) {
      *refused = WatchLimit::kPerClient;
      return absl::ResourceExhaustedError(
          absl::StrCat("too many watches: this client has ", open,
                       " open (--max_watchers_per_client=", options_.per_client,
                       "); end one before watching again"));
    }
    ++open;
    counted = std::string(client);
  }
  ++total_;
  return WatchSlot(this, std::move(counted));
}

void WatcherLimits::Release(const std::optional<std::string>& client) {
  MutexLock lock(&mu_);
  --total_;
  if (!client.has_value()) return;
  auto it = per_client_.find(*client);
  if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
}

size_t WatcherLimits::total() const {
  MutexLock lock(&mu_);
  return total_;
}

size_t WatcherLimits::of(absl::string_view client) const {
  MutexLock lock(&mu_);
  auto it = per_client_.find(client);
  return it == per_client_.end() ? 0 : it->second;
}

size_t WatcherLimits::clients() const {
  MutexLock lock(&mu_);
  return per_client_.size();
}

}  // namespace presence
