// The conformance suite: the behaviour every PresenceStore must have,
// written against the interface (through Presence, with a simulated clock)
// so the same tests run on the embedded store and on Redis.
//
// A store's test (target //presence/testing:store_conformance) instantiates
// it with a factory, as presence/store/memory/memory_store_test.cc does:
//
//   #include "presence/testing/store_conformance.h"
//
//   INSTANTIATE_TEST_SUITE_P(
//       Memory, StoreConformanceTest,
//       testing::Values(presence::StoreFactory{
//           "memory",
//           [](presence::Clock* clock, const presence::StoreConfig& config) {
//             presence::MemoryStoreOptions options;
//             options.limits = config.limits;
//             options.events = config.events;
//             return presence::NewMemoryStore(options, clock);
//           }}),
//       [](const auto& info) { return info.param.name; });
//
// A factory may be called more than once in a test (a restart: the suite
// destroys the first store before it makes the next); each call returns an
// empty store, as a restarted process (or a Redis that lost its data) has.
#ifndef PRESENCE_TESTING_STORE_CONFORMANCE_H_
#define PRESENCE_TESTING_STORE_CONFORMANCE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "presence/clock.h"
#include "presence/event.h"
#include "presence/limits.h"
#include "presence/presence.h"
#include "presence/store.h"
#include "presence/testing/event_recorder.h"

namespace presence {

// What the suite configures a store with.
struct StoreConfig {
  Limits limits;
  EventOptions events;
};

struct StoreFactory {
  std::string name;
  std::function<std::unique_ptr<PresenceStore>(Clock*, const StoreConfig&)>
      make;
};

class StoreConformanceTest : public testing::TestWithParam<StoreFactory> {
 protected:
  // The suite's configuration: default limits with a 1 s minimum timeout;
  // interval mode above 3 occupants, every 10 s.
  static StoreConfig TestConfig();

  void SetUp() override;
  void TearDown() override;

  // Heartbeat with an explicit timeout; fails the test on error.
  void Join(const std::string& user, std::vector<std::string> channels,
            uint32_t timeout_seconds = 60, const std::string& session = "");

  // Returns the events (group changes) delivered since the last call, once
  // the store delivered everything so far (SyncEvents).
  std::vector<PresenceEvent> TakeEvents();
  std::vector<GroupChange> TakeGroupChanges();

  // Moves the clock and lets the store expire what is due.
  void Advance(absl::Duration d);

  // Returns the occupancy of one channel.
  uint32_t Occupancy(const std::string& channel);

  // Returns the user ids listed by HereNow for one channel.
  std::vector<std::string> Occupants(const std::string& channel,
                                     uint32_t limit = 0, uint32_t offset = 0);

  SimulatedClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  StoreConfig config_ = TestConfig();
  const Limits& limits_ = config_.limits;
  std::unique_ptr<PresenceStore> store_;
  std::unique_ptr<Presence> presence_;
  EventRecorder events_;
};

}  // namespace presence

#endif  // PRESENCE_TESTING_STORE_CONFORMANCE_H_
