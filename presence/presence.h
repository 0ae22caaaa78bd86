// Presence: the presence library's front door. It validates every request
// against Limits (presence/internal/validation.h), normalises it (sorted,
// de-duplicated names; canonical state; resolved timeout and page size) and
// hands it to a PresenceStore. Nothing reaches a store unvalidated, so every
// store answers bad input identically: INVALID_ARGUMENT naming the field and
// the rule, and nothing changed.
//
//   auto store = presence::NewMemoryStore({}, presence::Clock::Real());
//   presence::Presence presence(store.get(), presence::Limits());
//   presence::HeartbeatRequest hb;
//   hb.user_id = "alice";
//   hb.channels = {"lobby"};
//   absl::StatusOr<presence::HeartbeatResult> r = presence.Heartbeat(hb);
//   // r->timeout_seconds == 300, r->heartbeat_interval_seconds == 149
//
// Thread-safe (the store is).
#ifndef PRESENCE_PRESENCE_H_
#define PRESENCE_PRESENCE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "presence/limits.h"
#include "presence/store.h"
#include "presence/types.h"

namespace presence {

class Presence {
 public:
  // `store` must outlive this object.
  Presence(PresenceStore* store, const Limits& limits)
      : store_(store), limits_(limits) {}

  absl::StatusOr<HereNowResult> HereNow(HereNowRequest request);
  absl::StatusOr<WhereNowResult> WhereNow(const WhereNowRequest& request);
  absl::StatusOr<SetStateResult> SetState(SetStateRequest request);
  absl::StatusOr<GetStateResult> GetState(GetStateRequest request);
  // Returns the applied timeout and the interval at which a client should
  // send heartbeats: max(1, timeout / 2 - 1).
  absl::StatusOr<HeartbeatResult> Heartbeat(HeartbeatRequest request);
  absl::StatusOr<LeaveResult> Leave(LeaveRequest request);

  // Validates and normalises the channels and groups of a watch (none of
  // either means every channel).
  absl::Status NormalizeWatch(std::vector<std::string>& channels,
                              std::vector<std::string>& groups) const;

  absl::Status AddChannelsToGroup(absl::string_view group,
                                  std::vector<std::string> channels);
  absl::Status RemoveChannelsFromGroup(absl::string_view group,
                                       std::vector<std::string> channels);
  absl::StatusOr<std::vector<std::string>> ListChannelsInGroup(
      absl::string_view group);
  absl::StatusOr<std::vector<std::string>> ListGroups();
  absl::Status DeleteGroup(absl::string_view group);

  const Limits& limits() const { return limits_; }
  PresenceStore* store() const { return store_; }

 private:
  PresenceStore* const store_;
  const Limits limits_;
};

}  // namespace presence

#endif  // PRESENCE_PRESENCE_H_
