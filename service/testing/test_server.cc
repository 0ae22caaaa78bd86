#include "service/testing/test_server.h"

#include <cstdlib>
#include <utility>

#include "gtest/gtest.h"

namespace presence {

Limits TestServer::TestLimits() {
  Limits limits;
  limits.min_timeout_seconds = 1;
  return limits;
}

TestServer::TestServer(Limits limits, PresenceServerOptions options,
                       EventOptions event_options) {
  PresenceAppOptions app_options;
  app_options.limits = limits;
  app_options.events = event_options;
  app_options.grpc = std::move(options);
  app_options.grpc.listen_address = "127.0.0.1:0";
  app_options.expiry_interval = absl::ZeroDuration();
  app_options.clock = &clock_;
  absl::StatusOr<std::unique_ptr<PresenceApp>> app =
      PresenceApp::Start(std::move(app_options));
  if (!app.ok()) {
    ADD_FAILURE() << app.status();
    std::abort();
  }
  app_ = *std::move(app);
}

void TestServer::ExpireSessions() { ASSERT_TRUE(app_->ExpireSessions().ok()); }

}  // namespace presence
