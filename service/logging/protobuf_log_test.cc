#include "service/logging/protobuf_log.h"

#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"

namespace presence {
namespace {

// Bytes of a google.protobuf.Value whose string_value (field 3) is not valid
// UTF-8: parsing it makes libprotobuf log an ERROR line.
std::string InvalidUtf8Value() { return std::string("\x1a\x02\xc3\x28", 4); }

TEST(ProtobufLogTest, LinesAreCountedAndThrottled) {
  RouteProtobufLogs(absl::Hours(1));
  const uint64_t before = ProtobufLogLines();
  testing::internal::CaptureStderr();
  for (int i = 0; i < 100; ++i) {
    google::protobuf::Value value;
    EXPECT_FALSE(value.ParseFromString(InvalidUtf8Value()));
  }
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(ProtobufLogLines() - before, 100u);
  // One line for the first; the other 99 are held back for an hour.
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
  EXPECT_THAT(log, testing::HasSubstr("libprotobuf: String field"));
  EXPECT_THAT(log, testing::HasSubstr("invalid UTF-8"));
}

}  // namespace
}  // namespace presence
