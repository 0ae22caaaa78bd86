#include "presence/internal/channel_group_registry.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "presence/internal/listener_list.h"
#include "presence/testing/event_recorder.h"

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

TEST(ChannelGroupRegistryTest, ReplaySendsEveryGroupBeforeRegistering) {
  ListenerList listeners;
  ChannelGroupRegistry groups(10, &listeners);
  ASSERT_TRUE(groups.Add("g2", {"c"}).ok());
  ASSERT_TRUE(groups.Add("g1", {"b", "a"}).ok());
  EventRecorder recorder;
  bool registered = false;
  groups.ReplayThenRegister(&recorder, [&] {
    // The replay is complete when the listener is registered.
    EXPECT_EQ(recorder.TakeGroupChanges().size(), 2u);
    listeners.Add(&recorder);
    registered = true;
  });
  EXPECT_TRUE(registered);
  ASSERT_TRUE(groups.Delete("g2").ok());
  std::vector<GroupChange> changes = recorder.TakeGroupChanges();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].group, "g2");
  EXPECT_THAT(changes[0].channels, ElementsAre());
  listeners.Remove(&recorder);
}

TEST(ChannelGroupRegistryTest, ReplayIsInGroupOrderWithSortedChannels) {
  ChannelGroupRegistry groups(10);
  ASSERT_TRUE(groups.Add("zeta", {"y", "x"}).ok());
  ASSERT_TRUE(groups.Add("alpha", {"b", "a"}).ok());
  EventRecorder recorder;
  groups.ReplayThenRegister(&recorder, [] {});
  std::vector<GroupChange> changes = recorder.TakeGroupChanges();
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].group, "alpha");
  EXPECT_THAT(changes[0].channels, ElementsAre("a", "b"));
  EXPECT_EQ(changes[1].group, "zeta");
  EXPECT_THAT(changes[1].channels, ElementsAre("x", "y"));
}

}  // namespace
}  // namespace presence
