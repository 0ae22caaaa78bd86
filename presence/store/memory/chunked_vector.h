// ChunkedVector: an append-mostly array whose elements never move.
//
// Elements live in chunks of doubling size, so growing never copies an
// element, a reference stays valid for the container's lifetime, and the
// unused tail is at most the size of the last chunk (a std::vector may keep
// twice what it holds). Readers may index concurrently with a writer that
// grows the array, provided they only touch indices they learned about
// through a happens-before edge (e.g. a mutex) after the element was written.
//
//   ChunkedVector<Link> links;
//   links.EnsureSize(id + 1);
//   links[id].next = head;
#ifndef PRESENCE_STORE_MEMORY_CHUNKED_VECTOR_H_
#define PRESENCE_STORE_MEMORY_CHUNKED_VECTOR_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace presence {

template <typename T>
class ChunkedVector {
 public:
  ChunkedVector() {
    for (auto& chunk : chunks_) chunk.store(nullptr, std::memory_order_relaxed);
  }
  ~ChunkedVector() {
    for (auto& chunk : chunks_) delete[] chunk.load(std::memory_order_relaxed);
  }
  ChunkedVector(const ChunkedVector&) = delete;
  ChunkedVector& operator=(const ChunkedVector&) = delete;

  // Grows the array to at least `n` value-initialised elements. Not safe to
  // call concurrently with itself.
  void EnsureSize(size_t n) {
    while (size_ < n) {
      const int chunk = ChunkOf(size_);
      chunks_[chunk].store(new T[ChunkSize(chunk)](),
                           std::memory_order_release);
      size_ += ChunkSize(chunk);
    }
  }

  // Returns the number of elements (a multiple of the first chunk's size).
  size_t size() const { return size_; }

  T& operator[](size_t i) { return *Locate(i); }
  const T& operator[](size_t i) const { return *Locate(i); }

  // Returns bytes allocated for elements.
  size_t AllocatedBytes() const { return size_ * sizeof(T); }

 private:
  static constexpr int kFirstChunkBits = 8;
  static constexpr int kMaxChunks = 32 - kFirstChunkBits;

  static size_t ChunkSize(int chunk) {
    return size_t{1} << (kFirstChunkBits + chunk);
  }

  // Chunk k holds indices [base*(2^k - 1), base*(2^(k+1) - 1)).
  static int ChunkOf(size_t i) {
    const uint64_t v = (static_cast<uint64_t>(i) >> kFirstChunkBits) + 1;
    return 63 - __builtin_clzll(v);
  }

  T* Locate(size_t i) const {
    const int chunk = ChunkOf(i);
    const size_t offset = i - ((size_t{1} << (kFirstChunkBits + chunk)) -
                               (size_t{1} << kFirstChunkBits));
    return chunks_[chunk].load(std::memory_order_acquire) + offset;
  }

  std::array<std::atomic<T*>, kMaxChunks> chunks_;
  size_t size_ = 0;
};

}  // namespace presence

#endif  // PRESENCE_STORE_MEMORY_CHUNKED_VECTOR_H_
