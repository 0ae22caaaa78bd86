#include "presence/store/durable/data_dir.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "leveldb/db.h"
#include "leveldb/env.h"
#include "leveldb/iterator.h"
#include "leveldb/options.h"
#include "leveldb/table.h"
#include "leveldb/write_batch.h"
#include "presence/base/mutex.h"

namespace presence {
namespace {

constexpr char kSep = '\0';
constexpr absl::string_view kFormat = "1";

// Key prefixes (see the header).
constexpr char kGroup = 'g';
constexpr char kSession = 'p';
constexpr char kState = 's';
constexpr char kEpoch = 'e';
constexpr char kPastEpoch = 'E';
constexpr char kMeta = 'm';

std::string Key(char kind, std::initializer_list<absl::string_view> parts) {
  std::string key(1, kind);
  for (absl::string_view part : parts) {
    key.push_back(kSep);
    key.append(part.data(), part.size());
  }
  return key;
}

absl::string_view View(const leveldb::Slice& slice) {
  return absl::string_view(slice.data(), slice.size());
}

}  // namespace

// Keeps what LevelDB reports about damage while it opens, recovers or
// repairs a database (it names the files there, unlike in its statuses).
class DamageLog : public leveldb::Logger {
 public:
  void Logv(const char* format, va_list ap) override {
    char line[1024];
    std::vsnprintf(line, sizeof(line), format, ap);
    const absl::string_view text(line);
    if (!absl::StrContains(text, "dropping") &&
        !absl::StrContains(text, "orrupt") &&
        !absl::StrContains(text, "rror") && !absl::StrContains(text, "ignor") &&
        !absl::StrContains(text, "Archiving")) {
      return;
    }
    MutexLock lock(&mu_);
    if (lines_.size() < kMaxLines) lines_.emplace_back(text);
  }

  std::vector<std::string> lines() const {
    MutexLock lock(&mu_);
    return lines_;
  }

 private:
  static constexpr size_t kMaxLines = 64;

  mutable Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

namespace {

leveldb::Options DbOptions(leveldb::Logger* log) {
  leveldb::Options options;
  options.create_if_missing = true;
  // Fail on any damage instead of skipping it silently.
  options.paranoid_checks = true;
  options.info_log = log;
  return options;
}

absl::Status FromLevelDb(const leveldb::Status& status,
                         absl::string_view what) {
  if (status.ok()) return absl::OkStatus();
  const std::string message = absl::StrCat(what, ": ", status.ToString());
  if (status.IsCorruption()) return absl::DataLossError(message);
  return absl::UnavailableError(message);
}

// Whether an error opening or reading a database means its files are
// damaged (rather than, say, unreadable for permissions or locked).
bool IsDamage(const leveldb::Status& status) {
  if (status.IsCorruption()) return true;
  // A truncated table reads as "Invalid argument" (pread past the end).
  return status.IsIOError() &&
         absl::StrContains(status.ToString(), "Invalid argument");
}

std::string DamageMessage(const std::string& path,
                          const leveldb::Status& status,
                          const std::vector<std::string>& log) {
  std::string message = absl::StrCat("the data directory ", path,
                                     " is damaged: ", status.ToString());
  for (const std::string& line : log) absl::StrAppend(&message, "; ", line);
  for (const std::string& table : DescribeDamagedTables(path)) {
    absl::StrAppend(&message, "; ", table);
  }
  return message;
}

absl::Status MakeDirectory(const std::string& path) {
  if (::mkdir(path.c_str(), 0750) == 0 || errno == EEXIST) {
    struct stat info;
    if (::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) {
      return absl::OkStatus();
    }
    return absl::FailedPreconditionError(
        absl::StrCat("the data directory ", path, " is not a directory"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "cannot create the data directory ", path, ": ", std::strerror(errno)));
}

// Reads every record, verifying checksums.
leveldb::Status Verify(leveldb::DB& db) {
  leveldb::ReadOptions read;
  read.verify_checksums = true;
  read.fill_cache = false;
  std::unique_ptr<leveldb::Iterator> it(db.NewIterator(read));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
  }
  return it->status();
}

}  // namespace

std::vector<std::string> DescribeDamagedTables(const std::string& path) {
  std::vector<std::string> out;
  leveldb::Env* env = leveldb::Env::Default();
  std::vector<std::string> children;
  if (!env->GetChildren(path, &children).ok()) return out;
  std::sort(children.begin(), children.end());
  for (const std::string& child : children) {
    if (!absl::EndsWith(child, ".ldb") && !absl::EndsWith(child, ".sst")) {
      continue;
    }
    const std::string file_name = absl::StrCat(path, "/", child);
    uint64_t size = 0;
    leveldb::RandomAccessFile* raw_file = nullptr;
    leveldb::Status status = env->GetFileSize(file_name, &size);
    if (status.ok()) status = env->NewRandomAccessFile(file_name, &raw_file);
    if (!status.ok()) {
      out.push_back(absl::StrCat(file_name, ": ", status.ToString()));
      continue;
    }
    std::unique_ptr<leveldb::RandomAccessFile> file(raw_file);
    leveldb::Options options;
    options.paranoid_checks = true;
    leveldb::Table* raw_table = nullptr;
    status = leveldb::Table::Open(options, file.get(), size, &raw_table);
    if (!status.ok()) {
      out.push_back(
          absl::StrCat(file_name, " (", size, " bytes): ", status.ToString()));
      continue;
    }
    std::unique_ptr<leveldb::Table> table(raw_table);
    leveldb::ReadOptions read;
    read.verify_checksums = true;
    read.fill_cache = false;
    std::unique_ptr<leveldb::Iterator> it(table->NewIterator(read));
    std::string last_key;
    uint64_t records = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      last_key.assign(it->key().data(), it->key().size());
      ++records;
    }
    if (it->status().ok()) continue;
    // The block holding the last good record starts here; the damage is
    // in a later block.
    const uint64_t offset =
        records == 0 ? 0 : table->ApproximateOffsetOf(last_key);
    out.push_back(absl::StrCat(file_name, ": ", it->status().ToString(),
                               " at or after offset ", offset, " (", records,
                               " records before it read cleanly)"));
  }
  return out;
}

DataDir::DataDir(std::string path, std::unique_ptr<DamageLog> log,
                 std::unique_ptr<leveldb::DB> db,
                 std::vector<std::string> recovery_notes)
    : path_(std::move(path)),
      log_(std::move(log)),
      db_(std::move(db)),
      recovery_notes_(std::move(recovery_notes)) {}

DataDir::~DataDir() = default;

absl::StatusOr<std::unique_ptr<DataDir>> DataDir::Open(
    const std::string& path, const DataDirOptions& options) {
  if (path.empty()) {
    return absl::InvalidArgumentError("the data directory path is empty");
  }
  if (absl::Status made = MakeDirectory(path); !made.ok()) return made;
  std::vector<std::string> notes;
  // First strictly: any damage fails. With `recover`, then LevelDB's own
  // recovery of its log without paranoid checks (it skips damaged log
  // records, whose checksums it still verifies), then a repair that
  // rebuilds the tables from what reads cleanly.
  for (int attempt = 0; attempt < 3; ++attempt) {
    // The database keeps using its logger (compactions): it lives as long.
    auto owned_log = std::make_unique<DamageLog>();
    DamageLog& log = *owned_log;
    leveldb::Options db_options = DbOptions(&log);
    if (attempt > 0) db_options.paranoid_checks = false;
    if (attempt == 2) {
      const leveldb::Status repaired = leveldb::RepairDB(path, db_options);
      for (const std::string& line : log.lines()) notes.push_back(line);
      if (!repaired.ok()) {
        return FromLevelDb(repaired,
                           absl::StrCat("repairing the data directory ", path));
      }
    }
    leveldb::DB* raw = nullptr;
    leveldb::Status status = leveldb::DB::Open(db_options, path, &raw);
    std::unique_ptr<leveldb::DB> db(raw);
    if (status.ok()) status = Verify(*db);
    std::string format;
    if (status.ok()) {
      status = db->Get(leveldb::ReadOptions(), Key(kMeta, {"format"}), &format);
      if (status.IsNotFound()) {
        leveldb::WriteOptions write;
        write.sync = true;
        format = std::string(kFormat);
        status = db->Put(write, Key(kMeta, {"format"}), format);
      }
    }
    if (status.ok()) {
      if (format != kFormat) {
        return absl::FailedPreconditionError(
            absl::StrCat("the data directory ", path, " has format ", format,
                         "; this server reads format ", kFormat));
      }
      for (const std::string& line : log.lines()) notes.push_back(line);
      return std::unique_ptr<DataDir>(new DataDir(
          path, std::move(owned_log), std::move(db), std::move(notes)));
    }
    if (!IsDamage(status)) {
      if (absl::StrContains(status.ToString(), "LOCK")) {
        return absl::FailedPreconditionError(
            absl::StrCat("the data directory ", path,
                         " is in use by another process: ", status.ToString()));
      }
      return FromLevelDb(status,
                         absl::StrCat("opening the data directory ", path));
    }
    db.reset();  // Releases the directory's lock.
    const std::string damage = DamageMessage(path, status, log.lines());
    if (!options.recover) return absl::DataLossError(damage);
    if (attempt == 2) {
      return absl::DataLossError(
          absl::StrCat(damage, "; LevelDB's repair did not mend it"));
    }
    if (attempt == 0) notes.push_back(damage);
  }
  return absl::InternalError("unreachable");
}

absl::StatusOr<DataDirContents> DataDir::Load() {
  DataDirContents contents;
  std::map<std::string, uint32_t, std::less<>> epochs;
  std::map<std::pair<std::string, std::string>, std::string> states;
  leveldb::ReadOptions read;
  read.verify_checksums = true;
  read.fill_cache = false;
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(read));
  auto bad_record = [&](absl::string_view key) {
    return absl::InternalError(
        absl::StrCat("the data directory ", path_,
                     " holds a record this server cannot read"
                     " (key ",
                     absl::CHexEscape(key), ")"));
  };
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const absl::string_view key = View(it->key());
    const absl::string_view value = View(it->value());
    if (key.size() < 2 || key[1] != kSep) return bad_record(key);
    const std::vector<absl::string_view> parts =
        absl::StrSplit(key.substr(2), kSep);
    switch (key[0]) {
      case kGroup: {
        if (parts.size() != 1) return bad_record(key);
        std::vector<std::string> channels = absl::StrSplit(value, kSep);
        contents.groups.emplace_back(std::string(parts[0]),
                                     std::move(channels));
        break;
      }
      case kSession: {
        int64_t micros = 0;
        if (parts.size() != 3 || !absl::SimpleAtoi(value, &micros)) {
          return bad_record(key);
        }
        auto& channels = contents.presence.channels;
        if (channels.empty() || channels.back().name != parts[0]) {
          channels.emplace_back().name = std::string(parts[0]);
        }
        auto& members = channels.back().members;
        if (members.empty() || members.back().user_id != parts[1]) {
          members.emplace_back().user_id = std::string(parts[1]);
        }
        members.back().sessions.push_back(MemoryStoreImage::Session{
            std::string(parts[2]), absl::FromUnixMicros(micros)});
        break;
      }
      case kState:
        if (parts.size() != 2) return bad_record(key);
        states[{std::string(parts[0]), std::string(parts[1])}] =
            std::string(value);
        break;
      case kEpoch:
      case kPastEpoch: {
        uint32_t epoch = 0;
        if (parts.size() != 1 || !absl::SimpleAtoi(value, &epoch)) {
          return bad_record(key);
        }
        if (key[0] == kEpoch) {
          epochs.emplace(std::string(parts[0]), epoch);
        } else {
          contents.presence.past_epochs.emplace_back(std::string(parts[0]),
                                                     epoch);
        }
        break;
      }
      case kMeta:
        if (parts.size() == 1 && parts[0] == "snapshot") {
          int64_t micros = 0;
          if (!absl::SimpleAtoi(value, &micros)) return bad_record(key);
          contents.snapshot_time = absl::FromUnixMicros(micros);
        }
        break;
      default:
        return bad_record(key);
    }
  }
  if (!it->status().ok()) {
    if (IsDamage(it->status())) {
      return absl::DataLossError(DamageMessage(path_, it->status(), {}));
    }
    return FromLevelDb(it->status(),
                       absl::StrCat("reading the data directory ", path_));
  }
  for (auto& channel : contents.presence.channels) {
    auto epoch = epochs.find(channel.name);
    if (epoch != epochs.end()) channel.epoch = epoch->second;
    for (auto& member : channel.members) {
      auto state = states.find({channel.name, member.user_id});
      if (state != states.end()) member.state = std::move(state->second);
    }
  }
  return contents;
}

absl::Status DataDir::WriteGroup(absl::string_view group,
                                 const std::vector<std::string>& channels) {
  leveldb::WriteOptions write;
  write.sync = true;
  const std::string key = Key(kGroup, {group});
  const leveldb::Status status =
      channels.empty()
          ? db_->Delete(write, key)
          : db_->Put(write, key, absl::StrJoin(channels, std::string(1, kSep)));
  return FromLevelDb(status,
                     absl::StrCat("writing group ", group, " to ", path_));
}

absl::Status DataDir::WriteSnapshot(const MemoryStoreImage& presence,
                                    const std::vector<GroupImage>& groups,
                                    absl::Time now) {
  leveldb::WriteBatch batch;
  // Everything of the previous snapshot goes (and every group, rewritten
  // below), in the same atomic batch.
  {
    leveldb::ReadOptions read;
    read.fill_cache = false;
    std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(read));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const absl::string_view key = View(it->key());
      if (!key.empty() && key[0] != kMeta) batch.Delete(it->key());
    }
    if (!it->status().ok()) {
      return FromLevelDb(it->status(),
                         absl::StrCat("reading the data directory ", path_));
    }
  }
  for (const auto& [group, channels] : groups) {
    if (channels.empty()) continue;
    batch.Put(Key(kGroup, {group}),
              absl::StrJoin(channels, std::string(1, kSep)));
  }
  for (const auto& channel : presence.channels) {
    batch.Put(Key(kEpoch, {channel.name}), absl::StrCat(channel.epoch));
    for (const auto& member : channel.members) {
      if (!member.state.empty()) {
        batch.Put(Key(kState, {channel.name, member.user_id}), member.state);
      }
      for (const auto& session : member.sessions) {
        batch.Put(
            Key(kSession, {channel.name, member.user_id, session.session_id}),
            absl::StrCat(absl::ToUnixMicros(session.deadline)));
      }
    }
  }
  for (const auto& [channel, epoch] : presence.past_epochs) {
    batch.Put(Key(kPastEpoch, {channel}), absl::StrCat(epoch));
  }
  batch.Put(Key(kMeta, {"snapshot"}), absl::StrCat(absl::ToUnixMicros(now)));
  leveldb::WriteOptions write;
  write.sync = true;
  return FromLevelDb(db_->Write(write, &batch),
                     absl::StrCat("writing a snapshot to ", path_));
}

}  // namespace presence
