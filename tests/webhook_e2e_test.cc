// Webhooks end to end: the presence_server binary, started with
// --webhook_url pointing at a real local HTTP receiver, POSTs signed
// batches of the events that a client's calls cause.
#include <signal.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/presence_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/testing/http_receiver.h"
#include "service/testing/server_process.h"
#include "service/webhooks/webhook_signature.h"

namespace presence {
namespace {

using ::testing::HasSubstr;

TEST(WebhookEndToEndTest, EventsArriveSignedAndInOrder) {
  auto receiver = HttpReceiver::Start();
  ASSERT_TRUE(receiver.ok()) << receiver.status();
  ServerProcess server(
      ServerBinaryPath(),
      {"--webhook_url=" + (*receiver)->url("/hook"), "--webhook_secret=s3cret",
       "--webhook_actions=active,join,leave,inactive",
       "--webhook_batch_delay=10ms"});
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  client::PresenceClient pubnub(
      {.target = server.address(), .user_id = "alice"});
  ASSERT_TRUE(pubnub.heartbeat().channels({"lobby"}).execute().ok());
  ASSERT_TRUE(pubnub.set_presence_state(client::Json::object({{"a", 1}}))
                  .channels({"lobby"})
                  .execute()
                  .ok());  // state-change: filtered out.
  ASSERT_TRUE(pubnub.leave().channels({"lobby"}).execute().ok());

  // Batches may split anywhere; together they hold the four events in order.
  std::string all;
  size_t seen = 0;
  while (all.find(R"("action":"inactive")") == std::string::npos) {
    ASSERT_TRUE((*receiver)->WaitForRequests(seen + 1)) << server.Log();
    const HttpReceiver::Request request = (*receiver)->requests()[seen++];
    EXPECT_EQ(request.method, "POST");
    EXPECT_EQ(request.path, "/hook");
    EXPECT_EQ(request.Header("content-type"), "application/json");
    // X-Presence-Signature: t=<unix s>,v1=<hex HMAC(secret, "t.body")>
    std::vector<std::string> parts =
        absl::StrSplit(request.Header("x-presence-signature"), ',');
    ASSERT_EQ(parts.size(), 2u) << request.Header("x-presence-signature");
    int64_t t = 0;
    ASSERT_TRUE(absl::SimpleAtoi(absl::StripPrefix(parts[0], "t="), &t));
    EXPECT_EQ(absl::StripPrefix(parts[1], "v1="),
              HmacSha256Hex("s3cret", absl::StrCat(t, ".", request.body)));
    all += request.body;
  }
  const size_t active = all.find(R"("action":"active")");
  const size_t join = all.find(R"("action":"join","user_id":"alice")");
  const size_t leave = all.find(R"("action":"leave","user_id":"alice")");
  const size_t inactive = all.find(R"("action":"inactive")");
  ASSERT_NE(active, std::string::npos) << all;
  ASSERT_NE(join, std::string::npos) << all;
  ASSERT_NE(leave, std::string::npos) << all;
  EXPECT_LT(active, join);
  EXPECT_LT(join, leave);
  EXPECT_LT(leave, inactive);
  EXPECT_THAT(all, ::testing::Not(HasSubstr("state-change")));
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.Log();
}

TEST(WebhookEndToEndTest, BadWebhookFlagsStopTheServer) {
  ServerProcess server(ServerBinaryPath(),
                       {"--webhook_url=http://127.0.0.1:1/x",
                        "--webhook_secret=s", "--webhook_actions=join,bogus"});
  EXPECT_FALSE(server.Start().ok());
  const int status = server.Stop(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_THAT(server.Log(), HasSubstr("bogus"));
}

}  // namespace
}  // namespace presence
