#include "presence/internal/channel_group_registry.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace presence {
namespace {

using ::testing::ElementsAre;

TEST(ChannelGroupRegistryTest, ExpandUnionsSortedWithoutDuplicates) {
  ChannelGroupRegistry groups(10);
  ASSERT_TRUE(groups.Add("g1", {"b", "a"}).ok());
  ASSERT_TRUE(groups.Add("g2", {"c", "a"}).ok());
  EXPECT_THAT(*groups.Expand({"g1", "g2"}), ElementsAre("a", "b", "c"));
  EXPECT_THAT(*groups.Expand({}), ElementsAre());
}

TEST(ChannelGroupRegistryTest, ExpandNamesTheMissingGroup) {
  ChannelGroupRegistry groups(10);
  ASSERT_TRUE(groups.Add("g1", {"a"}).ok());
  absl::StatusOr<std::vector<std::string>> result =
      groups.Expand({"g1", "nope"});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(result.status().message()),
              testing::HasSubstr("'nope'"));
}

TEST(ChannelGroupRegistryTest, LimitCountsDistinctChannels) {
  ChannelGroupRegistry groups(3);
  ASSERT_TRUE(groups.Add("g", {"a", "b"}).ok());
  EXPECT_TRUE(groups.Add("g", {"a", "b", "c"}).ok());
  absl::Status status = groups.Add("g", {"d"});
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()),
              testing::HasSubstr("would hold 4"));
  EXPECT_THAT(*groups.List("g"), ElementsAre("a", "b", "c"));
  EXPECT_EQ(groups.Add("new", {"1", "2", "3", "4"}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(groups.Groups(), ElementsAre("g"));
}

}  // namespace
}  // namespace presence
