// TestServer: the real presence server, in-process on a free port, over a
// memory store whose clock the test controls.
//
//   TestServer server;
//   auto channel = grpc::CreateChannel(server.address(),
//                                      grpc::InsecureChannelCredentials());
//   server.clock().Advance(absl::Seconds(61));
//   server.ExpireSessions();
#ifndef SERVICE_TESTING_TEST_SERVER_H_
#define SERVICE_TESTING_TEST_SERVER_H_

#include <memory>
#include <string>

#include "presence/clock.h"
#include "presence/event.h"
#include "presence/limits.h"
#include "presence/presence.h"
#include "presence/store.h"
#include "service/fanout/watch_hub.h"
#include "service/grpc/server.h"

namespace presence {

class TestServer {
 public:
  // Limits default to the server's, with a 1 s minimum timeout.
  explicit TestServer(Limits limits = TestLimits(),
                      PresenceServerOptions options = PresenceServerOptions(),
                      EventOptions pipeline_options = EventOptions());
  ~TestServer();

  static Limits TestLimits();

  const std::string& address() const { return server_->address(); }
  SimulatedClock& clock() { return clock_; }
  PresenceStore& store() { return *store_; }
  PresenceServer& server() { return *server_; }
  WatchHub& hub() { return hub_; }

  // Expires what is due at the clock's current time, and emits the interval
  // events due (PresenceStore::ExpireSessions).
  void ExpireSessions();

 private:
  SimulatedClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  std::unique_ptr<PresenceStore> store_;
  std::unique_ptr<Presence> presence_;
  WatchHub hub_;
  std::unique_ptr<PresenceServer> server_;
};

}  // namespace presence

#endif  // SERVICE_TESTING_TEST_SERVER_H_
