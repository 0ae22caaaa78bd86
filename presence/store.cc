#include "presence/store.h"

namespace presence {

std::vector<BatchEntryResult> PresenceStore::Batch(
    const std::vector<BatchEntry>& entries) {
  std::vector<BatchEntryResult> results(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const BatchEntry& entry = entries[i];
    if (entry.kind == BatchEntry::Kind::kHeartbeat) {
      results[i].status = Heartbeat(entry.heartbeat);
      continue;
    }
    absl::StatusOr<LeaveResult> left = Leave(entry.leave);
    if (left.ok()) {
      results[i].leave = *std::move(left);
    } else {
      results[i].status = left.status();
    }
  }
  return results;
}

}  // namespace presence
