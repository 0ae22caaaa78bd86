#include "service/metrics/histogram.h"

#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace presence {
namespace {

using ::testing::ElementsAre;

TEST(HistogramTest, CountsCumulativelyWithInclusiveBounds) {
  Histogram histogram({1, 2, 4});
  for (double value : {0.5, 1.0, 1.5, 4.0, 9.0}) histogram.Observe(value);
  Histogram::Snapshot snapshot = histogram.Take();
  EXPECT_THAT(snapshot.cumulative, ElementsAre(2, 3, 4, 5));
  EXPECT_EQ(snapshot.count, 5u);
  EXPECT_DOUBLE_EQ(snapshot.sum, 16.0);
}

TEST(HistogramTest, ExponentialBounds) {
  EXPECT_THAT(Histogram::ExponentialBounds(0.001, 10, 4),
              ElementsAre(0.001, 0.01, 0.1, testing::DoubleNear(1, 1e-12)));
}

TEST(HistogramTest, ConcurrentObservationsAreAllCounted) {
  Histogram histogram({10});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) histogram.Observe(1);
    });
  }
  for (std::thread& thread : threads) thread.join();
  Histogram::Snapshot snapshot = histogram.Take();
  EXPECT_EQ(snapshot.count, 40000u);
  EXPECT_DOUBLE_EQ(snapshot.sum, 40000.0);
}

}  // namespace
}  // namespace presence
