#include "presence/store/durable/durable_store.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "presence/base/mutex.h"
#include "presence/base/ticker.h"
#include "presence/store/durable/data_dir.h"
#include "presence/store/memory/memory_store_image.h"

namespace presence {
namespace {

class DurableMemoryStore final : public DurableStore {
 public:
  DurableMemoryStore(std::unique_ptr<DataDir> dir,
                     std::unique_ptr<RestorableMemoryStore> store,
                     const DurableStoreOptions& options, Clock* clock,
                     size_t restored_sessions)
      : options_(options),
        clock_(clock),
        dir_(std::move(dir)),
        store_(std::move(store)),
        restored_sessions_(restored_sessions) {
    if (options_.snapshot_interval > absl::ZeroDuration()) {
      snapshotter_.emplace(
          [this] {
            absl::Status status = Snapshot();
            if (!status.ok()) Warn(status.message());
            return status;
          },
          options_.snapshot_interval);
    }
  }

  ~DurableMemoryStore() override {
    if (snapshotter_.has_value()) snapshotter_->Stop();
    if (options_.snapshot_at_close) {
      absl::Status status = Snapshot();
      if (!status.ok()) Warn(status.message());
    }
  }

  absl::Status Snapshot() override ABSL_LOCKS_EXCLUDED(group_mu_) {
    const absl::Time start = absl::Now();
    // No group change between listing the groups and writing them.
    MutexLock lock(&group_mu_);
    const MemoryStoreImage image = store_->Image();
    std::vector<GroupImage> groups;
    absl::StatusOr<std::vector<std::string>> names = store_->ListGroups();
    if (!names.ok()) return names.status();
    for (std::string& name : *names) {
      absl::StatusOr<std::vector<std::string>> channels =
          store_->ListChannelsInGroup(name);
      if (!channels.ok()) continue;  // Deleted meanwhile: cannot be, locked.
      groups.emplace_back(std::move(name), *std::move(channels));
    }
    absl::Status status = dir_->WriteSnapshot(image, groups, clock_->Now());
    last_snapshot_ns_.store(absl::ToInt64Nanoseconds(absl::Now() - start),
                            std::memory_order_relaxed);
    return status;
  }

  size_t restored_sessions() const override { return restored_sessions_; }
  absl::Duration last_snapshot_duration() const override {
    return absl::Nanoseconds(last_snapshot_ns_.load(std::memory_order_relaxed));
  }

  // Presence: the memory store's.
  absl::StatusOr<HereNowResult> HereNow(
      const HereNowRequest& request) override {
    return store_->HereNow(request);
  }
  absl::StatusOr<WhereNowResult> WhereNow(
      const WhereNowRequest& request) override {
    return store_->WhereNow(request);
  }
  absl::StatusOr<SetStateResult> SetState(
      const SetStateRequest& request) override {
    return store_->SetState(request);
  }
  absl::StatusOr<GetStateResult> GetState(
      const GetStateRequest& request) override {
    return store_->GetState(request);
  }
  absl::Status Heartbeat(const HeartbeatRequest& request) override {
    return store_->Heartbeat(request);
  }
  absl::StatusOr<LeaveResult> Leave(const LeaveRequest& request) override {
    return store_->Leave(request);
  }
  std::vector<BatchEntryResult> Batch(
      const std::vector<BatchEntry>& entries) override {
    return store_->Batch(entries);
  }
  absl::StatusOr<StoreStats> Stats() override { return store_->Stats(); }
  absl::Status ExpireSessions() override { return store_->ExpireSessions(); }

  // Groups: applied, then logged with fsync before the call returns.
  absl::Status AddChannelsToGroup(
      absl::string_view group,
      const std::vector<std::string>& channels) override {
    return Logged(group,
                  [&] { return store_->AddChannelsToGroup(group, channels); });
  }
  absl::Status RemoveChannelsFromGroup(
      absl::string_view group,
      const std::vector<std::string>& channels) override {
    return Logged(group, [&] {
      return store_->RemoveChannelsFromGroup(group, channels);
    });
  }
  absl::Status DeleteGroup(absl::string_view group) override {
    return Logged(group, [&] { return store_->DeleteGroup(group); });
  }
  absl::StatusOr<std::vector<std::string>> ListChannelsInGroup(
      absl::string_view group) override {
    return store_->ListChannelsInGroup(group);
  }
  absl::StatusOr<std::vector<std::string>> ListGroups() override {
    return store_->ListGroups();
  }

  void AddListener(EventListener* listener) override {
    store_->AddListener(listener);
  }
  void RemoveListener(EventListener* listener) override {
    store_->RemoveListener(listener);
  }
  void AddExclusiveListener(EventListener* listener) override {
    store_->AddExclusiveListener(listener);
  }
  void RemoveExclusiveListener(EventListener* listener) override {
    store_->RemoveExclusiveListener(listener);
  }
  absl::Status SyncEvents() override { return store_->SyncEvents(); }
  bool Healthy() const override { return store_->Healthy(); }

 private:
  // Runs `change` of `group`, then writes the group as it is now to the
  // log; if that fails, puts the group back as it was.
  template <typename Change>
  absl::Status Logged(absl::string_view group, Change change)
      ABSL_LOCKS_EXCLUDED(group_mu_) {
    MutexLock lock(&group_mu_);
    absl::StatusOr<std::vector<std::string>> before =
        store_->ListChannelsInGroup(group);
    absl::Status status = change();
    if (!status.ok()) return status;
    absl::StatusOr<std::vector<std::string>> after =
        store_->ListChannelsInGroup(group);
    const std::vector<std::string> none;
    absl::Status written = dir_->WriteGroup(group, after.ok() ? *after : none);
    if (written.ok()) return written;
    // Not durable, so not acknowledged: undo it.
    (void)store_->DeleteGroup(group);
    if (before.ok()) (void)store_->AddChannelsToGroup(group, *before);
    return absl::UnavailableError(absl::StrCat(
        "the change of group ", group,
        " could not be saved and was undone: ", written.message()));
  }

  void Warn(absl::string_view message) const {
    if (options_.warn) options_.warn(message);
  }

  const DurableStoreOptions options_;
  Clock* const clock_;
  const std::unique_ptr<DataDir> dir_;
  const std::unique_ptr<RestorableMemoryStore> store_;
  const size_t restored_sessions_;
  // Serialises group changes with each other and with snapshots, so the
  // log's order is the store's.
  Mutex group_mu_;
  std::atomic<int64_t> last_snapshot_ns_{0};
  // Declared last: stopped first.
  std::optional<Ticker> snapshotter_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<DurableStore>> NewDurableMemoryStore(
    const MemoryStoreOptions& memory, const DurableStoreOptions& options,
    Clock* clock) {
  DataDirOptions dir_options;
  dir_options.recover = options.recover;
  absl::StatusOr<std::unique_ptr<DataDir>> dir =
      DataDir::Open(options.data_dir, dir_options);
  if (!dir.ok()) return dir.status();
  if (options.warn) {
    for (const std::string& note : (*dir)->recovery_notes()) {
      options.warn(absl::StrCat("recovered the data directory: ", note));
    }
  }
  absl::StatusOr<DataDirContents> contents = (*dir)->Load();
  if (!contents.ok()) return contents.status();
  size_t sessions = 0;
  for (const auto& channel : contents->presence.channels) {
    for (const auto& member : channel.members) {
      sessions += member.sessions.size();
    }
  }
  std::unique_ptr<RestorableMemoryStore> store =
      NewRestorableMemoryStore(memory, clock, contents->presence);
  // Before any listener: the groups come to listeners as their replay.
  for (const auto& [group, channels] : contents->groups) {
    absl::Status added = store->AddChannelsToGroup(group, channels);
    if (!added.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("restoring group ", group, " from ", options.data_dir,
                       ": ", added.message()));
    }
  }
  return std::unique_ptr<DurableStore>(new DurableMemoryStore(
      *std::move(dir), std::move(store), options, clock, sessions));
}

}  // namespace presence
