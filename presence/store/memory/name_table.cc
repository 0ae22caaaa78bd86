#include "presence/store/memory/name_table.h"

#include <cassert>

#include "absl/hash/hash.h"

namespace presence {

NameTable::NameTable() = default;

size_t NameTable::ShardOf(absl::string_view name) {
  // The top bits: flat_hash_map uses the low ones of its own hash.
  return (absl::Hash<absl::string_view>()(name) >> 52) & (kShards - 1);
}

NameTable::Id NameTable::Acquire(absl::string_view name) {
  const size_t s = ShardOf(name);
  Shard& shard = shards_[s];
  MutexLock lock(&shard.mu);
  auto it = shard.index.find(name);
  if (it != shard.index.end()) {
    ++shard.entries[it->second].refs;
    return MakeId(s, it->second);
  }
  uint32_t slot;
  if (shard.free_head != kNoId) {
    slot = shard.free_head;
    shard.free_head = shard.entries[slot].next_free;
  } else {
    slot = shard.used++;
    shard.entries.EnsureSize(shard.used);
  }
  Entry& entry = shard.entries[slot];
  entry.name.assign(name.data(), name.size());
  entry.refs = 1;
  entry.next_free = kNoId;
  shard.index.emplace(absl::string_view(entry.name), slot);
  return MakeId(s, slot);
}

void NameTable::AddRef(Id id) {
  Shard& shard = shards_[ShardOf(id)];
  MutexLock lock(&shard.mu);
  Entry& entry = shard.entries[SlotOf(id)];
  assert(entry.refs > 0);
  ++entry.refs;
}

void NameTable::Release(Id id) {
  Shard& shard = shards_[ShardOf(id)];
  MutexLock lock(&shard.mu);
  const uint32_t slot = SlotOf(id);
  Entry& entry = shard.entries[slot];
  assert(entry.refs > 0);
  if (--entry.refs > 0) return;
  shard.index.erase(absl::string_view(entry.name));
  std::string().swap(entry.name);
  entry.next_free = shard.free_head;
  shard.free_head = slot;
}

NameTable::Id NameTable::Find(absl::string_view name) const {
  const size_t s = ShardOf(name);
  const Shard& shard = shards_[s];
  MutexLock lock(&shard.mu);
  auto it = shard.index.find(name);
  return it == shard.index.end() ? kNoId : MakeId(s, it->second);
}

absl::string_view NameTable::Name(Id id) const {
  // Without the lock, by design: the caller's reference keeps the entry's
  // name from being written until it is released, and the caller learned
  // the id through a happens-before edge after the name was written (as
  // ChunkedVector requires of lock-free readers), while ChunkedVector never
  // moves an element when it grows.
  return shards_[ShardOf(id)].entries[SlotOf(id)].name;
}

size_t NameTable::size() const {
  size_t n = 0;
  for (const Shard& shard : shards_) {
    MutexLock lock(&shard.mu);
    n += shard.index.size();
  }
  return n;
}

size_t NameTable::MemoryBytes() const {
  size_t bytes = sizeof(*this);
  for (const Shard& shard : shards_) {
    MutexLock lock(&shard.mu);
    bytes += shard.entries.AllocatedBytes();
    bytes += shard.index.capacity() *
             (sizeof(std::pair<absl::string_view, uint32_t>) + 1);
    for (uint32_t slot = 0; slot < shard.used; ++slot) {
      const std::string& name = shard.entries[slot].name;
      if (name.capacity() > 15) bytes += name.capacity() + 1;
    }
  }
  return bytes;
}

}  // namespace presence
