#include "service/webhooks/webhook_event_json.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace presence {

std::string EncodeEventJson(const PresenceEvent& event) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  const auto string = [&](absl::string_view s) {
    writer.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  const auto string_array = [&](const char* key,
                                const std::vector<std::string>& values) {
    if (values.empty()) return;
    writer.Key(key);
    writer.StartArray();
    for (const std::string& value : values) string(value);
    writer.EndArray();
  };
  writer.StartObject();
  writer.Key("channel");
  string(event.channel);
  writer.Key("action");
  string(EventTypeName(event.type));
  if (!event.user_id.empty()) {
    writer.Key("user_id");
    string(event.user_id);
  }
  writer.Key("occupancy");
  writer.Uint(event.occupancy);
  writer.Key("timestamp");
  string(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", event.time,
                          absl::UTCTimeZone()));
  writer.Key("timestamp_ms");
  writer.Int64(absl::ToUnixMillis(event.time));
  writer.Key("sequence");
  string(absl::StrCat(event.sequence));
  if (!event.state.empty()) {
    writer.Key("state");
    writer.RawValue(event.state.data(), event.state.size(),
                    rapidjson::kObjectType);
  }
  if (event.type == EventType::kInterval) {
    string_array("join", event.joined);
    string_array("leave", event.left);
    string_array("timeout", event.timed_out);
    if (event.here_now_refresh) {
      writer.Key("here_now_refresh");
      writer.Bool(true);
    }
  }
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

void EncodeWebhookBody(
    absl::Span<const std::shared_ptr<const std::string>> events,
    std::string* body) {
  // The envelope, a comma between events, and the events.
  size_t size = sizeof(R"({"events":[]})") + events.size();
  for (const auto& json : events) size += json->size();
  body->reserve(size);
  *body = R"({"events":[)";
  for (size_t i = 0; i < events.size(); ++i) {
    if (i > 0) *body += ',';
    *body += *events[i];
  }
  *body += "]}";
}

}  // namespace presence
