#include "client/cli/args.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace presence::cli {
namespace {

using client::Json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::vector<FlagSpec>& Specs() {
  static const auto* const kSpecs = new std::vector<FlagSpec>{
      {"target", FlagType::kString, "127.0.0.1:50051", "the server"},
      {"deadline", FlagType::kDuration, "10s", "the deadline"},
      {"user-id", FlagType::kString, "", "the user"},
      {"channels", FlagType::kList, "", "channels"},
      {"include-state", FlagType::kBool, "false", "include state"},
      {"limit", FlagType::kUint32, "0", "occupants per channel"},
      {"state", FlagType::kJsonObject, "", "state"},
  };
  return *kSpecs;
}

absl::StatusOr<ParsedFlags> Parse(const std::vector<std::string>& args) {
  return ParseFlags(Specs(), args);
}

// Returns the message of the error that parsing `args` gives.
std::string ErrorOf(const std::vector<std::string>& args) {
  absl::StatusOr<ParsedFlags> flags = Parse(args);
  EXPECT_EQ(flags.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(flags.status().message());
}

TEST(ParseFlagsTest, GivesDefaultsWhenNothingIsGiven) {
  absl::StatusOr<ParsedFlags> flags = Parse({});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_FALSE(flags->Has("target"));
  EXPECT_EQ(flags->GetString("target"), "127.0.0.1:50051");
  EXPECT_EQ(flags->GetDuration("deadline"), absl::Seconds(10));
  EXPECT_EQ(flags->GetString("user-id"), "");
  EXPECT_THAT(flags->GetList("channels"), IsEmpty());
  EXPECT_FALSE(flags->GetBool("include-state"));
  EXPECT_EQ(flags->GetUint32("limit"), 0u);
  EXPECT_EQ(flags->GetJson("state"), Json(Json::Object()));
}

TEST(ParseFlagsTest, AcceptsEqualsAndSpaceForms) {
  absl::StatusOr<ParsedFlags> flags =
      Parse({"--target=10.0.0.1:1", "--user-id", "alice", "--channels",
             "lobby,hall", "--limit=7", "--deadline", "500ms"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_TRUE(flags->Has("target"));
  EXPECT_EQ(flags->GetString("target"), "10.0.0.1:1");
  EXPECT_EQ(flags->GetString("user-id"), "alice");
  EXPECT_THAT(flags->GetList("channels"), ElementsAre("lobby", "hall"));
  EXPECT_EQ(flags->GetUint32("limit"), 7u);
  EXPECT_EQ(flags->GetDuration("deadline"), absl::Milliseconds(500));
}

TEST(ParseFlagsTest, ValueMayContainEqualsSigns) {
  absl::StatusOr<ParsedFlags> flags = Parse({"--user-id=a=b"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->GetString("user-id"), "a=b");
}

TEST(ParseFlagsTest, BoolIsBareOrExplicit) {
  absl::StatusOr<ParsedFlags> bare = Parse({"--include-state"});
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_TRUE(bare->GetBool("include-state"));

  absl::StatusOr<ParsedFlags> on = Parse({"--include-state=true"});
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_TRUE(on->GetBool("include-state"));

  absl::StatusOr<ParsedFlags> off = Parse({"--include-state=false"});
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_FALSE(off->GetBool("include-state"));
  EXPECT_TRUE(off->Has("include-state"));

  EXPECT_THAT(ErrorOf({"--include-state=yes"}),
              HasSubstr("expected true or false"));
}

TEST(ParseFlagsTest, BareBoolDoesNotTakeTheNextArgument) {
  std::string error = ErrorOf({"--include-state", "false"});
  EXPECT_THAT(error, HasSubstr("unexpected argument \"false\""));
  EXPECT_THAT(error, HasSubstr("--include-state=VALUE"));
}

TEST(ParseFlagsTest, ListsAccumulateAndKeepEmptyItems) {
  absl::StatusOr<ParsedFlags> flags =
      Parse({"--channels=a,b", "--channels", "c", "--channels=d,,e"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_THAT(flags->GetList("channels"),
              ElementsAre("a", "b", "c", "d", "", "e"));

  absl::StatusOr<ParsedFlags> empty = Parse({"--channels="});
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->Has("channels"));
  EXPECT_THAT(empty->GetList("channels"), IsEmpty());
}

TEST(ParseFlagsTest, ParsesJsonObjects) {
  absl::StatusOr<ParsedFlags> flags = Parse({R"(--state={"mood":"happy"})"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->GetJson("state"), Json::object({{"mood", "happy"}}));

  EXPECT_THAT(ErrorOf({"--state=[1]"}), HasSubstr("expected a JSON object"));
  EXPECT_THAT(ErrorOf({"--state={"}), HasSubstr("invalid JSON"));
}

TEST(ParseFlagsTest, RejectsMalformedNumbersAndDurations) {
  for (const char* bad : {"--limit=-1", "--limit=+1", "--limit=", "--limit=x",
                          "--limit=4294967296", "--limit= 1"}) {
    EXPECT_THAT(ErrorOf({bad}), HasSubstr("expected a number")) << bad;
  }
  EXPECT_EQ(Parse({"--limit=4294967295"})->GetUint32("limit"), 4294967295u);
  EXPECT_THAT(ErrorOf({"--deadline=10"}), HasSubstr("expected a duration"));
  EXPECT_THAT(ErrorOf({"--deadline=0s"}), HasSubstr("must be positive"));
  EXPECT_THAT(ErrorOf({"--deadline=-1s"}), HasSubstr("must be positive"));
}

TEST(ParseFlagsTest, RejectsUnknownFlagsAndPositionalArguments) {
  EXPECT_EQ(ErrorOf({"--bogus=1"}), "unknown flag --bogus");
  EXPECT_EQ(ErrorOf({"--bogus"}), "unknown flag --bogus");
  EXPECT_EQ(ErrorOf({"lobby"}), "unexpected argument \"lobby\"");
  EXPECT_EQ(ErrorOf({"-x"}), "unexpected argument \"-x\"");
  EXPECT_EQ(ErrorOf({"--"}), "unexpected argument \"--\"");
}

TEST(ParseFlagsTest, RejectsMissingValues) {
  EXPECT_EQ(ErrorOf({"--user-id"}), "flag --user-id needs a value");
  // A flag after a flag is not taken as its value.
  EXPECT_EQ(ErrorOf({"--user-id", "--channels=a"}),
            "flag --user-id needs a value");
}

TEST(ParseFlagsTest, RejectsRepeatedScalarFlags) {
  EXPECT_EQ(ErrorOf({"--user-id=a", "--user-id=b"}),
            "flag --user-id is given more than once");
}

TEST(ParseFlagsTest, RejectsMissingRequiredFlags) {
  const std::vector<FlagSpec> specs = {
      {"group", FlagType::kString, "", "the group", /*required=*/true}};
  absl::StatusOr<ParsedFlags> missing = ParseFlags(specs, {});
  EXPECT_EQ(missing.status(),
            absl::InvalidArgumentError("missing required flag --group"));
  absl::StatusOr<ParsedFlags> given =
      ParseFlags(specs, std::vector<std::string>{"--group=friends"});
  ASSERT_TRUE(given.ok()) << given.status();
  EXPECT_EQ(given->GetString("group"), "friends");
}

TEST(ParseFlagsTest, ReportsBadDefaultsAsInternal) {
  const std::vector<FlagSpec> specs = {
      {"limit", FlagType::kUint32, "many", "occupants"}};
  EXPECT_EQ(ParseFlags(specs, {}).status().code(), absl::StatusCode::kInternal);
}

TEST(FormatFlagHelpTest, ListsEachFlagWithItsDefault) {
  const std::vector<FlagSpec> specs = {
      {"deadline", FlagType::kDuration, "10s", "the RPC's deadline"},
      {"include-state", FlagType::kBool, "false", "include state"},
      {"user-id", FlagType::kString, "", "the user", /*required=*/true},
      {"channels", FlagType::kList, "", "channels"},
  };
  EXPECT_EQ(FormatFlagHelp(specs),
            "  --deadline=DURATION         the RPC's deadline (default: 10s)\n"
            "  --include-state[=true|false]\n"
            "                              include state (default: false)\n"
            "  --user-id=STRING            the user (required)\n"
            "  --channels=A,B,...          channels (default: none)\n");
}

TEST(FormatFlagHelpTest, WrapsLongHelp) {
  const std::vector<FlagSpec> specs = {
      {"session-id", FlagType::kString, "",
       "the session (device, tab); none means the default session"}};
  EXPECT_EQ(FormatFlagHelp(specs),
            "  --session-id=STRING         the session (device, tab); none "
            "means the default\n"
            "                              session (default: none)\n");
}

TEST(FormatFlagHelpTest, KeepsTheDefaultWhole) {
  const std::vector<FlagSpec> specs = {
      {"target", FlagType::kString, "127.0.0.1:50051",
       "the server's address (a gRPC target)"}};
  EXPECT_EQ(FormatFlagHelp(specs),
            "  --target=STRING             the server's address (a gRPC "
            "target)\n"
            "                              (default: 127.0.0.1:50051)\n");
}

TEST(WrapTextTest, BreaksBetweenWordsWithinTheWidth) {
  EXPECT_EQ(WrapText("", 4), "");
  EXPECT_EQ(WrapText("short  text", 4), "short text");
  const std::string word(30, 'w');
  // From column 10, two 30-letter words fit in 80 columns, three do not.
  EXPECT_EQ(WrapText(absl::StrCat(word, " ", word, " ", word), 10),
            absl::StrCat(word, " ", word, "\n", std::string(10, ' '), word));
  // A word longer than the line is not split.
  const std::string long_word(100, 'l');
  EXPECT_EQ(WrapText(absl::StrCat("a ", long_word), 0),
            absl::StrCat("a\n", long_word));
}

}  // namespace
}  // namespace presence::cli
