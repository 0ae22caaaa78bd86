#include "presence/store/memory/member_tree.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace presence {
namespace {

// 4 + 62 * 8 = 500 bytes: a 512-byte malloc chunk.
constexpr int kLeafCap = 62;
constexpr int kInnerCap = 32;
// Below these a node merges with, or borrows from, a sibling.
constexpr int kLeafMin = kLeafCap / 4;
constexpr int kInnerMin = kInnerCap / 4;
// Depth of a tree of 2^32 records with every node at its minimum, and more.
constexpr int kMaxDepth = 24;

bool NotAfter(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(a - b) <= 0;
}
uint32_t Earlier(uint32_t a, uint32_t b) { return NotAfter(a, b) ? a : b; }

int Compare(absl::string_view key, uint32_t user, const NameTable& names) {
  return key.compare(names.Name(user & MemberTree::kIdMask));
}

uint32_t MinDeadline(const MemberRecord* records, int n) {
  uint32_t min = records[0].deadline;
  for (int k = 1; k < n; ++k) min = Earlier(min, records[k].deadline);
  return min;
}

}  // namespace

struct MemberTree::Node {
  uint16_t count = 0;
  bool leaf = false;
};

struct MemberTree::Leaf : Node {
  Leaf() { leaf = true; }
  MemberRecord records[kLeafCap];
};

// Child i holds size[i] records whose deadlines are all at or after
// bound[i]; first[i] is the (masked) user id of its first record.
struct MemberTree::Inner : Node {
  uint32_t first[kInnerCap];
  uint32_t size[kInnerCap];
  uint32_t bound[kInnerCap];
  Node* child[kInnerCap];
};

// A step of a root-to-leaf path: the inner node and the child taken.
struct MemberTree::Step {
  Inner* node;
  int index;
};

namespace {

using Node = MemberTree::Node;

}  // namespace

bool MemberTree::IsLeaf(const Node* node) { return node->leaf; }
int MemberTree::Count(const Node* node) { return node->count; }
const MemberRecord* MemberTree::Records(const Node* node) {
  return static_cast<const Leaf*>(node)->records;
}
const MemberTree::Node* MemberTree::Child(const Node* node, int i) {
  return static_cast<const Inner*>(node)->child[i];
}
size_t MemberTree::ChildSize(const Node* node, int i) {
  return static_cast<const Inner*>(node)->size[i];
}

namespace {

MemberTree::Leaf* AsLeaf(Node* node) {
  return static_cast<MemberTree::Leaf*>(node);
}
MemberTree::Inner* AsInner(Node* node) {
  return static_cast<MemberTree::Inner*>(node);
}

uint32_t FirstOf(Node* node) {
  return node->leaf ? AsLeaf(node)->records[0].user & MemberTree::kIdMask
                    : AsInner(node)->first[0];
}

// Records below `node`.
uint32_t SizeOf(Node* node) {
  if (node->leaf) return node->count;
  uint32_t n = 0;
  const MemberTree::Inner* inner = AsInner(node);
  for (int i = 0; i < inner->count; ++i) n += inner->size[i];
  return n;
}

// The child of `inner` whose range holds `key`: the last one whose first
// record is not after it (the first child when all are).
int ChildIndex(const MemberTree::Inner* inner, absl::string_view key,
               const NameTable& names) {
  int lo = 1, hi = inner->count;
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (Compare(key, inner->first[mid], names) < 0) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo - 1;
}

// The position of the first record of `leaf` not before `key`; *found
// tells whether it is `key`'s.
int LeafPosition(const MemberTree::Leaf* leaf, absl::string_view key,
                 const NameTable& names, bool* found) {
  int lo = 0, hi = leaf->count;
  *found = false;
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    const int c = Compare(key, leaf->records[mid].user, names);
    if (c > 0) {
      lo = mid + 1;
    } else {
      if (c == 0) *found = true;
      hi = mid;
    }
  }
  return lo;
}

// Moves entries [from, from + n) of `src` to position `to` of `dst` (which
// has room), for inner nodes.
void MoveEntries(MemberTree::Inner* src, int from, int n,
                 MemberTree::Inner* dst, int to) {
  std::memmove(dst->first + to + n, dst->first + to,
               (dst->count - to) * sizeof(uint32_t));
  std::memmove(dst->size + to + n, dst->size + to,
               (dst->count - to) * sizeof(uint32_t));
  std::memmove(dst->bound + to + n, dst->bound + to,
               (dst->count - to) * sizeof(uint32_t));
  std::memmove(dst->child + to + n, dst->child + to,
               (dst->count - to) * sizeof(Node*));
  std::memcpy(dst->first + to, src->first + from, n * sizeof(uint32_t));
  std::memcpy(dst->size + to, src->size + from, n * sizeof(uint32_t));
  std::memcpy(dst->bound + to, src->bound + from, n * sizeof(uint32_t));
  std::memcpy(dst->child + to, src->child + from, n * sizeof(Node*));
  dst->count += n;
  const int tail = src->count - from - n;
  std::memmove(src->first + from, src->first + from + n,
               tail * sizeof(uint32_t));
  std::memmove(src->size + from, src->size + from + n, tail * sizeof(uint32_t));
  std::memmove(src->bound + from, src->bound + from + n,
               tail * sizeof(uint32_t));
  std::memmove(src->child + from, src->child + from + n, tail * sizeof(Node*));
  src->count -= n;
}

// The same for leaves.
void MoveRecords(MemberTree::Leaf* src, int from, int n, MemberTree::Leaf* dst,
                 int to) {
  std::memmove(dst->records + to + n, dst->records + to,
               (dst->count - to) * sizeof(MemberRecord));
  std::memcpy(dst->records + to, src->records + from, n * sizeof(MemberRecord));
  dst->count += n;
  std::memmove(src->records + from, src->records + from + n,
               (src->count - from - n) * sizeof(MemberRecord));
  src->count -= n;
}

// Records (for leaves) or child records (inner) in entries [from, from+n)
// of `node`, and the earliest deadline (bound) among them.
void Measure(Node* node, int from, int n, uint32_t* size, uint32_t* bound) {
  if (node->leaf) {
    *size = n;
    *bound = MinDeadline(AsLeaf(node)->records + from, n);
    return;
  }
  const MemberTree::Inner* inner = AsInner(node);
  *size = 0;
  *bound = inner->bound[from];
  for (int i = from; i < from + n; ++i) {
    *size += inner->size[i];
    *bound = Earlier(*bound, inner->bound[i]);
  }
}

// Moves `n` entries (records or children) of child `from` of `parent` to
// its sibling `to` (adjacent): from the end of `from` to the front of `to`
// when `to` is on the right, else from the front to the end. Keeps the
// parent's counts, bounds and separators right.
void Shift(MemberTree::Inner* parent, int from, int to, int n) {
  Node* src = parent->child[from];
  Node* dst = parent->child[to];
  const int src_at = to > from ? src->count - n : 0;
  const int dst_at = to > from ? 0 : dst->count;
  uint32_t size, bound;
  Measure(src, src_at, n, &size, &bound);
  if (src->leaf) {
    MoveRecords(AsLeaf(src), src_at, n, AsLeaf(dst), dst_at);
  } else {
    MoveEntries(AsInner(src), src_at, n, AsInner(dst), dst_at);
  }
  parent->size[from] -= size;
  parent->size[to] += size;
  parent->bound[to] = Earlier(parent->bound[to], bound);
  parent->first[std::max(from, to)] =
      FirstOf(parent->child[std::max(from, to)]);
}

// Appends child `i + 1` of `parent` to child `i` and removes it.
void Merge(MemberTree::Inner* parent, int i) {
  Node* left = parent->child[i];
  Node* right = parent->child[i + 1];
  if (left->leaf) {
    MoveRecords(AsLeaf(right), 0, right->count, AsLeaf(left), left->count);
    delete AsLeaf(right);
  } else {
    MoveEntries(AsInner(right), 0, right->count, AsInner(left), left->count);
    delete AsInner(right);
  }
  parent->size[i] += parent->size[i + 1];
  parent->bound[i] = Earlier(parent->bound[i], parent->bound[i + 1]);
  parent->first[i] = FirstOf(left);  // `left` may have been empty.
  const int tail = parent->count - i - 2;
  std::memmove(parent->first + i + 1, parent->first + i + 2,
               tail * sizeof(uint32_t));
  std::memmove(parent->size + i + 1, parent->size + i + 2,
               tail * sizeof(uint32_t));
  std::memmove(parent->bound + i + 1, parent->bound + i + 2,
               tail * sizeof(uint32_t));
  std::memmove(parent->child + i + 1, parent->child + i + 2,
               tail * sizeof(Node*));
  --parent->count;
}

int CapacityOf(const Node* node) { return node->leaf ? kLeafCap : kInnerCap; }
int MinimumOf(const Node* node) { return node->leaf ? kLeafMin : kInnerMin; }

// Child i of `parent` fell below its minimum: merges it with a sibling
// when they fit in one node, else takes entries from the fuller sibling.
void Rebalance(MemberTree::Inner* parent, int i) {
  Node* child = parent->child[i];
  Node* left = i > 0 ? parent->child[i - 1] : nullptr;
  Node* right = i + 1 < parent->count ? parent->child[i + 1] : nullptr;
  const int cap = CapacityOf(child);
  if (left != nullptr && left->count + child->count <= cap) {
    Merge(parent, i - 1);
  } else if (right != nullptr && child->count + right->count <= cap) {
    Merge(parent, i);
  } else if (left != nullptr &&
             (right == nullptr || left->count >= right->count)) {
    Shift(parent, i - 1, i, (left->count - child->count) / 2);
  } else if (right != nullptr) {
    Shift(parent, i + 1, i, (right->count - child->count) / 2);
  }
}

}  // namespace

MemberRecord* MemberTree::Find(absl::string_view user, const NameTable& names) {
  if (root_ == nullptr) return nullptr;
  Node* node = root_;
  while (!node->leaf) {
    Inner* inner = AsInner(node);
    node = inner->child[ChildIndex(inner, user, names)];
  }
  Leaf* leaf = AsLeaf(node);
  bool found;
  const int pos = LeafPosition(leaf, user, names, &found);
  return found ? &leaf->records[pos] : nullptr;
}

MemberRecord* MemberTree::Find(absl::string_view user, uint32_t id,
                               const NameTable& names) {
  if (root_ == nullptr) return nullptr;
  Node* node = root_;
  while (!node->leaf) {
    Inner* inner = AsInner(node);
    node = inner->child[ChildIndex(inner, user, names)];
  }
  Leaf* leaf = AsLeaf(node);
  for (int k = 0; k < leaf->count; ++k) {
    if ((leaf->records[k].user & kIdMask) == id) return &leaf->records[k];
  }
  return nullptr;
}

void MemberTree::LowerBound(absl::string_view user, uint32_t deadline,
                            const NameTable& names) {
  if (root_ == nullptr) return;
  bound_ = Earlier(bound_, deadline);
  Node* node = root_;
  while (!node->leaf) {
    Inner* inner = AsInner(node);
    const int i = ChildIndex(inner, user, names);
    inner->bound[i] = Earlier(inner->bound[i], deadline);
    node = inner->child[i];
  }
}

bool MemberTree::Insert(absl::string_view user, MemberRecord record,
                        const NameTable& names) {
  if (root_ == nullptr) {
    Leaf* leaf = new Leaf();
    leaf->records[0] = record;
    leaf->count = 1;
    root_ = leaf;
    size_ = 1;
    bound_ = record.deadline;
    return true;
  }
  Step path[kMaxDepth];
  int depth = 0;
  Node* node = root_;
  while (!node->leaf) {
    Inner* inner = AsInner(node);
    const int i = ChildIndex(inner, user, names);
    path[depth++] = {inner, i};
    node = inner->child[i];
  }
  Leaf* leaf = AsLeaf(node);
  bool found;
  const int pos = LeafPosition(leaf, user, names, &found);
  if (found) return false;

  ++size_;
  bound_ = Earlier(bound_, record.deadline);
  for (int d = 0; d < depth; ++d) {
    Inner* inner = path[d].node;
    const int i = path[d].index;
    ++inner->size[i];
    inner->bound[i] = Earlier(inner->bound[i], record.deadline);
  }
  // Only a new first record of the whole tree lands at position 0 (any
  // other key is at or after the separator that led here), and it stays
  // on the leftmost path through any shift or split below.
  const bool new_first = pos == 0;

  // The leaf's records with the new one, in order.
  MemberRecord all[kLeafCap + 1];
  int n = leaf->count;
  if (n < kLeafCap) {
    std::memmove(leaf->records + pos + 1, leaf->records + pos,
                 (n - pos) * sizeof(MemberRecord));
    leaf->records[pos] = record;
    ++leaf->count;
  } else {
    std::memcpy(all, leaf->records, pos * sizeof(MemberRecord));
    all[pos] = record;
    std::memcpy(all + pos + 1, leaf->records + pos,
                (n - pos) * sizeof(MemberRecord));
    ++n;
    // Full: first give records to a sibling with room (a split would leave
    // two half-empty leaves).
    bool placed = false;
    if (depth > 0) {
      Inner* parent = path[depth - 1].node;
      const int i = path[depth - 1].index;
      Leaf* left = i > 0 ? AsLeaf(parent->child[i - 1]) : nullptr;
      Leaf* right =
          i + 1 < parent->count ? AsLeaf(parent->child[i + 1]) : nullptr;
      if (left != nullptr && kLeafCap - left->count >= 2) {
        const int k = (kLeafCap - left->count + 1) / 2;
        std::memcpy(left->records + left->count, all, k * sizeof(MemberRecord));
        left->count += k;
        std::memcpy(leaf->records, all + k, (n - k) * sizeof(MemberRecord));
        leaf->count = n - k;
        parent->size[i - 1] += k;
        parent->size[i] -= k;
        parent->bound[i - 1] =
            Earlier(parent->bound[i - 1], MinDeadline(all, k));
        parent->first[i] = FirstOf(leaf);
        placed = true;
      } else if (right != nullptr && kLeafCap - right->count >= 2) {
        const int k = (kLeafCap - right->count + 1) / 2;
        std::memmove(right->records + k, right->records,
                     right->count * sizeof(MemberRecord));
        std::memcpy(right->records, all + n - k, k * sizeof(MemberRecord));
        right->count += k;
        std::memcpy(leaf->records, all, (n - k) * sizeof(MemberRecord));
        leaf->count = n - k;
        parent->size[i + 1] += k;
        parent->size[i] -= k;
        parent->bound[i + 1] =
            Earlier(parent->bound[i + 1], MinDeadline(all + n - k, k));
        parent->first[i + 1] = FirstOf(right);
        placed = true;
      }
    }
    if (!placed) {
      // Split: the new right leaf goes into the parent, which may split in
      // turn, up to a new root.
      const int half = n / 2;
      Leaf* sibling = new Leaf();
      std::memcpy(leaf->records, all, half * sizeof(MemberRecord));
      leaf->count = half;
      std::memcpy(sibling->records, all + half,
                  (n - half) * sizeof(MemberRecord));
      sibling->count = n - half;
      Node* left_node = leaf;
      Node* right_node = sibling;
      uint32_t right_size = sibling->count;
      uint32_t right_bound = MinDeadline(sibling->records, sibling->count);
      int d = depth - 1;
      while (true) {
        if (d < 0) {
          Inner* root = new Inner();
          root->count = 2;
          root->child[0] = left_node;
          root->first[0] = FirstOf(left_node);
          root->size[0] = SizeOf(left_node);
          root->bound[0] = bound_;
          root->child[1] = right_node;
          root->first[1] = FirstOf(right_node);
          root->size[1] = right_size;
          root->bound[1] = right_bound;
          root_ = root;
          break;
        }
        Inner* parent = path[d].node;
        const int i = path[d].index;
        parent->size[i] = SizeOf(left_node);
        if (parent->count < kInnerCap) {
          const int tail = parent->count - i - 1;
          std::memmove(parent->first + i + 2, parent->first + i + 1,
                       tail * sizeof(uint32_t));
          std::memmove(parent->size + i + 2, parent->size + i + 1,
                       tail * sizeof(uint32_t));
          std::memmove(parent->bound + i + 2, parent->bound + i + 1,
                       tail * sizeof(uint32_t));
          std::copy_backward(parent->child + i + 1,
                             parent->child + i + 1 + tail,
                             parent->child + i + 2 + tail);
          parent->first[i + 1] = FirstOf(right_node);
          parent->size[i + 1] = right_size;
          parent->bound[i + 1] = right_bound;
          parent->child[i + 1] = right_node;
          ++parent->count;
          break;
        }
        // The parent is full too: split it, its new entry included.
        uint32_t first[kInnerCap + 1], size[kInnerCap + 1],
            bound[kInnerCap + 1];
        Node* child[kInnerCap + 1];
        for (int k = 0, j = 0; k <= kInnerCap; ++k) {
          if (k == i + 1) {
            first[k] = FirstOf(right_node);
            size[k] = right_size;
            bound[k] = right_bound;
            child[k] = right_node;
            continue;
          }
          first[k] = parent->first[j];
          size[k] = parent->size[j];
          bound[k] = parent->bound[j];
          child[k] = parent->child[j];
          ++j;
        }
        const int total = kInnerCap + 1;
        const int keep = total / 2;
        Inner* split = new Inner();
        std::memcpy(parent->first, first, keep * sizeof(uint32_t));
        std::memcpy(parent->size, size, keep * sizeof(uint32_t));
        std::memcpy(parent->bound, bound, keep * sizeof(uint32_t));
        std::copy(child, child + keep, parent->child);
        parent->count = keep;
        std::memcpy(split->first, first + keep,
                    (total - keep) * sizeof(uint32_t));
        std::memcpy(split->size, size + keep,
                    (total - keep) * sizeof(uint32_t));
        std::memcpy(split->bound, bound + keep,
                    (total - keep) * sizeof(uint32_t));
        std::copy(child + keep, child + total, split->child);
        split->count = total - keep;
        Measure(split, 0, split->count, &right_size, &right_bound);
        left_node = parent;
        right_node = split;
        --d;
      }
    }
  }
  if (new_first) {
    const uint32_t id = record.user & kIdMask;
    for (Node* n = root_; !n->leaf; n = AsInner(n)->child[0]) {
      AsInner(n)->first[0] = id;
    }
  }
  return true;
}

bool MemberTree::Erase(absl::string_view user, const NameTable& names,
                       MemberRecord* erased) {
  return EraseImpl(user, kNoUser, names, erased);
}

bool MemberTree::Erase(absl::string_view user, uint32_t id,
                       const NameTable& names, MemberRecord* erased) {
  return EraseImpl(user, id & kIdMask, names, erased);
}

bool MemberTree::EraseImpl(absl::string_view user, uint32_t id,
                           const NameTable& names, MemberRecord* erased) {
  if (root_ == nullptr) return false;
  Step path[kMaxDepth];
  int depth = 0;
  Node* node = root_;
  while (!node->leaf) {
    Inner* inner = AsInner(node);
    const int i = ChildIndex(inner, user, names);
    path[depth++] = {inner, i};
    node = inner->child[i];
  }
  Leaf* leaf = AsLeaf(node);
  int pos = 0;
  if (id == kNoUser) {
    bool found;
    pos = LeafPosition(leaf, user, names, &found);
    if (!found) return false;
  } else {
    while (pos < leaf->count && (leaf->records[pos].user & kIdMask) != id) {
      ++pos;
    }
    if (pos == leaf->count) return false;
  }
  *erased = leaf->records[pos];
  std::memmove(leaf->records + pos, leaf->records + pos + 1,
               (leaf->count - pos - 1) * sizeof(MemberRecord));
  --leaf->count;
  --size_;
  // Bounds stay lower bounds: nothing to do for them. Bottom-up: counts,
  // separators (the first record may have gone), and nodes that fell below
  // their minimum.
  for (int d = depth - 1; d >= 0; --d) {
    Inner* parent = path[d].node;
    const int i = path[d].index;
    --parent->size[i];
    Node* child = parent->child[i];
    if (child->count > 0) parent->first[i] = FirstOf(child);
    if (child->count < MinimumOf(child)) Rebalance(parent, i);
  }
  while (!root_->leaf && root_->count == 1) {
    Inner* old = AsInner(root_);
    root_ = old->child[0];
    delete old;
  }
  if (root_->leaf && root_->count == 0) {
    delete AsLeaf(root_);
    root_ = nullptr;
  }
  return true;
}

void MemberTree::CollectDue(uint32_t now,
                            std::vector<MemberRecord>* out) const {
  if (root_ == nullptr || !NotAfter(bound_, now)) return;
  // Depth-first, children in order, without recursion.
  struct Frame {
    const Node* node;
    int next;
  };
  Frame stack[kMaxDepth];
  int top = 0;
  stack[top++] = {root_, 0};
  while (top > 0) {
    Frame& frame = stack[top - 1];
    if (frame.node->leaf) {
      const Leaf* leaf = static_cast<const Leaf*>(frame.node);
      for (int k = 0; k < leaf->count; ++k) {
        if (NotAfter(leaf->records[k].deadline, now))
          out->push_back(leaf->records[k]);
      }
      --top;
      continue;
    }
    const Inner* inner = static_cast<const Inner*>(frame.node);
    while (frame.next < inner->count &&
           !NotAfter(inner->bound[frame.next], now)) {
      ++frame.next;
    }
    if (frame.next == inner->count) {
      --top;
      continue;
    }
    const Node* child = inner->child[frame.next++];
    stack[top++] = {child, 0};
  }
}

namespace {

// Recomputes the bounds at or before `now` below `node`; returns the new
// bound of `node`.
uint32_t Refresh(Node* node, uint32_t now) {
  if (node->leaf) return MinDeadline(AsLeaf(node)->records, node->count);
  MemberTree::Inner* inner = AsInner(node);
  uint32_t bound = 0;
  for (int i = 0; i < inner->count; ++i) {
    if (NotAfter(inner->bound[i], now))
      inner->bound[i] = Refresh(inner->child[i], now);
    bound = i == 0 ? inner->bound[0] : Earlier(bound, inner->bound[i]);
  }
  return bound;
}

void Destroy(Node* node) {
  if (node->leaf) {
    delete AsLeaf(node);
    return;
  }
  MemberTree::Inner* inner = AsInner(node);
  for (int i = 0; i < inner->count; ++i) Destroy(inner->child[i]);
  delete inner;
}

size_t Bytes(const Node* node) {
  if (node->leaf) return sizeof(MemberTree::Leaf);
  const MemberTree::Inner* inner = static_cast<const MemberTree::Inner*>(node);
  size_t bytes = sizeof(MemberTree::Inner);
  for (int i = 0; i < inner->count; ++i) bytes += Bytes(inner->child[i]);
  return bytes;
}

}  // namespace

namespace {

void Destroy(Node* node);

// Merges and rebalances the children of `parent` until none is below its
// minimum (or one child is left).
void RebalanceChildren(MemberTree::Inner* parent) {
  for (int i = 0; i < parent->count && parent->count > 1;) {
    Node* child = parent->child[i];
    if (child->count >= MinimumOf(child)) {
      ++i;
      continue;
    }
    const int count = parent->count;
    Rebalance(parent, i);
    // After a merge into the left sibling, look at that one again.
    if (parent->count < count && i > 0) --i;
  }
}

// EraseDue() below `node` of the records `erase` takes, all due at or
// before `limit` (which prunes subtrees): returns the records left below
// it and sets *bound to their earliest deadline's bound.
template <typename Pred>
uint32_t EraseBelow(Node* node, uint32_t limit, Pred& erase,
                    std::vector<MemberRecord>* out, uint32_t* bound) {
  if (node->leaf) {
    MemberTree::Leaf* leaf = AsLeaf(node);
    int kept = 0;
    for (int k = 0; k < leaf->count; ++k) {
      if (NotAfter(leaf->records[k].deadline, limit) &&
          erase(leaf->records[k])) {
        out->push_back(leaf->records[k]);
      } else {
        leaf->records[kept++] = leaf->records[k];
      }
    }
    leaf->count = kept;
    if (kept > 0) *bound = MinDeadline(leaf->records, kept);
    return kept;
  }
  MemberTree::Inner* inner = AsInner(node);
  int kept = 0;
  for (int i = 0; i < inner->count; ++i) {
    if (NotAfter(inner->bound[i], limit)) {
      inner->size[i] =
          EraseBelow(inner->child[i], limit, erase, out, &inner->bound[i]);
      if (inner->size[i] == 0) {
        Destroy(inner->child[i]);  // Nothing left below it.
        continue;
      }
      inner->first[i] = FirstOf(inner->child[i]);
    }
    inner->first[kept] = inner->first[i];
    inner->size[kept] = inner->size[i];
    inner->bound[kept] = inner->bound[i];
    inner->child[kept] = inner->child[i];
    ++kept;
  }
  inner->count = kept;
  if (kept == 0) return 0;
  RebalanceChildren(inner);
  uint32_t size = 0;
  for (int i = 0; i < inner->count; ++i) {
    size += inner->size[i];
    *bound = i == 0 ? inner->bound[0] : Earlier(*bound, inner->bound[i]);
  }
  return size;
}

}  // namespace

template <typename Pred>
void MemberTree::EraseWhere(uint32_t limit, Pred erase,
                            std::vector<MemberRecord>* out) {
  if (root_ == nullptr || !NotAfter(bound_, limit)) return;
  size_ = EraseBelow(root_, limit, erase, out, &bound_);
  if (size_ == 0) {
    Destroy(root_);
    root_ = nullptr;
    return;
  }
  while (!root_->leaf && root_->count == 1) {
    Inner* old = AsInner(root_);
    root_ = old->child[0];
    delete old;
  }
}

void MemberTree::EraseDue(uint32_t now, std::vector<MemberRecord>* out) {
  auto all = [](const MemberRecord&) { return true; };
  EraseWhere(now, all, out);
}

void MemberTree::EraseDueThrough(uint32_t cut_deadline,
                                 absl::string_view cut_user,
                                 const NameTable& names,
                                 std::vector<MemberRecord>* out) {
  // Records of the cut's deadline come in name order: once one is after
  // the cut, so are the rest.
  bool past = false;
  auto through = [&](const MemberRecord& record) {
    if (record.deadline != cut_deadline) return true;  // Earlier.
    if (!past) past = Compare(cut_user, record.user, names) < 0;
    return !past;
  };
  EraseWhere(cut_deadline, through, out);
}

void MemberTree::RefreshBound(uint32_t now) {
  if (root_ != nullptr && NotAfter(bound_, now)) bound_ = Refresh(root_, now);
}

void MemberTree::Clear() {
  if (root_ != nullptr) Destroy(root_);
  root_ = nullptr;
  size_ = 0;
}

size_t MemberTree::MemoryBytes() const {
  return root_ == nullptr ? 0 : Bytes(root_);
}

namespace {

// Checks the subtree of `node` (at `depth`, leaves at `leaf_depth`):
// returns its record count and earliest deadline; appends what is wrong to
// *why; `last` is the previous record's user (for the order).
void Check(const Node* node, bool root, int depth, int* leaf_depth,
           const NameTable& names, const uint32_t** last, uint32_t* count,
           uint32_t* min_deadline, std::string* why) {
  if (!root && node->count == 0) absl::StrAppend(why, "empty node; ");
  if (node->count > CapacityOf(node)) absl::StrAppend(why, "overfull node; ");
  if (node->leaf) {
    if (*leaf_depth < 0) *leaf_depth = depth;
    if (*leaf_depth != depth) absl::StrAppend(why, "leaves at two depths; ");
    const MemberTree::Leaf* leaf = static_cast<const MemberTree::Leaf*>(node);
    *count = leaf->count;
    for (int k = 0; k < leaf->count; ++k) {
      const uint32_t* user = &leaf->records[k].user;
      if (*last != nullptr && names.Name(**last & MemberTree::kIdMask) >=
                                  names.Name(*user & MemberTree::kIdMask)) {
        absl::StrAppend(why, "records out of order at ",
                        names.Name(*user & MemberTree::kIdMask), "; ");
      }
      *last = user;
      *min_deadline = k == 0
                          ? leaf->records[0].deadline
                          : Earlier(*min_deadline, leaf->records[k].deadline);
    }
    return;
  }
  const MemberTree::Inner* inner = static_cast<const MemberTree::Inner*>(node);
  *count = 0;
  for (int i = 0; i < inner->count; ++i) {
    uint32_t child_count = 0, child_min = 0;
    Check(inner->child[i], false, depth + 1, leaf_depth, names, last,
          &child_count, &child_min, why);
    if (child_count != inner->size[i])
      absl::StrAppend(why, "size ", inner->size[i], " for ", child_count,
                      " records; ");
    if (child_count > 0 && !NotAfter(inner->bound[i], child_min))
      absl::StrAppend(why, "bound ", inner->bound[i], " after deadline ",
                      child_min, "; ");
    if (inner->first[i] != FirstOf(inner->child[i]))
      absl::StrAppend(why, "stale separator; ");
    *count += child_count;
    *min_deadline = i == 0 ? child_min : Earlier(*min_deadline, child_min);
  }
}

}  // namespace

std::string MemberTree::CheckInvariants(const NameTable& names) const {
  std::string why;
  if (root_ == nullptr) {
    if (size_ != 0) absl::StrAppend(&why, "no root but size ", size_);
    return why;
  }
  int leaf_depth = -1;
  const uint32_t* last = nullptr;
  uint32_t count = 0, min_deadline = 0;
  Check(root_, true, 0, &leaf_depth, names, &last, &count, &min_deadline, &why);
  if (count != size_) absl::StrAppend(&why, "size_ ", size_, " for ", count);
  if (!NotAfter(bound_, min_deadline))
    absl::StrAppend(&why, "bound_ after the earliest deadline; ");
  return why;
}

}  // namespace presence
