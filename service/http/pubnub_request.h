// Parsing of PubNub REST request targets (path and query) into a route:
// which endpoint, the subscribe key, the channels of the path, and the
// percent-decoded query parameters. Pure: no I/O, no validation of names
// (the Presence facade validates them).
//
//   absl::StatusOr<PubNubRequest> r = ParsePubNubTarget(
//       "/v2/presence/sub-key/demo/channel/a,b%20c/heartbeat?heartbeat=60");
//   // r->endpoint == PubNubEndpoint::kHeartbeat, r->sub_key == "demo",
//   // r->channels == {"a", "b c"}, r->Query("heartbeat") == "60".
//
// Wire rules (docs/pubnub-presence.md §1): the path's channel list is
// percent-encoded names joined with a literal ',', and "," alone is the
// empty list; a query value is decoded first and then split on ','
// ("cg1%2Ccg2"). Both "sub-key" and "sub_key" spell the key segment. '+' is
// a literal plus sign (the SDKs percent-encode spaces as %20).
#ifndef SERVICE_HTTP_PUBNUB_REQUEST_H_
#define SERVICE_HTTP_PUBNUB_REQUEST_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace presence {

enum class PubNubEndpoint {
  kHereNow,        // /v2/presence/sub-key/{sk}/channel/{chs}
  kGlobalHereNow,  // /v2/presence/sub-key/{sk}
  kWhereNow,       // /v2/presence/sub-key/{sk}/uuid/{uuid}
  kHeartbeat,      // .../channel/{chs}/heartbeat
  kLeave,          // .../channel/{chs}/leave
  kSetState,       // .../channel/{chs}/uuid/{uuid}/data
  kGetState,       // .../channel/{chs}/uuid/{uuid}
  kAddChannels,  // /v1/channel-registration/sub-key/{sk}/channel-group/{cg}?add=
  kRemoveChannels,   // ...?remove=
  kListChannels,     // .../channel-group/{cg}
  kListGroups,       // .../channel-group
  kDeleteGroup,      // .../channel-group/{cg}/remove
  kSubscribe,        // /v2/subscribe/{sk}/{chs}/0
  kTime,             // /time/0
  kUnknownPresence,  // under a presence prefix, but no endpoint matches
  kOtherFeature,     // publish, history, ...: not served (PubNub's 402)
};
inline constexpr int kPubNubEndpointCount =
    static_cast<int>(PubNubEndpoint::kOtherFeature) + 1;

// Returns a short name for metrics and logs, e.g. "here_now".
absl::string_view PubNubEndpointName(PubNubEndpoint endpoint);

// Whether the endpoint is a channel-registration (channel group) call, whose
// answers carry `"service": "channel-registry"`.
bool IsChannelRegistry(PubNubEndpoint endpoint);

struct PubNubRequest {
  PubNubEndpoint endpoint = PubNubEndpoint::kOtherFeature;
  std::string sub_key;
  // The path's channel list, decoded; empty for the "," placeholder.
  std::vector<std::string> channels;
  // The {uuid} path segment (where now, get and set state).
  std::string path_uuid;
  // The {cg} path segment (channel registration).
  std::string group;
  // Query parameters, decoded, in order (the first of a repeated name wins).
  std::vector<std::pair<std::string, std::string>> query;

  // Returns the decoded value of a query parameter, or nullopt if absent.
  std::optional<std::string> Query(absl::string_view name) const;
  // Like Query, for parameters with two spellings (disable_uuids and
  // disable-uuids); the first name wins.
  std::optional<std::string> Query(absl::string_view name,
                                   absl::string_view alias) const;
};

// Parses an HTTP request-target ("/path?query"). INVALID_ARGUMENT for
// malformed percent-encoding, naming the path or the parameter.
absl::StatusOr<PubNubRequest> ParsePubNubTarget(absl::string_view target);

// Decodes %XX escapes; nullopt when an escape is malformed.
std::optional<std::string> PercentDecode(absl::string_view text);

// Splits a decoded list value ("cg1,cg2") on ',', dropping empty items.
std::vector<std::string> SplitNameList(absl::string_view value);

// Parses a boolean query value: 1, 0, true or false (any case).
// INVALID_ARGUMENT naming `field` otherwise.
absl::StatusOr<bool> ParsePubNubBool(absl::string_view field,
                                     absl::string_view value);

}  // namespace presence

#endif  // SERVICE_HTTP_PUBNUB_REQUEST_H_
