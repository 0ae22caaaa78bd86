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
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
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

  // Release() of ids[0..n) (an id may repeat: one reference each), under
  // one hold of the locks of their shards per chunk of them, with the
  // index lookups of the names freed prefetched together: a mass expiry
  // frees many names, and one at a time each misses the cache.
  void ReleaseMany(const Id* ids, size_t n) ABSL_NO_THREAD_SAFETY_ANALYSIS;

  // Returns the id of `name`, or kNoId if it is not live. Takes no
  // reference: the id stays meaningful only while something else holds one.
  Id Find(absl::string_view name) const;

  // Find() of names[0..n) into ids[0..n), under one hold of the locks of
  // their shards so that the lookups' memory loads overlap (far quicker
  // than n Find() calls when the names are not in cache). frees[i] is set
  // to Frees(ShardOf(names[i])) as of the lookup.
  void FindMany(const absl::string_view* names, size_t n, Id* ids,
                uint64_t* frees) const ABSL_NO_THREAD_SAFETY_ANALYSIS;

  // How many names of shard `shard` have been freed so far. While it stays
  // the same, no id of the shard was freed, so an id found earlier still
  // names what it named then.
  uint64_t Frees(size_t shard) const {
    return shards_[shard].frees.load(std::memory_order_acquire);
  }

  // Starts loading the entry of `id` (live and referenced) for Name() or
  // Release(). Lock-free.
  void PrefetchEntry(Id id) const ABSL_NO_THREAD_SAFETY_ANALYSIS {
    __builtin_prefetch(&shards_[ShardOf(id)].entries[SlotOf(id)]);
  }

  // Returns the name of `id`, which must be live and referenced. Lock-free.
  absl::string_view Name(Id id) const ABSL_NO_THREAD_SAFETY_ANALYSIS;

  // Returns the shard a name, or an id, belongs to: ShardOf(Acquire(n)) ==
  // ShardOf(n).
  static size_t ShardOf(absl::string_view name);
  static size_t ShardOf(Id id) { return id & (kShards - 1); }
  // ShardOf(name) from absl::Hash<absl::string_view>()(name).
  static size_t ShardOfHash(size_t hash) {
    // The top bits: flat_hash_set uses the low ones of its own hash.
    return (hash >> 52) & (kShards - 1);
  }

  // Returns the index of `id` within its shard. The ids of a shard use
  // slots 0, 1, 2, ... (reusing freed ones first), so callers can keep data
  // per name in arrays indexed by (ShardOf(id), SlotOf(id)).
  static uint32_t SlotOf(Id id) { return id >> kShardBits; }

  // Returns the number of live names.
  size_t size() const;

  // Returns an estimate of the bytes the table uses.
  size_t MemoryBytes() const;

 private:
  // 24 bytes: names of up to 16 bytes are kept inline, longer ones on the
  // heap (a std::string would take 32 bytes, and a map keyed by name
  // another 24 per entry).
  struct Entry {
    static constexpr uint32_t kInline = 16;
    Entry() = default;
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;
    ~Entry() { Clear(); }

    absl::string_view name() const {
      return absl::string_view(size <= kInline ? data.small : data.large, size);
    }
    void Set(absl::string_view name);
    void Clear();

    uint32_t refs = 0;
    uint32_t size = 0;
    union Data {
      char small[kInline];
      char* large;
    } data = {};
  };

  // The index holds slots, hashed and compared by their entry's name, and
  // is searched by name.
  struct SlotHash {
    using is_transparent = void;
    const ChunkedVector<Entry>* entries;
    size_t operator()(uint32_t slot) const {
      return (*this)((*entries)[slot].name());
    }
    size_t operator()(absl::string_view name) const {
      return absl::Hash<absl::string_view>()(name);
    }
  };
  struct SlotEq {
    using is_transparent = void;
    const ChunkedVector<Entry>* entries;
    bool operator()(uint32_t a, uint32_t b) const { return a == b; }
    bool operator()(uint32_t slot, absl::string_view name) const {
      return (*entries)[slot].name() == name;
    }
    bool operator()(absl::string_view name, uint32_t slot) const {
      return (*this)(slot, name);
    }
  };

  struct Shard {
    Shard() : index(0, SlotHash{&entries}, SlotEq{&entries}) {}

    mutable Mutex mu;
    // Written under mu; Name() alone reads it without (see there).
    ChunkedVector<Entry> entries ABSL_GUARDED_BY(mu);
    absl::flat_hash_set<uint32_t, SlotHash, SlotEq> index ABSL_GUARDED_BY(mu);
    uint32_t used ABSL_GUARDED_BY(mu) = 0;  // Slots ever handed out.
    // Released slots, to hand out again first.
    std::vector<uint32_t> free ABSL_GUARDED_BY(mu);
    // Names freed (Frees()); written under mu.
    std::atomic<uint64_t> frees{0};
  };

  static Id MakeId(size_t shard, uint32_t slot) {
    return (slot << kShardBits) | static_cast<Id>(shard);
  }

  std::array<Shard, kShards> shards_;
};

}  // namespace presence

#endif  // PRESENCE_STORE_MEMORY_NAME_TABLE_H_
