#include "presence/internal/group_mirror.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace presence {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pointee;
using ::testing::UnorderedElementsAre;

std::vector<std::string> Summary(const std::vector<GroupChange>& changes) {
  std::vector<std::string> out;
  for (const GroupChange& change : changes) {
    std::string line = change.group + ":";
    for (const std::string& channel : change.channels) line += " " + channel;
    out.push_back(line);
  }
  return out;
}

TEST(GroupMirrorTest, IndexesMembershipBothWays) {
  GroupMirror mirror;
  mirror.Apply(GroupChange{"g1", {"a", "b"}});
  mirror.Apply(GroupChange{"g2", {"b", "c"}});
  EXPECT_TRUE(mirror.HasGroup("g1"));
  EXPECT_FALSE(mirror.HasGroup("g3"));
  EXPECT_THAT(mirror.GroupsOf("a"), Pointee(ElementsAre("g1")));
  EXPECT_THAT(mirror.GroupsOf("b"), Pointee(UnorderedElementsAre("g1", "g2")));
  EXPECT_EQ(mirror.GroupsOf("z"), nullptr);
  EXPECT_THAT(mirror.ChannelsOf("g2"), Pointee(ElementsAre("b", "c")));
  EXPECT_EQ(mirror.ChannelsOf("g3"), nullptr);
}

TEST(GroupMirrorTest, AChangeReplacesTheGroupsChannels) {
  GroupMirror mirror;
  mirror.Apply(GroupChange{"g", {"a", "b"}});
  mirror.Apply(GroupChange{"g", {"b", "c"}});
  EXPECT_EQ(mirror.GroupsOf("a"), nullptr);
  EXPECT_THAT(mirror.GroupsOf("b"), Pointee(ElementsAre("g")));
  EXPECT_THAT(mirror.GroupsOf("c"), Pointee(ElementsAre("g")));
  EXPECT_THAT(Summary(mirror.Snapshot()), ElementsAre("g: b c"));
}

TEST(GroupMirrorTest, NoChannelsDeletesTheGroup) {
  GroupMirror mirror;
  mirror.Apply(GroupChange{"g", {"a"}});
  mirror.Apply(GroupChange{"h", {"a"}});
  mirror.Apply(GroupChange{"g", {}});
  EXPECT_FALSE(mirror.HasGroup("g"));
  EXPECT_THAT(mirror.GroupsOf("a"), Pointee(ElementsAre("h")));
  mirror.Apply(GroupChange{"h", {}});
  EXPECT_EQ(mirror.GroupsOf("a"), nullptr);
  EXPECT_THAT(mirror.Snapshot(), IsEmpty());
  // Deleting a group that does not exist is harmless.
  mirror.Apply(GroupChange{"ghost", {}});
  EXPECT_THAT(mirror.Snapshot(), IsEmpty());
}

TEST(GroupMirrorTest, SnapshotIsSortedByGroupWithSortedChannels) {
  GroupMirror mirror;
  mirror.Apply(GroupChange{"zeta", {"y", "x"}});
  mirror.Apply(GroupChange{"alpha", {"c", "a", "b", "a"}});
  mirror.Apply(GroupChange{"mid", {"m"}});
  EXPECT_THAT(Summary(mirror.Snapshot()),
              ElementsAre("alpha: a b c", "mid: m", "zeta: x y"));
}

TEST(GroupMirrorTest, ClearForgetsEverything) {
  GroupMirror mirror;
  mirror.Apply(GroupChange{"g", {"a"}});
  mirror.Clear();
  EXPECT_FALSE(mirror.HasGroup("g"));
  EXPECT_EQ(mirror.GroupsOf("a"), nullptr);
  EXPECT_THAT(mirror.Snapshot(), IsEmpty());
  mirror.Apply(GroupChange{"g", {"b"}});
  EXPECT_THAT(Summary(mirror.Snapshot()), ElementsAre("g: b"));
}

}  // namespace
}  // namespace presence
