// The embedded store with a data directory (--data_dir): a memory store
// (presence/store/memory) whose channel groups and live presence survive a
// restart, kept in a DataDir (LevelDB, data_dir.h).
//
//   DurableStoreOptions durable;
//   durable.data_dir = "/var/lib/presence";
//   absl::StatusOr<std::unique_ptr<DurableStore>> store =
//       NewDurableMemoryStore(MemoryStoreOptions(), durable, Clock::Real());
//
// What survives what:
// - Channel-group changes are written to the data directory's log with
//   fsync before the call returns, so a change that was acknowledged
//   survives any crash (kill -9, power loss). Group changes are serialised;
//   listeners may see a change just before it is durable, and a change
//   whose write fails is undone and fails with UNAVAILABLE.
// - Live presence (sessions with their absolute deadlines, states, channel
//   epochs) is snapshotted every `snapshot_interval`, on Snapshot(), and
//   when the store is destroyed (a graceful shutdown), in one atomic write.
//   A new store starts from the last snapshot without emitting events:
//   a restart within the clients' heartbeat window causes no leave, join or
//   timeout, and sessions whose deadline passed meanwhile time out, with
//   events, at the first ExpireSessions(). After a crash, what changed
//   since the last snapshot is lost: sessions that joined since are gone
//   until their next heartbeat (a join then), and those that left since are
//   back until their deadline (a timeout then).
// - Each restored channel continues with a new epoch above its snapshot's,
//   so its sequences never repeat (PresenceEvent::sequence).
//
// Thread-safe, like every PresenceStore.
#ifndef PRESENCE_STORE_DURABLE_DURABLE_STORE_H_
#define PRESENCE_STORE_DURABLE_DURABLE_STORE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "presence/clock.h"
#include "presence/store.h"
#include "presence/store/memory/memory_store.h"

namespace presence {

struct DurableStoreOptions {
  // The data directory; created if missing (its parent must exist).
  std::string data_dir;
  // On a damaged data directory: false fails the start with DATA_LOSS
  // naming the files; true keeps every intact record and starts from them
  // (see DataDirOptions::recover).
  bool recover = false;
  // How often live presence is snapshotted; zero: only on Snapshot() and at
  // destruction.
  absl::Duration snapshot_interval = absl::Seconds(10);
  // Whether the destructor writes a last snapshot (tests turn it off to
  // stand for a crash).
  bool snapshot_at_close = true;
  // Called with what is worth a warning in the server's log: what a
  // recovery dropped, a snapshot that failed. May be empty.
  std::function<void(absl::string_view)> warn;
};

class DurableStore : public PresenceStore {
 public:
  // Writes a snapshot of live presence (and every group) now.
  virtual absl::Status Snapshot() = 0;

  // How many sessions the start restored, and how long the last snapshot
  // took (for the log and metrics).
  virtual size_t restored_sessions() const = 0;
  virtual absl::Duration last_snapshot_duration() const = 0;
};

// Opens (or creates) the data directory and returns a memory store that
// starts from what it holds. DATA_LOSS names the damaged files;
// FAILED_PRECONDITION when the directory cannot be created or another
// process holds it.
absl::StatusOr<std::unique_ptr<DurableStore>> NewDurableMemoryStore(
    const MemoryStoreOptions& memory, const DurableStoreOptions& options,
    Clock* clock);

}  // namespace presence

#endif  // PRESENCE_STORE_DURABLE_DURABLE_STORE_H_
