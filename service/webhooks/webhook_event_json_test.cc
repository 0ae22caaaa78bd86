// The webhook wire format: EncodeEventJson() byte for byte, and the body
// that EncodeWebhookBody() wraps around a batch.
#include "service/webhooks/webhook_event_json.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "presence/event.h"
#include "rapidjson/document.h"

namespace presence {
namespace {

// 2026-11-27T17:01:21.123Z
constexpr int64_t kEventUnixMillis = 1795798881123;

PresenceEvent MakeEvent(absl::string_view channel, uint64_t sequence,
                        EventType type = EventType::kJoin) {
  PresenceEvent event;
  event.type = type;
  event.channel = std::string(channel);
  event.user_id = absl::StrCat("user-", sequence);
  event.occupancy = 1;
  event.time = absl::FromUnixMillis(kEventUnixMillis);
  event.sequence = sequence;
  return event;
}

TEST(EncodeEventJsonTest, JoinWithState) {
  PresenceEvent event = MakeEvent("lobby", (uint64_t{1} << 32) + 1);
  event.user_id = "alice";
  event.occupancy = 3;
  event.state = R"({"mood":"happy","tags":["a",1]})";
  EXPECT_EQ(EncodeEventJson(event),
            R"({"channel":"lobby","action":"join","user_id":"alice",)"
            R"("occupancy":3,"timestamp":"2026-11-27T17:01:21.123Z",)"
            R"("timestamp_ms":1795798881123,"sequence":"4294967297",)"
            R"("state":{"mood":"happy","tags":["a",1]}})");
}

TEST(EncodeEventJsonTest, EscapesStringsAndOmitsEmptyFields) {
  PresenceEvent event = MakeEvent("room", 2, EventType::kLeave);
  event.user_id = "a\"b\\c";
  event.occupancy = 0;
  event.joined = {"ignored outside interval events"};
  EXPECT_EQ(EncodeEventJson(event),
            R"({"channel":"room","action":"leave","user_id":"a\"b\\c",)"
            R"("occupancy":0,"timestamp":"2026-11-27T17:01:21.123Z",)"
            R"("timestamp_ms":1795798881123,"sequence":"2"})");
}

TEST(EncodeEventJsonTest, IntervalWithDeltas) {
  PresenceEvent event = MakeEvent("big", 7, EventType::kInterval);
  event.user_id.clear();
  event.occupancy = 1500;
  event.joined = {"a", "b"};
  event.timed_out = {"c"};
  EXPECT_EQ(EncodeEventJson(event),
            R"({"channel":"big","action":"interval","occupancy":1500,)"
            R"("timestamp":"2026-11-27T17:01:21.123Z",)"
            R"("timestamp_ms":1795798881123,"sequence":"7",)"
            R"("join":["a","b"],"timeout":["c"]})");
}

TEST(EncodeEventJsonTest, IntervalWithHereNowRefresh) {
  PresenceEvent event = MakeEvent("big", 8, EventType::kInterval);
  event.user_id.clear();
  event.occupancy = 100000;
  event.here_now_refresh = true;
  EXPECT_EQ(EncodeEventJson(event),
            R"({"channel":"big","action":"interval","occupancy":100000,)"
            R"("timestamp":"2026-11-27T17:01:21.123Z",)"
            R"("timestamp_ms":1795798881123,"sequence":"8",)"
            R"("here_now_refresh":true})");
}

TEST(EncodeEventJsonTest, IntervalListsComeInJoinLeaveTimeoutOrder) {
  PresenceEvent event = MakeEvent("big", 9, EventType::kInterval);
  event.user_id.clear();
  event.occupancy = 21;
  event.timed_out = {"t"};
  event.left = {"l"};
  event.joined = {"j"};
  EXPECT_EQ(EncodeEventJson(event),
            R"({"channel":"big","action":"interval","occupancy":21,)"
            R"("timestamp":"2026-11-27T17:01:21.123Z",)"
            R"("timestamp_ms":1795798881123,"sequence":"9",)"
            R"("join":["j"],"leave":["l"],"timeout":["t"]})");
}

TEST(EncodeEventJsonTest, EscapesControlCharacters) {
  PresenceEvent event = MakeEvent("line\nbreak", 3);
  event.user_id = std::string("bell\x07", 5);
  const std::string json = EncodeEventJson(event);
  EXPECT_NE(json.find(R"("channel":"line\nbreak")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("user_id":"bell\u0007")"), std::string::npos) << json;
}

TEST(EncodeEventJsonTest, ActionIsTheEventTypeName) {
  for (EventType type :
       {EventType::kJoin, EventType::kLeave, EventType::kTimeout,
        EventType::kStateChange, EventType::kInterval, EventType::kActive,
        EventType::kInactive}) {
    const std::string json = EncodeEventJson(MakeEvent("c", 1, type));
    rapidjson::Document document;
    document.Parse(json.data(), json.size());
    ASSERT_FALSE(document.HasParseError()) << json;
    EXPECT_EQ(absl::string_view(document["action"].GetString()),
              EventTypeName(type));
  }
}

std::vector<std::shared_ptr<const std::string>> Jsons(
    const std::vector<std::string>& values) {
  std::vector<std::shared_ptr<const std::string>> jsons;
  for (const std::string& value : values) {
    jsons.push_back(std::make_shared<const std::string>(value));
  }
  return jsons;
}

TEST(EncodeWebhookBodyTest, WrapsTheEventsInOrder) {
  std::string body;
  EncodeWebhookBody(Jsons({R"({"a":1})", R"({"b":2})", R"({"c":3})"}), &body);
  EXPECT_EQ(body, R"({"events":[{"a":1},{"b":2},{"c":3}]})");
}

TEST(EncodeWebhookBodyTest, OneEventAndNone) {
  std::string body;
  EncodeWebhookBody(Jsons({R"({"a":1})"}), &body);
  EXPECT_EQ(body, R"({"events":[{"a":1}]})");
  EncodeWebhookBody({}, &body);
  EXPECT_EQ(body, R"({"events":[]})");
}

TEST(EncodeWebhookBodyTest, ReplacesWhatTheBufferHeld) {
  std::string body = "a previous, longer batch that must not leak into this";
  EncodeWebhookBody(Jsons({R"({"a":1})"}), &body);
  EXPECT_EQ(body, R"({"events":[{"a":1}]})");
}

TEST(EncodeWebhookBodyTest, CarriesEncodedEventsVerbatim) {
  const PresenceEvent event = MakeEvent("lobby", 5);
  std::string body;
  EncodeWebhookBody(Jsons({EncodeEventJson(event)}), &body);
  EXPECT_EQ(body, absl::StrCat(R"({"events":[)", EncodeEventJson(event), "]}"));
  rapidjson::Document document;
  document.Parse(body.data(), body.size());
  ASSERT_FALSE(document.HasParseError()) << body;
  ASSERT_EQ(document["events"].Size(), 1u);
  EXPECT_EQ(absl::string_view(document["events"][0]["sequence"].GetString()),
            "5");
}

}  // namespace
}  // namespace presence
