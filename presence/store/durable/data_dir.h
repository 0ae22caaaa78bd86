// DataDir: the embedded store's data directory (--data_dir), a LevelDB
// database (Debian's libleveldb, 1.23) holding the channel groups and the
// last snapshot of live presence. LevelDB gives what durability needs
// without a file format of our own: a checksummed write-ahead log, atomic
// write batches and synchronous (fsync) writes; it compacts its log into
// tables by itself.
//
//   auto dir = DataDir::Open("/var/lib/presence", DataDirOptions());
//   absl::StatusOr<DataDirContents> contents = (*dir)->Load();
//   (*dir)->WriteGroup("lobby", {"a", "b"});  // Durable when it returns.
//   (*dir)->WriteSnapshot(store->Image(), groups);
//
// Keys (names cannot hold a NUL byte, which separates their parts):
//   "g\0<group>"                     -> the channels, NUL-separated
//   "p\0<channel>\0<user>\0<session>" -> the session's deadline (decimal
//                                        Unix microseconds)
//   "s\0<channel>\0<user>"           -> the member's state (JSON)
//   "e\0<channel>"                   -> the channel's epoch (decimal);
//                                        "E\0<channel>": a past epoch
//   "m\0snapshot"                    -> when the snapshot was taken
//   "m\0format"                      -> "1"
//
// Damage (a checksum mismatch, a truncated table or descriptor) makes
// Open() or Load() fail with DATA_LOSS naming the files LevelDB names (and
// the damaged table's offset), never a silent reset; with
// DataDirOptions::recover, Open() repairs the database instead (LevelDB's
// RepairDB keeps every intact record) and reports what was dropped.
//
// Thread-safe (LevelDB is); one process at a time holds the directory
// (LevelDB's LOCK file): a second Open() fails with FAILED_PRECONDITION.
#ifndef PRESENCE_STORE_DURABLE_DATA_DIR_H_
#define PRESENCE_STORE_DURABLE_DATA_DIR_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "presence/store/memory/memory_store_image.h"

namespace leveldb {
class DB;
}  // namespace leveldb

namespace presence {

class DamageLog;

struct DataDirOptions {
  // What to do with a damaged database: false fails with DATA_LOSS; true
  // repairs it, keeping every intact record (groups and sessions written
  // before the damage), and notes what was lost in recovery_notes().
  bool recover = false;
};

// A group and its channels (sorted).
using GroupImage = std::pair<std::string, std::vector<std::string>>;

struct DataDirContents {
  std::vector<GroupImage> groups;  // By name.
  MemoryStoreImage presence;       // Channels by name, members by user.
  // When the snapshot was taken; InfinitePast() when there is none.
  absl::Time snapshot_time = absl::InfinitePast();
};

class DataDir {
 public:
  // Opens the database in `path`, creating the directory (not its parents)
  // and the database if missing.
  static absl::StatusOr<std::unique_ptr<DataDir>> Open(
      const std::string& path, const DataDirOptions& options);

  ~DataDir();
  DataDir(const DataDir&) = delete;
  DataDir& operator=(const DataDir&) = delete;

  // Reads everything, verifying checksums. DATA_LOSS naming the damaged
  // file on damage; INTERNAL for a record this code cannot parse.
  absl::StatusOr<DataDirContents> Load();

  // Records that `group` now holds `channels` (none: the group is deleted),
  // durably (fsync) before returning.
  absl::Status WriteGroup(absl::string_view group,
                          const std::vector<std::string>& channels);

  // Replaces the snapshot of presence and every group with these, in one
  // atomic, synchronous write: after a crash either all of it or the
  // previous snapshot is there.
  absl::Status WriteSnapshot(const MemoryStoreImage& presence,
                             const std::vector<GroupImage>& groups,
                             absl::Time now);

  // What a recovery (DataDirOptions::recover) found and dropped, as LevelDB
  // reported it; empty when the database opened cleanly.
  const std::vector<std::string>& recovery_notes() const {
    return recovery_notes_;
  }

  const std::string& path() const { return path_; }

 private:
  DataDir(std::string path, std::unique_ptr<DamageLog> log,
          std::unique_ptr<leveldb::DB> db,
          std::vector<std::string> recovery_notes);

  const std::string path_;
  // LevelDB's logger; declared before db_, which uses it until destroyed.
  const std::unique_ptr<DamageLog> log_;
  const std::unique_ptr<leveldb::DB> db_;
  const std::vector<std::string> recovery_notes_;
};

// Returns a description of every damaged table file in `path` (file name,
// LevelDB's error, about where in the file), empty when all read cleanly.
// For error messages: LevelDB's own errors often do not name the file.
std::vector<std::string> DescribeDamagedTables(const std::string& path);

}  // namespace presence

#endif  // PRESENCE_STORE_DURABLE_DATA_DIR_H_
