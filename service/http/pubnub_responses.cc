#include "service/http/pubnub_responses.h"

#include "absl/strings/str_cat.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "service/http/timetoken.h"

namespace presence {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void String(Writer& w, absl::string_view text) {
  w.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

void Key(Writer& w, absl::string_view key) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}

// A library state (compact JSON object text, "" for none) as a value.
void State(Writer& w, absl::string_view state) {
  if (state.empty()) state = "{}";
  w.RawValue(state.data(), state.size(), rapidjson::kObjectType);
}

void StringArray(Writer& w, const std::vector<std::string>& items) {
  w.StartArray();
  for (const std::string& item : items) String(w, item);
  w.EndArray();
}

std::string Done(const rapidjson::StringBuffer& buffer) {
  return std::string(buffer.GetString(), buffer.GetSize());
}

// "status":200,"message":"OK","service":"Presence" (part of an object).
void PresenceOk(Writer& w) {
  Key(w, "status");
  w.Int(200);
  Key(w, "message");
  String(w, "OK");
  Key(w, "service");
  String(w, "Presence");
}

void Occupants(Writer& w, const ChannelOccupancy* channel, HereNowUuids uuids) {
  if (uuids == HereNowUuids::kOmit) return;
  Key(w, "uuids");
  w.StartArray();
  if (channel != nullptr && uuids != HereNowUuids::kEmpty) {
    for (const Occupant& occupant : channel->occupants) {
      if (uuids == HereNowUuids::kIds) {
        String(w, occupant.user_id);
        continue;
      }
      w.StartObject();
      Key(w, "uuid");
      String(w, occupant.user_id);
      if (!occupant.state.empty()) {
        Key(w, "state");
        State(w, occupant.state);
      }
      w.EndObject();
    }
  }
  w.EndArray();
}

void RegistryOkTail(Writer& w) {
  Key(w, "service");
  String(w, "channel-registry");
  Key(w, "error");
  w.Bool(false);
}

}  // namespace

std::string HereNowFlatBody(const ChannelOccupancy* channel,
                            HereNowUuids uuids) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  PresenceOk(w);
  Occupants(w, channel, uuids);
  Key(w, "occupancy");
  w.Uint(channel == nullptr ? 0 : channel->occupancy);
  w.EndObject();
  return Done(buffer);
}

std::string HereNowPayloadBody(const HereNowResult& result,
                               HereNowUuids uuids) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  PresenceOk(w);
  Key(w, "payload");
  w.StartObject();
  Key(w, "channels");
  w.StartObject();
  uint64_t total_occupancy = 0;
  for (const ChannelOccupancy& channel : result.channels) {
    Key(w, channel.name);
    w.StartObject();
    Occupants(w, &channel, uuids);
    Key(w, "occupancy");
    w.Uint(channel.occupancy);
    w.EndObject();
    total_occupancy += channel.occupancy;
  }
  w.EndObject();
  Key(w, "total_channels");
  w.Uint64(result.channels.size());
  Key(w, "total_occupancy");
  w.Uint64(total_occupancy);
  w.EndObject();
  w.EndObject();
  return Done(buffer);
}

std::string WhereNowBody(const WhereNowResult& result) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  Key(w, "status");
  w.Int(200);
  Key(w, "message");
  String(w, "OK");
  Key(w, "payload");
  w.StartObject();
  Key(w, "channels");
  StringArray(w, result.channels);
  w.EndObject();
  Key(w, "service");
  String(w, "Presence");
  w.EndObject();
  return Done(buffer);
}

std::string HeartbeatBody() {
  return R"({"status":200,"message":"OK","service":"Presence"})";
}

std::string LeaveBody() {
  return R"({"status":200,"action":"leave","message":"OK","service":"Presence"})";
}

std::string SetStateBody(absl::string_view state) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  Key(w, "status");
  w.Int(200);
  Key(w, "message");
  String(w, "OK");
  Key(w, "payload");
  State(w, state);
  Key(w, "service");
  String(w, "Presence");
  w.EndObject();
  return Done(buffer);
}

std::string GetStateSingleBody(absl::string_view uuid,
                               absl::string_view channel,
                               absl::string_view state) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  Key(w, "status");
  w.Int(200);
  Key(w, "uuid");
  String(w, uuid);
  Key(w, "service");
  String(w, "Presence");
  Key(w, "message");
  String(w, "OK");
  Key(w, "payload");
  State(w, state);
  Key(w, "channel");
  String(w, channel);
  w.EndObject();
  return Done(buffer);
}

std::string GetStateMultiBody(absl::string_view uuid,
                              const std::vector<ChannelState>& states) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  Key(w, "status");
  w.Int(200);
  Key(w, "message");
  String(w, "OK");
  Key(w, "payload");
  w.StartObject();
  Key(w, "channels");
  w.StartObject();
  for (const ChannelState& state : states) {
    Key(w, state.channel);
    State(w, state.state);
  }
  w.EndObject();
  w.EndObject();
  Key(w, "service");
  String(w, "Presence");
  Key(w, "uuid");
  String(w, uuid);
  w.EndObject();
  return Done(buffer);
}

std::string ChannelRegistryOkBody() {
  return R"({"status":200,"message":"OK","service":"channel-registry","error":false})";
}

std::string ListChannelsBody(absl::string_view group,
                             const std::vector<std::string>& channels) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  Key(w, "status");
  w.Int(200);
  Key(w, "payload");
  w.StartObject();
  Key(w, "channels");
  StringArray(w, channels);
  Key(w, "group");
  String(w, group);
  w.EndObject();
  RegistryOkTail(w);
  w.EndObject();
  return Done(buffer);
}

std::string ListGroupsBody(absl::string_view sub_key,
                           const std::vector<std::string>& groups) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  Key(w, "status");
  w.Int(200);
  Key(w, "payload");
  w.StartObject();
  Key(w, "sub_key");
  String(w, sub_key);
  Key(w, "groups");
  StringArray(w, groups);
  w.EndObject();
  RegistryOkTail(w);
  w.EndObject();
  return Done(buffer);
}

std::string TimeBody(uint64_t timetoken) {
  return absl::StrCat("[", timetoken, "]");
}

std::string PresenceEventPayload(const PresenceEvent& event) {
  if (event.type == EventType::kActive || event.type == EventType::kInactive) {
    return "";
  }
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  Key(w, "action");
  String(w, EventTypeName(event.type));
  if (event.type != EventType::kInterval) {
    Key(w, "uuid");
    String(w, event.user_id);
  }
  Key(w, "timestamp");
  w.Int64(absl::ToUnixSeconds(event.time));
  Key(w, "occupancy");
  w.Uint(event.occupancy);
  if (event.type == EventType::kStateChange ||
      (event.type == EventType::kJoin && !event.state.empty())) {
    Key(w, "data");
    State(w, event.state);
  }
  if (event.type == EventType::kInterval) {
    const std::pair<absl::string_view, const std::vector<std::string>*>
        lists[] = {{"join", &event.joined},
                   {"leave", &event.left},
                   {"timeout", &event.timed_out}};
    for (const auto& [name, list] : lists) {
      if (list->empty()) continue;
      Key(w, name);
      StringArray(w, *list);
    }
    Key(w, "here_now_refresh");
    w.Bool(event.here_now_refresh);
  }
  w.EndObject();
  return Done(buffer);
}

std::string SubscribeBody(uint64_t cursor, int region,
                          absl::string_view sub_key,
                          const std::vector<SubscribeMessage>& messages) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  Key(w, "t");
  w.StartObject();
  Key(w, "t");
  String(w, TimetokenString(cursor));
  Key(w, "r");
  w.Int(region);
  w.EndObject();
  Key(w, "m");
  w.StartArray();
  for (const SubscribeMessage& message : messages) {
    w.StartObject();
    Key(w, "a");
    String(w, "2");
    Key(w, "f");
    w.Int(0);
    Key(w, "p");
    w.StartObject();
    Key(w, "t");
    String(w, TimetokenString(message.timetoken));
    Key(w, "r");
    w.Int(region);
    w.EndObject();
    Key(w, "k");
    String(w, sub_key);
    Key(w, "c");
    String(w, absl::StrCat(message.channel, "-pnpres"));
    Key(w, "d");
    w.RawValue(message.payload.data(), message.payload.size(),
               rapidjson::kObjectType);
    Key(w, "b");
    String(w, message.subscription);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return Done(buffer);
}

}  // namespace presence
