// NameTable: interned, reference-counted strings with 32-bit ids.
//
// The memory store keeps millions of (user, channel) memberships; storing a
// 4-byte id instead of a string in each is what keeps a membership small.
// A name lives while it has references and its id may be reused after the
// last Release.
//
//   NameTable users;
//   NameTable::Id alice = users.Acquire("alice");   // refs: 1
//   absl::string_view name = users.Name(alice);     // "alice", lock-free
//   users.Release(alice);                           // gone; id reusable
//
// Thread-safe. The table is split in kShards shards by a hash of the name;
// ShardOf() tells callers which, so they can shard their own data the same
// way. Name() takes no lock: it is valid for ids the caller holds a
// reference to (directly or through a structure that owns one).
#ifndef PRESENCE_STORE_MEMORY_NAME_TABLE_H_
#define PRESENCE_STORE_MEMORY_NAME_TABLE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "presence/base/mutex.h"
#include "presence/store/memory/chunked_vector.h"

namespace presence {

class NameTable {
 public:
  using Id = uint32_t;
  static constexpr Id kNoId = 0xffffffffu;
  static constexpr size_t kShardBits = 4;
  static constexpr size_t kShards = size_t{1} << kShardBits;

  NameTable();
  NameTable(const NameTable&) = delete;
  NameTable& operator=(const NameTable&) = delete;

  // Returns the id of `name`, creating it if needed, and takes a reference.
  Id Acquire(absl::string_view name);

  // Takes one more reference to the live id `id`.
  void AddRef(Id id);

  // Drops a reference to `id`; the name is freed with its last reference.
  void Release(Id id);

  // Returns the id of `name`, or kNoId if it is not live. Takes no
  // reference: the id stays meaningful only while something else holds one.
  Id Find(absl::string_view name) const;

  // Returns the name of `id`, which must be live and referenced. Lock-free.
  absl::string_view Name(Id id) const ABSL_NO_THREAD_SAFETY_ANALYSIS;

  // Returns the shard a name, or an id, belongs to: ShardOf(Acquire(n)) ==
  // ShardOf(n).
  static size_t ShardOf(absl::string_view name);
  static size_t ShardOf(Id id) { return id & (kShards - 1); }

  // Returns the number of live names.
  size_t size() const;

  // Returns an estimate of the bytes the table uses.
  size_t MemoryBytes() const;

 private:
  struct Entry {
    std::string name;
    uint32_t refs = 0;
    uint32_t next_free = kNoId;
  };

  struct Shard {
    mutable Mutex mu;
    // Keys point into Entry::name, which never moves.
    absl::flat_hash_map<absl::string_view, uint32_t> index ABSL_GUARDED_BY(mu);
    // Written under mu; Name() alone reads it without (see there).
    ChunkedVector<Entry> entries ABSL_GUARDED_BY(mu);
    uint32_t used ABSL_GUARDED_BY(mu) = 0;  // Slots ever handed out.
    uint32_t free_head ABSL_GUARDED_BY(mu) = kNoId;
  };

  static Id MakeId(size_t shard, uint32_t slot) {
    return (slot << kShardBits) | static_cast<Id>(shard);
  }
  static uint32_t SlotOf(Id id) { return id >> kShardBits; }

  std::array<Shard, kShards> shards_;
};

}  // namespace presence

#endif  // PRESENCE_STORE_MEMORY_NAME_TABLE_H_
