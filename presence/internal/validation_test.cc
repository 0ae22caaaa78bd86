#include "presence/internal/validation.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace presence {
namespace {

using ::testing::HasSubstr;

const Limits kLimits;

void ExpectInvalid(const absl::Status& status, const std::string& part) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(part));
}

TEST(ValidationTest, UserIds) {
  EXPECT_TRUE(ValidateUserId("user_id", "alice", kLimits).ok());
  EXPECT_TRUE(ValidateUserId("user_id", "ünïcødé-用户", kLimits).ok());
  EXPECT_TRUE(ValidateUserId("user_id", "a,b:c*d/e\\f", kLimits).ok());
  EXPECT_TRUE(ValidateUserId("user_id", std::string(92, 'a'), kLimits).ok());
  // 92 characters of 3 bytes each are still 92 characters.
  std::string wide;
  for (int i = 0; i < 92; ++i) wide += "用";
  EXPECT_TRUE(ValidateUserId("user_id", wide, kLimits).ok());
  ExpectInvalid(ValidateUserId("user_id", wide + "用", kLimits),
                "93 characters");
  ExpectInvalid(ValidateUserId("user_id", "", kLimits),
                "user_id: must not be empty");
  ExpectInvalid(ValidateUserId("user_id", std::string(93, 'a'), kLimits),
                "at most 92");
  ExpectInvalid(ValidateUserId("user_id", "a b", kLimits), "whitespace ' '");
  ExpectInvalid(ValidateUserId("user_id", "a\tb", kLimits),
                "control character U+0009");
  ExpectInvalid(ValidateUserId("user_id",
                               "a\xc2\xa0"
                               "b",
                               kLimits),
                "whitespace U+00A0");
  ExpectInvalid(ValidateUserId("user_id", "a\x7f", kLimits),
                "control character U+007F");
  ExpectInvalid(ValidateUserId("user_id", "\xff", kLimits), "not valid UTF-8");
  ExpectInvalid(ValidateUserId("user_id", "\xc0\xaf", kLimits),
                "not valid UTF-8");  // Overlong.
  ExpectInvalid(ValidateUserId("user_id", "\xed\xa0\x80", kLimits),
                "not valid UTF-8");  // Surrogate.
  ExpectInvalid(ValidateUserId("user_id", "ab\xe4\xb8", kLimits),
                "not valid UTF-8");  // Truncated.
  ExpectInvalid(ValidateUserId("user_id", std::string(1000, 'a'), kLimits),
                "longer than 92");
}

TEST(ValidationTest, SessionIds) {
  EXPECT_TRUE(ValidateSessionId("session_id", "", kLimits).ok());
  EXPECT_TRUE(ValidateSessionId("session_id", "tab-1", kLimits).ok());
  ExpectInvalid(ValidateSessionId("session_id", "tab 1", kLimits),
                "session_id");
}

TEST(ValidationTest, ChannelNames) {
  EXPECT_TRUE(ValidateChannelName("c", "lobby.main_1-x", kLimits).ok());
  for (const char* bad : {",", ":", "*", "/", "\\"}) {
    ExpectInvalid(
        ValidateChannelName("channels[0]", absl::StrCat("a", bad, "b"),
                            kLimits),
        absl::StrCat("channels[0]: \"a", bad, "b\" contains '", bad, "'"));
  }
  ExpectInvalid(ValidateChannelName("c", "a b", kLimits), "whitespace");
  ExpectInvalid(ValidateChannelName("c", std::string("a\0b", 3), kLimits),
                "U+0000");
  ExpectInvalid(ValidateChannelName("c", "lobby-pnpres", kLimits), "-pnpres");
  EXPECT_TRUE(ValidateChannelName("c", "lobby-pnpresx", kLimits).ok());
  ExpectInvalid(ValidateGroupName("group", "g/1", kLimits), "group name");
}

TEST(ValidationTest, Lists) {
  std::vector<std::string> channels(1000, "c");
  EXPECT_TRUE(ValidateChannelList("channels", channels, kLimits).ok());
  channels.push_back("c");
  ExpectInvalid(ValidateChannelList("channels", channels, kLimits),
                "channels: 1001 channel names given; at most 1000 per request");
  ExpectInvalid(ValidateGroupList("channel_groups",
                                  std::vector<std::string>(11, "g"), kLimits),
                "at most 10 per request");
  ExpectInvalid(ValidateGroupList("channel_groups", {"ok", "b,ad"}, kLimits),
                "channel_groups[1]");
}

TEST(ValidationTest, StateIsCanonicalised) {
  absl::StatusOr<std::string> state = CanonicalState(
      "state", R"( { "a" : [1, 2.5, "x", null, true], "b": {} } )", kLimits);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(*state, R"({"a":[1,2.5,"x",null,true],"b":{}})");
}

TEST(ValidationTest, StateRules) {
  ExpectInvalid(CanonicalState("state", "[]", kLimits).status(),
                "state: must be a JSON object");
  ExpectInvalid(CanonicalState("state", "\"s\"", kLimits).status(),
                "must be a JSON object");
  ExpectInvalid(CanonicalState("state", "{", kLimits).status(),
                "state: not valid JSON");
  ExpectInvalid(CanonicalState("state", R"({"a":NaN})", kLimits).status(),
                "not valid JSON");
  ExpectInvalid(CanonicalState("state", R"({"a":Infinity})", kLimits).status(),
                "not valid JSON");
  ExpectInvalid(CanonicalState("state", R"({"a":1e999})", kLimits).status(),
                "state");
  // Past RapidJSON's exponent check, beyond a double all the same.
  ExpectInvalid(CanonicalState("state", R"({"a":1.8e308})", kLimits).status(),
                "state: not valid JSON (a number beyond a double's range at "
                "offset");

  std::string nested = "1";
  for (int depth = 1; depth <= 16; ++depth) nested = "{\"a\":" + nested + "}";
  EXPECT_TRUE(CanonicalState("state", nested, kLimits).ok());  // Depth 16.
  ExpectInvalid(
      CanonicalState("state", "{\"a\":" + nested + "}", kLimits).status(),
      "nested deeper than 16");
  // Arrays count as levels too, and huge depth does not overflow the stack.
  std::string very_deep =
      "{\"a\":" + std::string(50000, '[') + std::string(50000, ']') + "}";
  ExpectInvalid(CanonicalState("state", very_deep, kLimits).status(),
                "nested deeper");

  const std::string filler(32 * 1024 - 8, 'x');
  EXPECT_TRUE(
      CanonicalState("state", R"({"a":")" + filler + R"("})", kLimits).ok());
  ExpectInvalid(
      CanonicalState("state", R"({"ab":")" + filler + R"("})", kLimits)
          .status(),
      "32769 bytes serialized; at most 32768");
  // Whitespace does not count against the limit.
  EXPECT_TRUE(
      CanonicalState("state", R"({"a":   ")" + filler + R"("   })", kLimits)
          .ok());
}

}  // namespace
}  // namespace presence
