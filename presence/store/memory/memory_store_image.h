// MemoryStoreImage: a copy of the live presence of a memory store, taken
// consistently (every shard locked at once), from which a new memory store
// can start. The durable layer (presence/store/durable) writes it to disk
// and reads it back so that a restart loses no session:
//
//   MemoryStoreImage image = store->Image();          // presence/store/memory
//   ... written by DataDir::WriteSnapshot, read back by DataDir::Load ...
//   auto restored = NewRestorableMemoryStore(options, clock, image);
//
// Deadlines are absolute, so a session keeps its deadline across a restart
// and one whose deadline passed while the process was down times out (with
// events) at the first expiry after the start. Channel groups are not part
// of it: the durable layer logs them change by change.
#ifndef PRESENCE_STORE_MEMORY_MEMORY_STORE_IMAGE_H_
#define PRESENCE_STORE_MEMORY_MEMORY_STORE_IMAGE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace presence {

struct MemoryStoreImage {
  struct Session {
    std::string session_id;  // Empty: the default session.
    absl::Time deadline;
  };
  struct Member {
    std::string user_id;
    std::string state;              // JSON object text; empty: no state.
    std::vector<Session> sessions;  // At least one.
  };
  struct Channel {
    std::string name;
    // The epoch of the channel's sequences (PresenceEvent::sequence >> 32).
    // A restored channel continues with a later one, so that no (channel,
    // sequence) repeats even when events after the image were lost.
    uint32_t epoch = 0;
    std::vector<Member> members;  // At least one.
  };

  // Occupied channels.
  std::vector<Channel> channels;
  // Channels that went inactive recently enough that their last epoch may
  // still raise the next one (see PresenceEvent::sequence): name, epoch.
  std::vector<std::pair<std::string, uint32_t>> past_epochs;
};

}  // namespace presence

#endif  // PRESENCE_STORE_MEMORY_MEMORY_STORE_IMAGE_H_
