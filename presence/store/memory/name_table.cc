#include "presence/store/memory/name_table.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "absl/container/inlined_vector.h"

namespace presence {

void NameTable::Entry::Set(absl::string_view name) {
  Clear();
  size = static_cast<uint32_t>(name.size());
  char* to = data.small;
  if (size > kInline) to = data.large = new char[size];
  std::memcpy(to, name.data(), size);
}

void NameTable::Entry::Clear() {
  if (size > kInline) delete[] data.large;
  size = 0;
}

NameTable::NameTable() = default;

size_t NameTable::ShardOf(absl::string_view name) {
  return ShardOfHash(absl::Hash<absl::string_view>()(name));
}

NameTable::Id NameTable::Acquire(absl::string_view name) {
  const size_t s = ShardOf(name);
  Shard& shard = shards_[s];
  MutexLock lock(&shard.mu);
  auto it = shard.index.find(name);
  if (it != shard.index.end()) {
    ++shard.entries[*it].refs;
    return MakeId(s, *it);
  }
  uint32_t slot;
  if (!shard.free.empty()) {
    slot = shard.free.back();
    shard.free.pop_back();
  } else {
    slot = shard.used++;
    shard.entries.EnsureSize(shard.used);
  }
  Entry& entry = shard.entries[slot];
  entry.Set(name);
  entry.refs = 1;
  shard.index.insert(slot);
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
  shard.index.erase(slot);  // Hashes the name: before it is cleared.
  entry.Clear();
  shard.frees.fetch_add(1, std::memory_order_release);
  shard.free.push_back(slot);
}

NameTable::Id NameTable::Find(absl::string_view name) const {
  const size_t s = ShardOf(name);
  const Shard& shard = shards_[s];
  MutexLock lock(&shard.mu);
  auto it = shard.index.find(name);
  return it == shard.index.end() ? kNoId : MakeId(s, *it);
}

void NameTable::ReleaseMany(const Id* ids, size_t n) {
  constexpr size_t kChunk = 32;
  for (size_t begin = 0; begin < n; begin += kChunk) {
    const size_t end = std::min(n, begin + kChunk);
    uint32_t mask = 0;
    for (size_t i = begin; i < end; ++i) mask |= 1u << ShardOf(ids[i]);
    // In ascending order, as FindMany().
    for (size_t s = 0; s < kShards; ++s) {
      if (mask & (1u << s)) shards_[s].mu.Lock();
    }
    // First every reference is dropped and the index slots of the names
    // that die are loaded together; then those names are freed.
    Id dying[kChunk];
    size_t d = 0;
    for (size_t i = begin; i < end; ++i) {
      Shard& shard = shards_[ShardOf(ids[i])];
      Entry& entry = shard.entries[SlotOf(ids[i])];
      assert(entry.refs > 0);
      if (--entry.refs > 0) continue;
      shard.index.prefetch(entry.name());
      dying[d++] = ids[i];
    }
    for (size_t k = 0; k < d; ++k) {
      Shard& shard = shards_[ShardOf(dying[k])];
      const uint32_t slot = SlotOf(dying[k]);
      shard.index.erase(slot);  // Hashes the name: before it is cleared.
      shard.entries[slot].Clear();
      shard.frees.fetch_add(1, std::memory_order_release);
      shard.free.push_back(slot);
    }
    for (size_t s = kShards; s-- > 0;) {
      if (mask & (1u << s)) shards_[s].mu.Unlock();
    }
  }
}

void NameTable::FindMany(const absl::string_view* names, size_t n, Id* ids,
                         uint64_t* frees) const {
  absl::InlinedVector<uint8_t, 64> shard_of(n);
  uint32_t mask = 0;
  for (size_t i = 0; i < n; ++i) {
    shard_of[i] = static_cast<uint8_t>(ShardOf(names[i]));
    mask |= 1u << shard_of[i];
  }
  // Every shard involved at once (in ascending order; other callers hold
  // one at a time), so that the lookups' memory loads overlap: first the
  // index slots, then the lookups (whose name comparisons miss the cache
  // independently of each other).
  for (size_t s = 0; s < kShards; ++s) {
    if (mask & (1u << s)) shards_[s].mu.Lock();
  }
  for (size_t i = 0; i < n; ++i) shards_[shard_of[i]].index.prefetch(names[i]);
  for (size_t i = 0; i < n; ++i) {
    const Shard& shard = shards_[shard_of[i]];
    auto it = shard.index.find(names[i]);
    ids[i] = it == shard.index.end() ? kNoId : MakeId(shard_of[i], *it);
    frees[i] = shard.frees.load(std::memory_order_relaxed);
  }
  for (size_t s = kShards; s-- > 0;) {
    if (mask & (1u << s)) shards_[s].mu.Unlock();
  }
}

absl::string_view NameTable::Name(Id id) const {
  // Without the lock, by design: the caller's reference keeps the entry's
  // name from being written until it is released, and the caller learned
  // the id through a happens-before edge after the name was written (as
  // ChunkedVector requires of lock-free readers), while ChunkedVector never
  // moves an element when it grows.
  return shards_[ShardOf(id)].entries[SlotOf(id)].name();
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
    bytes += shard.index.capacity() * (sizeof(uint32_t) + 1);
    bytes += shard.free.capacity() * sizeof(uint32_t);
    for (uint32_t slot = 0; slot < shard.used; ++slot) {
      const Entry& entry = shard.entries[slot];
      if (entry.size > Entry::kInline) bytes += entry.size;
    }
  }
  return bytes;
}

}  // namespace presence
