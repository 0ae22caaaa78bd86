// The JSON that presence_cli prints for each result of the C++ client SDK.
//
// Each result becomes an object whose members are the response message's
// fields under their proto names (snake_case), e.g. a HeartbeatResult:
//   {"heartbeat_interval_seconds":149,"timeout_seconds":300}
// with these differences from the proto3 JSON mapping (which grpcurl uses):
// names stay snake_case, every field is printed even when it has its default
// value, and a watch event's action is the SDK's ActionName() ("join").
// 64-bit integers (a watch event's sequence) are strings, as in proto3 JSON,
// because JSON numbers lose precision beyond 2^53.

#ifndef PRESENCE_CLIENT_CLI_OUTPUT_H_
#define PRESENCE_CLIENT_CLI_OUTPUT_H_

#include "client/json.h"
#include "client/presence_client.h"

namespace presence::cli {

client::Json ToJson(const client::HereNowResult& result);
client::Json ToJson(const client::WhereNowResult& result);
client::Json ToJson(const client::SetStateResult& result);
client::Json ToJson(const client::GetStateResult& result);
client::Json ToJson(const client::HeartbeatResult& result);
client::Json ToJson(const client::LeaveResult& result);
client::Json ToJson(const client::ListChannelsResult& result);
client::Json ToJson(const client::ListGroupsResult& result);
// {"token": "...", "expire_time": "<RFC 3339, UTC>"}.
client::Json ToJson(const client::GrantTokenResult& result);

// A watch event: channel, action, occupancy, time (RFC 3339, UTC) and
// sequence always; user_id when the action has a user; state when the event
// carries one; join, leave, timeout and here_now_refresh for interval events.
client::Json ToJson(const client::WatchEvent& event);

}  // namespace presence::cli

#endif  // PRESENCE_CLIENT_CLI_OUTPUT_H_
