// TimingWheel: a hashed timing wheel of deadlines for up to 2^32 nodes.
//
// The memory store keeps one node per occupied channel, scheduled at a tick
// at or before its members' earliest deadline (MemberTree::bound()).
// Scheduling, rescheduling and cancelling are O(1) (a doubly linked list
// per slot, threaded through a node array), and Advance() touches only the
// slots between the last tick and now, so a million live timers cost
// nothing until they are due. Time is in ticks
// (the store uses 1 ms); ticks are uint32 and compared modulo 2^32, so
// deadlines must lie within 2^31 ticks of the current tick.
//
//   TimingWheel wheel;
//   wheel.Schedule(/*node=*/7, /*deadline=*/now + 3000);
//   wheel.Advance(now + 3000, [](uint32_t node) { /* node 7 is due */ });
//
// A node fires in the first Advance(t) with t >= its deadline, never
// earlier. Not thread-safe: the owner serialises calls.
#ifndef PRESENCE_STORE_MEMORY_TIMING_WHEEL_H_
#define PRESENCE_STORE_MEMORY_TIMING_WHEEL_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "presence/store/memory/chunked_vector.h"

namespace presence {

class TimingWheel {
 public:
  static constexpr uint32_t kNil = 0xffffffffu;

  // A wheel of 2^slot_bits slots whose current tick is `now`.
  explicit TimingWheel(int slot_bits = 15, uint32_t now = 0);
  TimingWheel(const TimingWheel&) = delete;
  TimingWheel& operator=(const TimingWheel&) = delete;

  // Schedules `node` (re-scheduling it if already scheduled) to fire at tick
  // `deadline`. A deadline at or before the current tick fires at the next
  // Advance().
  void Schedule(uint32_t node, uint32_t deadline);

  // Unschedules `node`; a no-op when it is not scheduled.
  void Cancel(uint32_t node);

  // Returns whether `node` is scheduled.
  bool IsScheduled(uint32_t node) const {
    return node < links_.size() && links_[node].prev != kUnscheduled;
  }

  // Returns the tick a scheduled node fires at: its deadline, or the tick
  // after the current one if it was already due when scheduled. For a node
  // that fired, the tick it was due at, until it is scheduled again.
  uint32_t Deadline(uint32_t node) const { return links_[node].deadline; }

  // Moves the current tick forward to `now`, unscheduling every node whose
  // deadline is at or before `now` and calling fire(node) for each, in slot
  // order. `fire` may schedule nodes that are not scheduled, but must not
  // cancel or reschedule others. A `now` at or before the current tick does
  // nothing.
  template <typename Fire>
  void Advance(uint32_t now, Fire&& fire);

  // Returns the current tick.
  uint32_t now() const { return now_; }

  // Returns the number of scheduled nodes.
  size_t size() const { return size_; }

  // Returns an estimate of the bytes used.
  size_t MemoryBytes() const {
    return heads_.capacity() * sizeof(uint32_t) + links_.AllocatedBytes();
  }

  // Returns whether tick `a` is at or before tick `b` (modulo 2^32).
  static bool NotAfter(uint32_t a, uint32_t b) {
    return static_cast<int32_t>(a - b) <= 0;
  }

 private:
  // prev of a node that is not scheduled.
  static constexpr uint32_t kUnscheduled = 0xfffffffeu;

  // 12 bytes per node: the slot is deadline & mask_.
  struct Link {
    uint32_t prev = kUnscheduled;  // kNil for the head of a slot's list.
    uint32_t next = kNil;
    uint32_t deadline = 0;
  };

  void Link(uint32_t node);
  void Unlink(uint32_t node);

  const uint32_t mask_;
  uint32_t now_;
  size_t size_ = 0;
  std::vector<uint32_t> heads_;
  ChunkedVector<struct Link> links_;
};

template <typename Fire>
void TimingWheel::Advance(uint32_t now, Fire&& fire) {
  if (NotAfter(now, now_)) return;
  // Beyond one rotation every slot is visited once.
  const uint32_t ticks = now - now_;
  const uint32_t steps = ticks > mask_ ? mask_ + 1 : ticks;
  const uint32_t first = now_ + 1;
  now_ = now;  // So that nodes `fire` schedules land after this pass.
  for (uint32_t i = 0; i < steps; ++i) {
    const uint32_t slot = (first + i) & mask_;
    uint32_t node = heads_[slot];
    while (node != kNil) {
      const uint32_t next = links_[node].next;
      if (NotAfter(links_[node].deadline, now)) {
        Unlink(node);
        fire(node);
      }
      node = next;
    }
  }
}

}  // namespace presence

#endif  // PRESENCE_STORE_MEMORY_TIMING_WHEEL_H_
