#pragma once
// Lock-free single-producer single-consumer ring, used between the media thread and one call's
// agent thread. Contract: at most one thread produces (try_push / try_begin_push + commit_push)
// and at most one thread consumes (try_pop / front + pop_front / discard_until) at a time; the
// observers (size, indices) may be called from any thread. Storage is allocated once in the
// constructor, and not initialised: a slot's memory is only touched when it is first filled, so
// a call's 10 s playback ring costs what it has held, not its size; pushes and pops never
// allocate, lock or block.
//
// Indices are 64-bit counters that never wrap in practice; slot = index & (capacity - 1).
// Acquire/release pairs: the producer publishes a slot with a release store of head_, the
// consumer frees it with a release store of tail_; each side caches the other's index.
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>

namespace chalkbot {

template <class T>
class SpscRing {
 public:
  // Capacity is min_capacity rounded up to a power of two (at least 2).
  explicit SpscRing(std::size_t min_capacity)
      : capacity_(std::bit_ceil(min_capacity < 2 ? std::size_t{2} : min_capacity)),
        mask_(capacity_ - 1),
        slots_(std::make_unique_for_overwrite<T[]>(capacity_)) {}
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  std::size_t capacity() const { return capacity_; }

  // --- producer ---
  // A slot to fill in place, or nullptr when full. Publish it with commit_push().
  T* try_begin_push() {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    if (head - tail_cache_ >= capacity_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (head - tail_cache_ >= capacity_) return nullptr;
    }
    return &slots_[head & mask_];
  }
  void commit_push() {
    head_.store(head_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }
  bool try_push(const T& value) {
    T* slot = try_begin_push();
    if (slot == nullptr) return false;
    *slot = value;
    commit_push();
    return true;
  }
  bool try_push(T&& value) {
    T* slot = try_begin_push();
    if (slot == nullptr) return false;
    *slot = std::move(value);
    commit_push();
    return true;
  }

  // --- consumer ---
  // The oldest element, or nullptr when empty. Release it with pop_front().
  T* front() {
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail == head_cache_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail == head_cache_) return nullptr;
    }
    return &slots_[tail & mask_];
  }
  // The element `i` places behind the oldest (0: front()), left in place; nullptr past the end.
  T* peek(std::size_t i) {
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail + i >= head_cache_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail + i >= head_cache_) return nullptr;
    }
    return &slots_[(tail + i) & mask_];
  }
  void pop_front() {
    tail_.store(tail_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }
  bool try_pop(T& out) {
    T* slot = front();
    if (slot == nullptr) return false;
    out = std::move(*slot);
    pop_front();
    return true;
  }
  // Drops every element whose push index is below `index` (a write_index() read earlier):
  // how a producer-side "clear" is carried out by the consumer. Returns how many were dropped.
  std::size_t discard_until(std::uint64_t index) {
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    head_cache_ = head_.load(std::memory_order_acquire);
    const std::uint64_t stop = index < head_cache_ ? index : head_cache_;
    if (stop <= tail) return 0;
    tail_.store(stop, std::memory_order_release);
    return static_cast<std::size_t>(stop - tail);
  }

  // --- any thread ---
  std::uint64_t write_index() const { return head_.load(std::memory_order_acquire); }
  std::uint64_t read_index() const { return tail_.load(std::memory_order_acquire); }
  std::size_t size() const {
    const std::uint64_t tail = tail_.load(std::memory_order_acquire);
    const std::uint64_t head = head_.load(std::memory_order_acquire);
    return head > tail ? static_cast<std::size_t>(head - tail) : 0;
  }
  bool empty() const { return size() == 0; }

 private:
  static constexpr std::size_t kLine = 64;  // keep the two sides on separate cache lines

  const std::size_t capacity_;
  const std::size_t mask_;
  std::unique_ptr<T[]> slots_;
  alignas(kLine) std::atomic<std::uint64_t> head_{0};  // written by the producer
  std::uint64_t tail_cache_ = 0;                       // producer's view of tail_
  alignas(kLine) std::atomic<std::uint64_t> tail_{0};  // written by the consumer
  std::uint64_t head_cache_ = 0;                       // consumer's view of head_
};

}  // namespace chalkbot
