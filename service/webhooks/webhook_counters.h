// WebhookCounters: what became of one webhook URL's events, as counters that
// only grow. OnEvent() counts drops, the delivery thread everything else,
// and WebhookDispatcher::stats() sums the Totals of every URL.
//
//   WebhookCounters counters;
//   counters.AddDelivered(/*events=*/100);  // One batch of 100 events.
//   counters.AddRetry();
//   WebhookCounters::Totals totals = counters.Load();
//   // totals.delivered_events == 100, totals.batches == 1, totals.retries == 1
//
// Thread-safe: relaxed atomics. Each counter is exact, but a Load()
// concurrent with updates may see some of them and not others.
#ifndef SERVICE_WEBHOOKS_WEBHOOK_COUNTERS_H_
#define SERVICE_WEBHOOKS_WEBHOOK_COUNTERS_H_

#include <atomic>
#include <cstdint>

namespace presence {

class WebhookCounters {
 public:
  // The meaning of each field is that of WebhookDispatcher::Stats.
  struct Totals {
    uint64_t delivered_events = 0;
    uint64_t dropped_events = 0;
    uint64_t failed_events = 0;
    uint64_t retries = 0;
    uint64_t batches = 0;

    Totals& operator+=(const Totals& other) {
      delivered_events += other.delivered_events;
      dropped_events += other.dropped_events;
      failed_events += other.failed_events;
      retries += other.retries;
      batches += other.batches;
      return *this;
    }
  };

  // Counts a batch of `events` events acknowledged with a 2xx.
  void AddDelivered(uint64_t events) {
    delivered_events_.fetch_add(events, std::memory_order_relaxed);
    batches_.fetch_add(1, std::memory_order_relaxed);
  }
  // Counts `events` events never attempted.
  void AddDropped(uint64_t events) {
    dropped_events_.fetch_add(events, std::memory_order_relaxed);
  }
  // Counts `events` events attempted and given up.
  void AddFailed(uint64_t events) {
    failed_events_.fetch_add(events, std::memory_order_relaxed);
  }
  // Counts a request that re-sends a batch.
  void AddRetry() { retries_.fetch_add(1, std::memory_order_relaxed); }

  // Returns the counts so far.
  Totals Load() const {
    Totals totals;
    totals.delivered_events = delivered_events_.load(std::memory_order_relaxed);
    totals.dropped_events = dropped_events_.load(std::memory_order_relaxed);
    totals.failed_events = failed_events_.load(std::memory_order_relaxed);
    totals.retries = retries_.load(std::memory_order_relaxed);
    totals.batches = batches_.load(std::memory_order_relaxed);
    return totals;
  }

 private:
  std::atomic<uint64_t> delivered_events_{0};
  std::atomic<uint64_t> dropped_events_{0};
  std::atomic<uint64_t> failed_events_{0};
  std::atomic<uint64_t> retries_{0};
  std::atomic<uint64_t> batches_{0};
};

}  // namespace presence

#endif  // SERVICE_WEBHOOKS_WEBHOOK_COUNTERS_H_
