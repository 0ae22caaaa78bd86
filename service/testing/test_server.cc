#include "service/testing/test_server.h"

#include "gtest/gtest.h"
#include "presence/store/memory/memory_store.h"

namespace presence {

Limits TestServer::TestLimits() {
  Limits limits;
  limits.min_timeout_seconds = 1;
  return limits;
}

TestServer::TestServer(Limits limits, PresenceServerOptions options,
                       EventOptions pipeline_options) {
  MemoryStoreOptions store_options;
  store_options.limits = limits;
  store_options.events = pipeline_options;
  store_ = NewMemoryStore(store_options, &clock_);
  presence_ = std::make_unique<Presence>(store_.get(), limits);
  store_->AddListener(&hub_);
  options.listen_address = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<PresenceServer>> server =
      PresenceServer::Start(options, presence_.get(), &hub_);
  if (!server.ok()) {
    ADD_FAILURE() << server.status();
    std::abort();
  }
  server_ = *std::move(server);
}

TestServer::~TestServer() {
  server_->Shutdown();
  store_->RemoveListener(&hub_);
}

void TestServer::ExpireSessions() {
  ASSERT_TRUE(store_->ExpireSessions().ok());
}

}  // namespace presence
