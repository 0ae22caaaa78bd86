#include "service/logging/logging.h"

#include "gtest/gtest.h"

namespace presence {
namespace {

const absl::Time kTime = absl::FromUnixMillis(1795799281123);

TEST(LoggingTest, TextLinesCarryFieldsAsKeyValues) {
  EXPECT_EQ(FormatLogLine(kTime, "INFO", "listening on 127.0.0.1:1",
                          {{"address", "127.0.0.1:1"}, {"store", "memory"}},
                          LogFormat::kText),
            "2026-11-27T17:08:01.123Z INFO listening on 127.0.0.1:1 "
            "address=127.0.0.1:1 store=memory");
}

TEST(LoggingTest, JsonLinesHaveTimeLevelMsgAndFields) {
  EXPECT_EQ(FormatLogLine(kTime, "ERROR", "bad \"thing\"\n",
                          {{"error", "a\\b\tc\x01"}}, LogFormat::kJson),
            R"({"time":"2026-11-27T17:08:01.123Z","level":"ERROR",)"
            R"("msg":"bad \"thing\"\n","error":"a\\b\tc\u0001"})");
}

TEST(LoggingTest, ParsesFormats) {
  EXPECT_EQ(*ParseLogFormat("text"), LogFormat::kText);
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  absl::StatusOr<LogFormat> bad = ParseLogFormat("xml");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(),
            "--log_format: \"xml\" is not a log format; use text or json");
}

}  // namespace
}  // namespace presence
