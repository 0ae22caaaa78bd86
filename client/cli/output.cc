#include "client/cli/output.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace presence::cli {
namespace {

using client::Json;

// RFC 3339 with "Z", as in proto3 JSON's Timestamp (absl::RFC3339_full would
// print "+00:00"), with as many fractional digits as needed.
constexpr char kRfc3339Utc[] = "%Y-%m-%d%ET%H:%M:%E*SZ";

Json Strings(const std::vector<std::string>& values) {
  return Json::Array(values.begin(), values.end());
}

}  // namespace

Json ToJson(const client::HereNowResult& result) {
  Json::Array channels;
  channels.reserve(result.channels.size());
  for (const client::HereNowChannel& channel : result.channels) {
    Json::Array occupants;
    occupants.reserve(channel.occupants.size());
    for (const client::HereNowUser& user : channel.occupants) {
      Json occupant = Json::object({{"user_id", user.user_id}});
      if (user.state.has_value()) occupant["state"] = *user.state;
      occupants.push_back(std::move(occupant));
    }
    channels.push_back(Json::object({{"name", channel.name},
                                     {"occupancy", channel.occupancy},
                                     {"occupants", std::move(occupants)}}));
  }
  return Json::object({{"total_channels", result.total_channels},
                       {"total_occupancy", result.total_occupancy},
                       {"channels", std::move(channels)}});
}

Json ToJson(const client::WhereNowResult& result) {
  return Json::object({{"channels", Strings(result.channels)}});
}

Json ToJson(const client::SetStateResult& result) {
  return Json::object(
      {{"channels", Strings(result.channels)}, {"state", result.state}});
}

Json ToJson(const client::GetStateResult& result) {
  Json::Array states;
  states.reserve(result.state.size());
  for (const client::GetStateInfo& info : result.state) {
    states.push_back(Json::object(
        {{"channel_name", info.channel_name}, {"state", info.state}}));
  }
  return Json::object({{"states", std::move(states)}});
}

Json ToJson(const client::HeartbeatResult& result) {
  return Json::object(
      {{"timeout_seconds", result.timeout_seconds},
       {"heartbeat_interval_seconds", result.heartbeat_interval_seconds}});
}

Json ToJson(const client::LeaveResult& result) {
  return Json::object({{"channels", Strings(result.channels)}});
}

Json ToJson(const client::ListChannelsResult& result) {
  return Json::object({{"channels", Strings(result.channels)}});
}

Json ToJson(const client::ListGroupsResult& result) {
  return Json::object({{"groups", Strings(result.groups)}});
}

Json ToJson(const client::GrantTokenResult& result) {
  return Json::object(
      {{"token", result.token},
       {"expire_time",
        absl::FormatTime(kRfc3339Utc, result.expires, absl::UTCTimeZone())}});
}

Json ToJson(const client::WatchEvent& event) {
  Json json = Json::object(
      {{"channel", event.channel},
       {"action", client::ActionName(event.action)},
       {"occupancy", event.occupancy},
       {"time", absl::FormatTime(kRfc3339Utc, event.time, absl::UTCTimeZone())},
       {"sequence", absl::StrCat(event.sequence)}});
  if (!event.user_id.empty()) json["user_id"] = event.user_id;
  if (event.state.has_value()) json["state"] = *event.state;
  if (event.action == client::WatchEvent::Action::kInterval) {
    json["join"] = Strings(event.join);
    json["leave"] = Strings(event.leave);
    json["timeout"] = Strings(event.timeout);
    json["here_now_refresh"] = event.here_now_refresh;
  }
  return json;
}

}  // namespace presence::cli
