// The JSON bodies of PubNub's REST presence API, in the shapes the real
// service sends (docs/pubnub-presence.md §3 and §4.4). Pure functions.
//
//   std::string body = WhereNowBody(result);
//   //
//   {"status":200,"message":"OK","payload":{"channels":["a","b"]},"service":"Presence"}
//
// States are the library's compact JSON object text ("" is no state) and
// are embedded as they are.
#ifndef SERVICE_HTTP_PUBNUB_RESPONSES_H_
#define SERVICE_HTTP_PUBNUB_RESPONSES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "presence/event.h"
#include "presence/types.h"

namespace presence {

// How here_now lists a channel's occupants.
enum class HereNowUuids {
  kOmit,       // disable_uuids: occupancy only, no "uuids" field.
  kEmpty,      // limit=0 (count only): "uuids": [] (SDKs map over it).
  kIds,        // "uuids": ["a", "b"].
  kWithState,  // "uuids": [{"uuid":"a","state":{..}}, {"uuid":"b"}].
};

// The flat shape, for a request of exactly one channel and no group:
// {"status":200,"message":"OK","service":"Presence","uuids":[..],"occupancy":n}.
// `channel` is the result for that channel (nullptr: nobody there).
std::string HereNowFlatBody(const ChannelOccupancy* channel,
                            HereNowUuids uuids);

// The payload shape, for several channels, any group, or global:
// {"status":200,"message":"OK","service":"Presence","payload":{"channels":
// {"a":{"uuids":[..],"occupancy":1}},"total_channels":1,"total_occupancy":1}}.
std::string HereNowPayloadBody(const HereNowResult& result, HereNowUuids uuids);

// {"status":200,"message":"OK","payload":{"channels":[..]},"service":"Presence"}
std::string WhereNowBody(const WhereNowResult& result);

// Heartbeat: {"status":200,"message":"OK","service":"Presence"}.
std::string HeartbeatBody();

// {"status":200,"action":"leave","message":"OK","service":"Presence"}
std::string LeaveBody();

// {"status":200,"message":"OK","payload":<state>,"service":"Presence"}
std::string SetStateBody(absl::string_view state);

// One channel, no group: {"status":200,"uuid":u,"service":"Presence",
// "message":"OK","payload":<state>,"channel":ch}.
std::string GetStateSingleBody(absl::string_view uuid,
                               absl::string_view channel,
                               absl::string_view state);

// Otherwise: {"status":200,"message":"OK","payload":{"channels":{ch:<state>}},
// "service":"Presence","uuid":u}.
std::string GetStateMultiBody(absl::string_view uuid,
                              const std::vector<ChannelState>& states);

// Add, remove, delete: {"status":200,"message":"OK","service":
// "channel-registry","error":false}.
std::string ChannelRegistryOkBody();

// {"status":200,"payload":{"channels":[..],"group":cg},"service":
// "channel-registry","error":false} (no "message", as the real service).
std::string ListChannelsBody(absl::string_view group,
                             const std::vector<std::string>& channels);

// {"status":200,"payload":{"sub_key":sk,"groups":[..]},"service":
// "channel-registry","error":false}
std::string ListGroupsBody(absl::string_view sub_key,
                           const std::vector<std::string>& groups);

// /time/0: [<timetoken>].
std::string TimeBody(uint64_t timetoken);

// The `d` of a presence event's envelope, or "" for events PubNub has no
// presence action for (active, inactive):
//   {"action":"join","uuid":u,"timestamp":<s>,"occupancy":n[,"data":{..}]}
//   {"action":"state-change","uuid":u,"timestamp":<s>,"occupancy":n,"data":{..}}
//   {"action":"interval","timestamp":<s>,"occupancy":n[,"join":[..]]
//    [,"leave":[..]][,"timeout":[..]],"here_now_refresh":false}
std::string PresenceEventPayload(const PresenceEvent& event);

// One presence event of a subscribe answer.
struct SubscribeMessage {
  uint64_t timetoken = 0;
  absl::string_view channel;       // The channel, without "-pnpres".
  absl::string_view payload;       // PresenceEventPayload().
  absl::string_view subscription;  // What the client subscribed to ("b").
};

// {"t":{"t":"<cursor>","r":<region>},"m":[envelopes]}, each envelope
// {"a":"2","f":0,"p":{"t":"<tt>","r":<region>},"k":<sub_key>,
//  "c":"<channel>-pnpres","d":<payload>,"b":<subscription>}.
std::string SubscribeBody(uint64_t cursor, int region,
                          absl::string_view sub_key,
                          const std::vector<SubscribeMessage>& messages);

}  // namespace presence

#endif  // SERVICE_HTTP_PUBNUB_RESPONSES_H_
