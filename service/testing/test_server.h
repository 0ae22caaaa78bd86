// TestServer: the real presence service (PresenceApp, the object
// presence_server runs) in-process on a free port, over a memory store whose
// clock the test controls. Background expiry sweeps are off: the test moves
// the clock and calls ExpireSessions().
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
#include "presence/store.h"
#include "service/app/presence_app.h"
#include "service/fanout/event_fanout.h"
#include "service/grpc/server.h"

namespace presence {

class TestServer {
 public:
  // Limits default to the server's, with a 1 s minimum timeout.
  explicit TestServer(Limits limits = TestLimits(),
                      PresenceServerOptions options = PresenceServerOptions(),
                      EventOptions event_options = EventOptions());

  static Limits TestLimits();

  const std::string& address() const { return app_->grpc_address(); }
  SimulatedClock& clock() { return clock_; }
  PresenceStore& store() { return app_->store(); }
  PresenceServer& server() { return app_->grpc_server(); }
  EventFanout& fanout() { return app_->fanout(); }
  PresenceApp& app() { return *app_; }

  // Expires what is due at the clock's current time, and emits the interval
  // events due (PresenceStore::ExpireSessions).
  void ExpireSessions();

 private:
  SimulatedClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  std::unique_ptr<PresenceApp> app_;
};

}  // namespace presence

#endif  // SERVICE_TESTING_TEST_SERVER_H_
