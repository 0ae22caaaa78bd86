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

// "key":"value" (part of an object).
void Member(Writer& w, absl::string_view key, absl::string_view value) {
  Key(w, key);
  String(w, value);
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

// The text of one JSON object whose members `members(w)` writes.
template <typename Members>
std::string Object(Members members) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  members(w);
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

// "status":200 (part of an object).
void Status200(Writer& w) {
  Key(w, "status");
  w.Int(200);
}

// "status":200,"message":"OK" (part of an object).
void StatusOk(Writer& w) {
  Status200(w);
  Member(w, "message", "OK");
}

// "status":200,"message":"OK","service":"Presence" (part of an object).
void PresenceOk(Writer& w) {
  StatusOk(w);
  Member(w, "service", "Presence");
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
      Member(w, "uuid", occupant.user_id);
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
  Member(w, "service", "channel-registry");
  Key(w, "error");
  w.Bool(false);
}

}  // namespace

std::string HereNowFlatBody(const ChannelOccupancy* channel,
                            HereNowUuids uuids) {
  return Object([&](Writer& w) {
    PresenceOk(w);
    Occupants(w, channel, uuids);
    Key(w, "occupancy");
    w.Uint(channel == nullptr ? 0 : channel->occupancy);
  });
}

std::string HereNowPayloadBody(const HereNowResult& result,
                               HereNowUuids uuids) {
  return Object([&](Writer& w) {
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
  });
}

std::string WhereNowBody(const WhereNowResult& result) {
  return Object([&](Writer& w) {
    StatusOk(w);
    Key(w, "payload");
    w.StartObject();
    Key(w, "channels");
    StringArray(w, result.channels);
    w.EndObject();
    Member(w, "service", "Presence");
  });
}

std::string HeartbeatBody() {
  return R"({"status":200,"message":"OK","service":"Presence"})";
}

std::string LeaveBody() {
  return R"({"status":200,"action":"leave","message":"OK","service":"Presence"})";
}

std::string SetStateBody(absl::string_view state) {
  return Object([&](Writer& w) {
    StatusOk(w);
    Key(w, "payload");
    State(w, state);
    Member(w, "service", "Presence");
  });
}

std::string GetStateSingleBody(absl::string_view uuid,
                               absl::string_view channel,
                               absl::string_view state) {
  return Object([&](Writer& w) {
    Status200(w);
    Member(w, "uuid", uuid);
    Member(w, "service", "Presence");
    Member(w, "message", "OK");
    Key(w, "payload");
    State(w, state);
    Member(w, "channel", channel);
  });
}

std::string GetStateMultiBody(absl::string_view uuid,
                              const std::vector<ChannelState>& states) {
  return Object([&](Writer& w) {
    StatusOk(w);
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
    Member(w, "service", "Presence");
    Member(w, "uuid", uuid);
  });
}

std::string ChannelRegistryOkBody() {
  return R"({"status":200,"message":"OK","service":"channel-registry","error":false})";
}

std::string ListChannelsBody(absl::string_view group,
                             const std::vector<std::string>& channels) {
  return Object([&](Writer& w) {
    Status200(w);
    Key(w, "payload");
    w.StartObject();
    Key(w, "channels");
    StringArray(w, channels);
    Member(w, "group", group);
    w.EndObject();
    RegistryOkTail(w);
  });
}

std::string ListGroupsBody(absl::string_view sub_key,
                           const std::vector<std::string>& groups) {
  return Object([&](Writer& w) {
    Status200(w);
    Key(w, "payload");
    w.StartObject();
    Member(w, "sub_key", sub_key);
    Key(w, "groups");
    StringArray(w, groups);
    w.EndObject();
    RegistryOkTail(w);
  });
}

std::string TimeBody(uint64_t timetoken) {
  return absl::StrCat("[", timetoken, "]");
}

std::string PresenceEventPayload(const PresenceEvent& event) {
  if (event.type == EventType::kActive || event.type == EventType::kInactive) {
    return "";
  }
  return Object([&](Writer& w) {
    Member(w, "action", EventTypeName(event.type));
    if (event.type != EventType::kInterval) Member(w, "uuid", event.user_id);
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
  });
}

std::string SubscribeBody(uint64_t cursor, int region,
                          absl::string_view sub_key,
                          const std::vector<SubscribeMessage>& messages) {
  // {"t":"<timetoken>","r":<region>} (a value).
  auto timetoken = [region](Writer& w, uint64_t value) {
    w.StartObject();
    Member(w, "t", TimetokenString(value));
    Key(w, "r");
    w.Int(region);
    w.EndObject();
  };
  return Object([&](Writer& w) {
    Key(w, "t");
    timetoken(w, cursor);
    Key(w, "m");
    w.StartArray();
    for (const SubscribeMessage& message : messages) {
      w.StartObject();
      Member(w, "a", "2");
      Key(w, "f");
      w.Int(0);
      Key(w, "p");
      timetoken(w, message.timetoken);
      Member(w, "k", sub_key);
      Member(w, "c", absl::StrCat(message.channel, "-pnpres"));
      Key(w, "d");
      w.RawValue(message.payload.data(), message.payload.size(),
                 rapidjson::kObjectType);
      Member(w, "b", message.subscription);
      w.EndObject();
    }
    w.EndArray();
  });
}

}  // namespace presence
