// MemberTree: a channel's members, ordered by user id, as the memory store
// keeps them.
//
// A counted B+ tree of 8-byte records (a user's interned id with flag bits,
// and the tick of the membership's deadline), ordered by the user's name
// (byte-wise, as HereNow pages it) through the store's user NameTable. It
// is the channel's only member index, so it must serve every access path:
//
// - find, insert and erase by user name: O(log n) name comparisons;
// - a page of `limit` members from rank `offset`: O(log n + limit), since
//   every inner node counts the records below each child;
// - the members due at a tick: every inner node keeps, per child, a lower
//   bound of the deadlines below it, so CollectDue() descends only where
//   something may be due, and bound() tells the store when the channel
//   needs looking at (it schedules the channel, not each member, in its
//   timing wheel).
//
// The bounds are lower bounds, not exact minima, so that extending a
// deadline (every heartbeat) costs nothing: only a lower deadline
// (Insert(), LowerBound()) walks the path, and RefreshBound() recomputes
// them where they are at or before a tick, once the due records are gone.
//
// Leaves hold up to 62 records (512-byte allocations); a full leaf first
// shifts records into a sibling with room and only splits when both are
// full, which keeps leaves about 80% full, so a member costs about 10
// bytes here.
//
//   MemberTree tree;
//   tree.Insert("alice", {alice_id, deadline}, users);
//   MemberRecord* r = tree.Find("alice", users);  // r->deadline = later;
//   tree.ForRange(/*offset=*/0, /*limit=*/10, [](const MemberRecord& r) {});
//
// Ticks are uint32 compared modulo 2^32 (TimingWheel::NotAfter), so
// deadlines and bounds must lie within 2^31 ticks of each other. Records'
// user ids must be live names of `names` (the records hold references).
// Not thread-safe: the store serialises calls with the channel's lock.
#ifndef PRESENCE_STORE_MEMORY_MEMBER_TREE_H_
#define PRESENCE_STORE_MEMORY_MEMBER_TREE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "presence/store/memory/name_table.h"

namespace presence {

struct MemberRecord {
  // The user's NameTable id in the bits of kIdMask; the bits above are the
  // store's flags, which the tree ignores.
  uint32_t user = 0;
  uint32_t deadline = 0;  // Tick.
};

class MemberTree {
 public:
  static constexpr uint32_t kIdMask = (uint32_t{1} << 29) - 1;

  MemberTree() = default;
  ~MemberTree() { Clear(); }
  MemberTree(const MemberTree&) = delete;
  MemberTree& operator=(const MemberTree&) = delete;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Starts loading the root node (a hint before Find()).
  void Prefetch() const {
    if (root_ != nullptr) __builtin_prefetch(root_);
  }

  // A tick at or before every record's deadline (meaningless when empty).
  uint32_t bound() const { return bound_; }

  // Returns the record of `user`, or nullptr. The pointer is valid until
  // the next Insert() or Erase(); its deadline may be raised in place, but
  // lowering it must be followed by LowerBound().
  MemberRecord* Find(absl::string_view user, const NameTable& names);

  // Find() of the user whose id is `id` (kIdMask bits): compares names only
  // on the way down and scans the leaf for the id, which spares the name
  // lookups of a binary search (each likely a cache miss) in small
  // channels.
  MemberRecord* Find(absl::string_view user, uint32_t id,
                     const NameTable& names);

  // Lowers the bounds on the path to `user`'s record to at most `deadline`.
  void LowerBound(absl::string_view user, uint32_t deadline,
                  const NameTable& names);

  // Inserts `record` for `user` (the name of record.user); returns false,
  // changing nothing, when the user is already a member.
  bool Insert(absl::string_view user, MemberRecord record,
              const NameTable& names);

  // Removes `user`'s record into *erased; returns false if there is none.
  bool Erase(absl::string_view user, const NameTable& names,
             MemberRecord* erased);
  // The same for the user whose id is `id`, found as Find(user, id, names)
  // does.
  bool Erase(absl::string_view user, uint32_t id, const NameTable& names,
             MemberRecord* erased);

  // Calls fn(const MemberRecord&) for the records of ranks [offset,
  // offset + limit), in name order.
  template <typename Fn>
  void ForRange(size_t offset, size_t limit, Fn&& fn) const;

  // Appends the records whose deadline is at or before `now`, in name
  // order.
  void CollectDue(uint32_t now, std::vector<MemberRecord>* out) const;

  // Recomputes every bound at or before `now` from what is below it, so
  // that once no record is due at `now` the bound is after `now`.
  void RefreshBound(uint32_t now);

  // Removes the records whose deadline is at or before `now`, appending
  // them to *out in name order, and refreshes the bounds: CollectDue(),
  // Erase() of each and RefreshBound() in one pass, without comparing a
  // name.
  void EraseDue(uint32_t now, std::vector<MemberRecord>* out);

  // EraseDue() of only the records at or before (cut_deadline, cut_user) in
  // (deadline, name) order: the next part of a due set taken in slices.
  void EraseDueThrough(uint32_t cut_deadline, absl::string_view cut_user,
                       const NameTable& names, std::vector<MemberRecord>* out);

  // Removes every record.
  void Clear();

  // Bytes allocated for nodes.
  size_t MemoryBytes() const;

  // Checks the tree's invariants (order, counts, bounds, separators);
  // returns what is wrong, or "" when nothing is. For tests.
  std::string CheckInvariants(const NameTable& names) const;

  // The nodes (member_tree.cc).
  struct Node;
  struct Leaf;
  struct Inner;

 private:
  struct Step;

  // No id: Erase() by name alone.
  static constexpr uint32_t kNoUser = 0xffffffffu;

  bool EraseImpl(absl::string_view user, uint32_t id, const NameTable& names,
                 MemberRecord* erased);

  // Removes the records due at `limit` that erase(record) takes, into *out
  // in name order, refreshing the bounds of what it visits.
  template <typename Pred>
  void EraseWhere(uint32_t limit, Pred erase, std::vector<MemberRecord>* out);

  template <typename Fn>
  static void Visit(const Node* node, size_t skip, size_t& take, Fn& fn);

  // Members of Leaf and Inner that templates above need.
  static bool IsLeaf(const Node* node);
  static int Count(const Node* node);
  static const MemberRecord* Records(const Node* node);
  static const Node* Child(const Node* node, int i);
  static size_t ChildSize(const Node* node, int i);

  Node* root_ = nullptr;
  // 32 bits (user ids have fewer), so that the memory store's channel record
  // fits a cache line.
  uint32_t size_ = 0;
  uint32_t bound_ = 0;
};

template <typename Fn>
void MemberTree::Visit(const Node* node, size_t skip, size_t& take, Fn& fn) {
  const int count = Count(node);
  if (IsLeaf(node)) {
    const MemberRecord* records = Records(node);
    for (size_t k = skip; k < static_cast<size_t>(count) && take > 0;
         ++k, --take) {
      fn(records[k]);
    }
    return;
  }
  for (int i = 0; i < count && take > 0; ++i) {
    const size_t size = ChildSize(node, i);
    if (skip >= size) {
      skip -= size;
      continue;
    }
    Visit(Child(node, i), skip, take, fn);
    skip = 0;
  }
}

template <typename Fn>
void MemberTree::ForRange(size_t offset, size_t limit, Fn&& fn) const {
  if (root_ == nullptr || offset >= size_ || limit == 0) return;
  size_t take = limit;
  Visit(root_, offset, take, fn);
}

}  // namespace presence

#endif  // PRESENCE_STORE_MEMORY_MEMBER_TREE_H_
