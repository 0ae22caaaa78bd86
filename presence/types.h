// The requests and results of the presence library: plain values, no gRPC.
//
// State is carried as compact JSON text of an object ("" means no state).
// Names and ids are UTF-8 strings; see presence/internal/validation.h for the
// rules.
#ifndef PRESENCE_TYPES_H_
#define PRESENCE_TYPES_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace presence {

struct HereNowRequest {
  std::vector<std::string> channels;
  std::vector<std::string> channel_groups;
  bool include_user_ids = true;
  bool include_state = false;
  // Occupants per channel; 0 means Limits::max_here_now_limit.
  uint32_t limit = 0;
  uint32_t offset = 0;
};

struct Occupant {
  std::string user_id;
  std::string state;  // JSON object text; empty when none or not requested.

  bool operator==(const Occupant& o) const {
    return user_id == o.user_id && state == o.state;
  }
};

struct ChannelOccupancy {
  std::string name;
  uint32_t occupancy = 0;
  std::vector<Occupant> occupants;  // One page, ordered by user_id.
};

struct HereNowResult {
  uint32_t total_channels = 0;
  uint32_t total_occupancy = 0;
  std::vector<ChannelOccupancy> channels;  // Ordered by name.
};

struct WhereNowRequest {
  std::string user_id;
};

struct WhereNowResult {
  std::vector<std::string> channels;  // Sorted.
};

struct SetStateRequest {
  std::string user_id;
  std::vector<std::string> channels;
  std::vector<std::string> channel_groups;
  std::string state;  // JSON object text.
};

struct SetStateResult {
  std::vector<std::string> channels;  // Where the state was set, sorted.
  std::string state;
};

struct GetStateRequest {
  std::string user_id;
  std::vector<std::string> channels;
  std::vector<std::string> channel_groups;
};

struct ChannelState {
  std::string channel;
  std::string state;  // Empty when present without state.

  bool operator==(const ChannelState& o) const {
    return channel == o.channel && state == o.state;
  }
};

struct GetStateResult {
  std::vector<ChannelState> states;  // Channels where present, sorted.
};

struct HeartbeatRequest {
  std::string user_id;
  std::vector<std::string> channels;
  std::vector<std::string> channel_groups;
  // 0 means Limits::default_timeout_seconds.
  uint32_t timeout_seconds = 0;
  // State to set, keyed by a channel or group named in the request.
  std::vector<std::pair<std::string, std::string>> states;
  std::string session_id;
};

struct HeartbeatResult {
  uint32_t timeout_seconds = 0;
  uint32_t heartbeat_interval_seconds = 0;
};

struct LeaveRequest {
  std::string user_id;
  std::vector<std::string> channels;
  std::vector<std::string> channel_groups;
  std::string session_id;
};

struct LeaveResult {
  std::vector<std::string> channels;  // Channels the user left, sorted.
};

// One entry of a batch: one user's heartbeat or leave, with the semantics
// and events of the single call.
struct BatchEntry {
  enum class Kind { kHeartbeat, kLeave };
  Kind kind = Kind::kHeartbeat;
  HeartbeatRequest heartbeat;  // When kind is kHeartbeat.
  LeaveRequest leave;          // When kind is kLeave.
};

struct BatchRequest {
  std::vector<BatchEntry> entries;
};

// The outcome of one entry: an error (naming the entry, e.g.
// "entries[3].channels[0]: ...") or the single call's result.
struct BatchEntryResult {
  absl::Status status;
  HeartbeatResult heartbeat;  // Heartbeats, when status is OK.
  LeaveResult leave;          // Leaves, when status is OK.
};

struct BatchResult {
  std::vector<BatchEntryResult> results;  // One per entry, in order.
};

// How much presence a store holds now (for metrics).
struct StoreStats {
  uint64_t channels = 0;     // Occupied channels.
  uint64_t memberships = 0;  // (user, channel) pairs present.
  uint64_t sessions = 0;     // (session, channel) pairs alive.
};

}  // namespace presence

#endif  // PRESENCE_TYPES_H_
