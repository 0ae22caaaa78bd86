// The embedded in-memory PresenceStore: the default store of a single
// replica.
//
//   auto store = presence::NewMemoryStore(presence::MemoryStoreOptions(),
//                                         presence::Clock::Real());
//
// Built for size and speed. Channels are spread over 16 shards, each with
// its own lock; a request locks the shards of its channels in ascending
// order, which makes it atomic. Per shard:
// - each occupied channel's members are a MemberTree (member_tree.h): 8
//   bytes per member (the user's interned id with flags, and the deadline)
//   in a B+ tree ordered by user id, counted (a HereNow page costs
//   O(log n + page)) and keeping lower bounds of the deadlines below each
//   node;
// - the channel, not each member, sits in a hashed timing wheel
//   (TimingWheel), due at its tree's bound: expiring never scans, and a
//   heartbeat that extends a deadline touches only its record;
// - state, named sessions and several sessions of one member are in side
//   tables, so the common member (default session, no state) costs its
//   record alone;
// - channel records are found by name in a hash table, with a lossy cache
//   of slots by hash bits in front that Batch() reads to prefetch many
//   records at once (the record's name confirms each guess).
// Names are interned (NameTable); a user -> channels index answers
// WhereNow without taking any shard's lock while no member of the user's
// channels is due. All told a membership costs about 20 bytes (10M
// memberships: bench/store/memory_footprint).
//
// Every call first times out what is due in the channels it touches, so
// answers are exact even between two ExpireSessions() calls, which times
// out the rest in slices of a few hundred per hold of a shard's lock, so
// that a mass expiry does not stall other calls. A channel's timeouts due
// together come in deadline order, then user-id order; a timeout event's
// deadline is the member's deadline rounded up to the tick. Batch() applies
// each entry under its own shards' locks, like Heartbeat and Leave, after
// prefetching the lookups of a chunk of entries together.
//
// Events: its raw events go through an EventPipeline
// (presence/internal/event_pipeline.h: active/inactive, interval mode,
// consumer sequences), whose interval events ExpireSessions() also emits.
// Listeners are called by the thread that made the change, holding the
// lock of the event's channel (its shard's, then the pipeline's); interval
// events by the thread running ExpireSessions(), holding the pipeline's
// lock of the channel. Exclusive listeners are called like the others. A
// raw event's sequence carries the channel's epoch, which follows the rule
// of PresenceEvent::sequence with the store's clock: a channel's previous
// epoch is remembered after it goes inactive while it is not below the
// current second, so memory stays bounded by the channels that went
// inactive within about a second.
#ifndef PRESENCE_STORE_MEMORY_MEMORY_STORE_H_
#define PRESENCE_STORE_MEMORY_MEMORY_STORE_H_

#include <memory>

#include "absl/time/time.h"
#include "presence/clock.h"
#include "presence/event.h"
#include "presence/limits.h"
#include "presence/store.h"
#include "presence/store/memory/memory_store_image.h"

namespace presence {

struct MemoryStoreOptions {
  // Only max_channels_per_group is used by the store itself.
  Limits limits;
  // Active/inactive, interval mode and sequences of the events it emits.
  EventOptions events;
  // Granularity of deadlines: a session times out at most one tick after its
  // deadline (plus the time until the next ExpireSessions()), never before.
  // Well below the server's 10 ms sweep period, so that the rounding adds
  // little to the sweep's own delay (S4's timeout lag). Ticks are uint32
  // compared modulo 2^32: deadlines lie within 2^31 ticks (24 days) of now.
  absl::Duration tick = absl::Milliseconds(1);
  // log2 of the timing wheel's slot count per shard (it holds channels);
  // 2^15 ticks of 1 ms span 33 s: a channel due later is passed over once
  // per rotation (a 300 s timeout: 9 times), which costs less than the
  // memory of more slots.
  int wheel_slot_bits = 15;
};

// Returns a new memory store reading time from `clock`, which must outlive
// it.
std::unique_ptr<PresenceStore> NewMemoryStore(const MemoryStoreOptions& options,
                                              Clock* clock);

// The durable layer's seam (presence/store/durable): a memory store that
// copies out its live presence, and starts from such a copy.
class RestorableMemoryStore : public PresenceStore {
 public:
  // Returns a copy of the live presence, channels by name. Each shard is
  // copied under its lock, one at a time (requests stall for a sixteenth
  // of the copy: about 1.5 ms per 100k sessions), so a request spanning
  // shards that runs meanwhile may be in it in part; with no request in
  // flight (a drained server) it is exact. Sessions past their deadline
  // that no call has timed out yet are in it.
  virtual MemoryStoreImage Image() = 0;
};

// Returns a memory store holding the presence of `image` without having
// emitted any event for it: each channel is active with its members'
// occupancy and continues with a new epoch above the image's, and every
// session keeps its deadline (those already passed time out, with events,
// at the first ExpireSessions() or call touching their channel).
std::unique_ptr<RestorableMemoryStore> NewRestorableMemoryStore(
    const MemoryStoreOptions& options, Clock* clock,
    const MemoryStoreImage& image);

}  // namespace presence

#endif  // PRESENCE_STORE_MEMORY_MEMORY_STORE_H_
