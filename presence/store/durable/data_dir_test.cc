#include "presence/store/durable/data_dir.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "presence/store/memory/memory_store_image.h"

namespace presence {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::SizeIs;

// A fresh directory under the test's temporary directory.
std::string NewDir() {
  static int counter = 0;
  const char* tmp = std::getenv("TEST_TMPDIR");
  return absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/data_dir_", getpid(),
                      "_", counter++);
}

std::vector<std::string> FilesEndingWith(const std::string& dir,
                                         const std::string& suffix) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* entry = readdir(d)) {
    if (absl::EndsWith(entry->d_name, suffix)) {
      out.push_back(absl::StrCat(dir, "/", entry->d_name));
    }
  }
  closedir(d);
  return out;
}

// Overwrites bytes of `file` at `offset`.
void Scribble(const std::string& file, int64_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.is_open()) << file;
  f.seekp(offset);
  f.write("\xde\xad\xbe\xef\xde\xad\xbe\xef", 8);
}

MemoryStoreImage SampleImage(absl::Time t) {
  MemoryStoreImage image;
  MemoryStoreImage::Channel lobby;
  lobby.name = "lobby";
  lobby.epoch = 1700000000;
  lobby.members.push_back({"alice", R"({"mood":"ok"})", {{"", t}}});
  lobby.members.push_back(
      {"bob", "", {{"phone", t + absl::Seconds(1)}, {"web", t}}});
  image.channels.push_back(lobby);
  image.past_epochs.emplace_back("gone", 1700000005);
  return image;
}

TEST(DataDirTest, StartsEmptyAndCreatesTheDirectory) {
  const std::string path = NewDir();
  auto dir = DataDir::Open(path, DataDirOptions());
  ASSERT_TRUE(dir.ok()) << dir.status();
  auto contents = (*dir)->Load();
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_THAT(contents->groups, IsEmpty());
  EXPECT_THAT(contents->presence.channels, IsEmpty());
  EXPECT_EQ(contents->snapshot_time, absl::InfinitePast());
  struct stat info;
  EXPECT_EQ(stat(path.c_str(), &info), 0);
}

TEST(DataDirTest, GroupsSurviveReopening) {
  const std::string path = NewDir();
  {
    auto dir = DataDir::Open(path, DataDirOptions());
    ASSERT_TRUE(dir.ok()) << dir.status();
    ASSERT_TRUE((*dir)->WriteGroup("g1", {"a", "b"}).ok());
    ASSERT_TRUE((*dir)->WriteGroup("g2", {"c"}).ok());
    ASSERT_TRUE((*dir)->WriteGroup("g1", {"a", "b", "d"}).ok());
    ASSERT_TRUE((*dir)->WriteGroup("g2", {}).ok());  // Deleted.
  }
  auto dir = DataDir::Open(path, DataDirOptions());
  ASSERT_TRUE(dir.ok()) << dir.status();
  auto contents = (*dir)->Load();
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_THAT(contents->groups,
              ElementsAre(Pair("g1", ElementsAre("a", "b", "d"))));
}

TEST(DataDirTest, SnapshotRoundTripsAndReplacesThePreviousOne) {
  const std::string path = NewDir();
  const absl::Time t = absl::FromUnixSeconds(1700000100);
  {
    auto dir = DataDir::Open(path, DataDirOptions());
    ASSERT_TRUE(dir.ok()) << dir.status();
    MemoryStoreImage old;
    old.channels.push_back({"old", 5, {{"carol", "", {{"", t}}}}});
    ASSERT_TRUE((*dir)->WriteSnapshot(old, {{"g", {"x"}}}, t).ok());
    ASSERT_TRUE(
        (*dir)->WriteSnapshot(SampleImage(t), {{"h", {"y", "z"}}}, t).ok());
  }
  auto dir = DataDir::Open(path, DataDirOptions());
  ASSERT_TRUE(dir.ok()) << dir.status();
  auto contents = (*dir)->Load();
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_EQ(contents->snapshot_time, t);
  EXPECT_THAT(contents->groups, ElementsAre(Pair("h", ElementsAre("y", "z"))));
  const MemoryStoreImage& image = contents->presence;
  ASSERT_THAT(image.channels, SizeIs(1));
  const auto& lobby = image.channels[0];
  EXPECT_EQ(lobby.name, "lobby");
  EXPECT_EQ(lobby.epoch, 1700000000u);
  ASSERT_THAT(lobby.members, SizeIs(2));
  EXPECT_EQ(lobby.members[0].user_id, "alice");
  EXPECT_EQ(lobby.members[0].state, R"({"mood":"ok"})");
  ASSERT_THAT(lobby.members[0].sessions, SizeIs(1));
  EXPECT_EQ(lobby.members[0].sessions[0].session_id, "");
  EXPECT_EQ(lobby.members[0].sessions[0].deadline, t);
  EXPECT_EQ(lobby.members[1].user_id, "bob");
  EXPECT_EQ(lobby.members[1].state, "");
  ASSERT_THAT(lobby.members[1].sessions, SizeIs(2));
  EXPECT_EQ(lobby.members[1].sessions[0].session_id, "phone");
  EXPECT_EQ(lobby.members[1].sessions[0].deadline, t + absl::Seconds(1));
  EXPECT_EQ(lobby.members[1].sessions[1].session_id, "web");
  EXPECT_THAT(image.past_epochs, ElementsAre(Pair("gone", 1700000005u)));
}

TEST(DataDirTest, ASecondProcessCannotOpenIt) {
  const std::string path = NewDir();
  auto first = DataDir::Open(path, DataDirOptions());
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = DataDir::Open(path, DataDirOptions());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition)
      << second.status();
  EXPECT_THAT(second.status().message(), HasSubstr(path));
}

TEST(DataDirTest, ADamagedLogFailsNamingTheFileUnlessRecovering) {
  const std::string path = NewDir();
  {
    auto dir = DataDir::Open(path, DataDirOptions());
    ASSERT_TRUE(dir.ok()) << dir.status();
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE(
          (*dir)->WriteGroup(absl::StrCat("group", i), {"a", "b", "c"}).ok());
    }
  }
  const std::vector<std::string> logs = FilesEndingWith(path, ".log");
  ASSERT_THAT(logs, SizeIs(1));
  Scribble(logs[0], 1000);

  auto failed = DataDir::Open(path, DataDirOptions());
  ASSERT_EQ(failed.status().code(), absl::StatusCode::kDataLoss)
      << failed.status();
  EXPECT_THAT(failed.status().message(), HasSubstr(logs[0]));
  EXPECT_THAT(failed.status().message(), HasSubstr("dropping"));

  DataDirOptions recover;
  recover.recover = true;
  auto recovered = DataDir::Open(path, recover);
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_THAT((*recovered)->recovery_notes(), Not(IsEmpty()));
  auto contents = (*recovered)->Load();
  ASSERT_TRUE(contents.ok()) << contents.status();
  // What precedes the damage is intact.
  EXPECT_GT(contents->groups.size(), 0u);
  EXPECT_LT(contents->groups.size(), 50u);
}

TEST(DataDirTest, ADamagedTableFailsNamingTheFileAndOffset) {
  const std::string path = NewDir();
  const absl::Time t = absl::FromUnixSeconds(1700000100);
  MemoryStoreImage big;
  for (int c = 0; c < 200; ++c) {
    MemoryStoreImage::Channel channel;
    channel.name = absl::StrCat("channel", c);
    channel.epoch = 1;
    for (int u = 0; u < 50; ++u) {
      channel.members.push_back({absl::StrCat("user", u), "", {{"", t}}});
    }
    big.channels.push_back(std::move(channel));
  }
  {
    auto dir = DataDir::Open(path, DataDirOptions());
    ASSERT_TRUE(dir.ok()) << dir.status();
    ASSERT_TRUE((*dir)->WriteSnapshot(big, {}, t).ok());
  }
  // Reopening turns the log into a table.
  { ASSERT_TRUE(DataDir::Open(path, DataDirOptions()).ok()); }
  const std::vector<std::string> tables = FilesEndingWith(path, ".ldb");
  ASSERT_THAT(tables, Not(IsEmpty()));
  Scribble(tables[0], 20000);

  auto dir = DataDir::Open(path, DataDirOptions());
  absl::Status status = dir.ok() ? (*dir)->Load().status() : dir.status();
  ASSERT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(status.message(), HasSubstr(tables[0]));
  EXPECT_THAT(status.message(), HasSubstr("offset"));
  dir = absl::InternalError("closed");  // Releases the lock.

  DataDirOptions recover;
  recover.recover = true;
  auto recovered = DataDir::Open(path, recover);
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  auto contents = (*recovered)->Load();
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_GT(contents->presence.channels.size(), 0u);
}

TEST(DataDirTest, ATruncatedTableFailsNamingTheFile) {
  const std::string path = NewDir();
  const absl::Time t = absl::FromUnixSeconds(1700000100);
  {
    auto dir = DataDir::Open(path, DataDirOptions());
    ASSERT_TRUE(dir.ok()) << dir.status();
    ASSERT_TRUE((*dir)->WriteSnapshot(SampleImage(t), {{"g", {"a"}}}, t).ok());
  }
  { ASSERT_TRUE(DataDir::Open(path, DataDirOptions()).ok()); }
  const std::vector<std::string> tables = FilesEndingWith(path, ".ldb");
  ASSERT_THAT(tables, Not(IsEmpty()));
  ASSERT_EQ(truncate(tables[0].c_str(), 40), 0);
  auto dir = DataDir::Open(path, DataDirOptions());
  absl::Status status = dir.ok() ? (*dir)->Load().status() : dir.status();
  ASSERT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(status.message(), HasSubstr(tables[0]));
}

}  // namespace
}  // namespace presence
