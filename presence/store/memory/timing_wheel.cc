#include "presence/store/memory/timing_wheel.h"

namespace presence {

TimingWheel::TimingWheel(int slot_bits, uint32_t now)
    : mask_((uint32_t{1} << slot_bits) - 1),
      now_(now),
      heads_(size_t{1} << slot_bits, kNil) {}

void TimingWheel::Schedule(uint32_t node, uint32_t deadline) {
  links_.EnsureSize(size_t{node} + 1);
  if (IsScheduled(node)) Unlink(node);
  // A node already due goes in the next slot Advance() will visit.
  links_[node].deadline = NotAfter(deadline, now_) ? now_ + 1 : deadline;
  Link(node);
}

void TimingWheel::Cancel(uint32_t node) {
  if (IsScheduled(node)) Unlink(node);
}

void TimingWheel::Link(uint32_t node) {
  struct Link& link = links_[node];
  const uint32_t slot = link.deadline & mask_;
  link.prev = kNil;
  link.next = heads_[slot];
  if (link.next != kNil) links_[link.next].prev = node;
  heads_[slot] = node;
  ++size_;
}

void TimingWheel::Unlink(uint32_t node) {
  struct Link& link = links_[node];
  if (link.prev != kNil) {
    links_[link.prev].next = link.next;
  } else {
    heads_[link.deadline & mask_] = link.next;
  }
  if (link.next != kNil) links_[link.next].prev = link.prev;
  link.prev = kUnscheduled;
  link.next = kNil;
  --size_;
}

}  // namespace presence
