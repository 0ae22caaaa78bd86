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

#include <cstddef>
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
  // Validates each entry on its own (a bad one gets INVALID_ARGUMENT naming
  // it, e.g. "entries[3].heartbeat.channels[0]: ...", and the others go
  // ahead) and applies the valid ones as Heartbeat and Leave would. Fails
  // as a whole only with more than Limits::max_batch_entries entries.
  absl::StatusOr<BatchResult> Batch(BatchRequest request);

  // The same calls, answered through `done` (see store.h): for servers,
  // which must not park a thread while a store waits on its backend.
  // Invalid requests are answered before the call returns.
  void HereNowAsync(HereNowRequest request, StoreCallback<HereNowResult> done);
  void WhereNowAsync(const WhereNowRequest& request,
                     StoreCallback<WhereNowResult> done);
  void SetStateAsync(SetStateRequest request,
                     StoreCallback<SetStateResult> done);
  void GetStateAsync(GetStateRequest request,
                     StoreCallback<GetStateResult> done);
  void HeartbeatAsync(HeartbeatRequest request,
                      StoreCallback<HeartbeatResult> done);
  void LeaveAsync(LeaveRequest request, StoreCallback<LeaveResult> done);
  void BatchAsync(BatchRequest request, StoreCallback<BatchResult> done);

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

  void AddChannelsToGroupAsync(absl::string_view group,
                               std::vector<std::string> channels,
                               StoreStatusCallback done);
  void RemoveChannelsFromGroupAsync(absl::string_view group,
                                    std::vector<std::string> channels,
                                    StoreStatusCallback done);
  void ListChannelsInGroupAsync(absl::string_view group,
                                StoreCallback<std::vector<std::string>> done);
  void ListGroupsAsync(StoreCallback<std::vector<std::string>> done);
  void DeleteGroupAsync(absl::string_view group, StoreStatusCallback done);

  const Limits& limits() const { return limits_; }
  PresenceStore* store() const { return store_; }

 private:
  // A batch after validation: the results of the invalid entries, and the
  // valid entries with their positions in the request.
  struct PreparedBatch {
    BatchResult result;
    std::vector<BatchEntry> valid;
    std::vector<size_t> positions;
  };

  // Validate and normalise a request in place; INVALID_ARGUMENT naming the
  // field and the rule.
  absl::Status PrepareHereNow(HereNowRequest& request) const;
  absl::Status PrepareWhereNow(const WhereNowRequest& request) const;
  absl::Status PrepareSetState(SetStateRequest& request) const;
  absl::Status PrepareGetState(GetStateRequest& request) const;
  absl::Status PrepareHeartbeat(HeartbeatRequest& request) const;
  absl::Status PrepareLeave(LeaveRequest& request) const;
  absl::Status PrepareGroupChannels(absl::string_view group,
                                    std::vector<std::string>& channels) const;
  absl::StatusOr<PreparedBatch> PrepareBatch(BatchRequest& request) const;
  // Returns the batch's answer from the store's results for the valid
  // entries.
  static BatchResult MergeBatch(PreparedBatch& prepared,
                                std::vector<BatchEntryResult> applied);

  PresenceStore* const store_;
  const Limits limits_;
};

}  // namespace presence

#endif  // PRESENCE_PRESENCE_H_
