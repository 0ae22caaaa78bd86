// The Redis store: the conformance suite against a real redis-server, and
// what only a shared store has: several stores (replicas) on one Redis, and
// Redis going away and coming back.
#include "presence/redis_store.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "presence/clock.h"
#include "presence/event_recorder.h"
#include "presence/presence.h"
#include "presence/store_conformance.h"
#include "tests/redis_server.h"

namespace presence {
namespace {

using ::testing::ElementsAre;

// One redis-server for the whole test binary.
RedisServer* redis = nullptr;

class RedisEnvironment : public testing::Environment {
 public:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> server = RedisServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    redis = server_.get();
  }
  void TearDown() override {
    redis = nullptr;
    server_.reset();
  }

 private:
  std::unique_ptr<RedisServer> server_;
};

const testing::Environment* const environment =
    testing::AddGlobalTestEnvironment(new RedisEnvironment());

RedisStoreOptions Options(const StoreConfig& config) {
  RedisStoreOptions options;
  options.url = redis->url();
  options.limits = config.limits;
  options.events = config.events;
  options.read_block = absl::Milliseconds(20);
  options.pool.timeout = absl::Milliseconds(500);
  return options;
}

INSTANTIATE_TEST_SUITE_P(
    Redis, StoreConformanceTest,
    testing::Values(StoreFactory{
        "redis",
        [](Clock* clock,
           const StoreConfig& config) -> std::unique_ptr<PresenceStore> {
          EXPECT_TRUE(redis->FlushAll().ok());
          absl::StatusOr<std::unique_ptr<PresenceStore>> store =
              NewRedisStore(Options(config), clock);
          EXPECT_TRUE(store.ok()) << store.status();
          return store.ok() ? *std::move(store) : nullptr;
        }}),
    [](const testing::TestParamInfo<StoreFactory>& info) {
      return info.param.name;
    });

}  // namespace
}  // namespace presence
