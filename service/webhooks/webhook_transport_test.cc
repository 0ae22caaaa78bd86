// WebhookTransport and WebhookEndpoint against a real HTTP server
// (HttpReceiver) on 127.0.0.1: the signed POST, fresh signatures per
// attempt, and how transfers turn into outcomes. Every wait is for a
// request to finish or arrive, never for a time.
#include "service/webhooks/webhook_transport.h"

#include <chrono>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "presence/clock.h"
#include "service/testing/http_receiver.h"
#include "service/webhooks/webhook_attempt_outcome.h"
#include "service/webhooks/webhook_signature.h"

namespace presence {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kSecret[] = "transport-test-secret";
constexpr char kBody[] = R"({"events":[{"channel":"c"}]})";
// A bound on how long a test waits for a request before failing, so that a
// bug fails the test rather than hanging it. Never reached when it works.
constexpr absl::Duration kGiveUp = absl::Seconds(30);

std::unique_ptr<HttpReceiver> StartReceiver() {
  absl::StatusOr<std::unique_ptr<HttpReceiver>> receiver =
      HttpReceiver::Start();
  if (!receiver.ok()) {
    ADD_FAILURE() << receiver.status();
    std::abort();
  }
  return *std::move(receiver);
}

std::unique_ptr<WebhookTransport> CreateTransport() {
  absl::StatusOr<std::unique_ptr<WebhookTransport>> transport =
      WebhookTransport::Create();
  if (!transport.ok()) {
    ADD_FAILURE() << transport.status();
    std::abort();
  }
  return *std::move(transport);
}

std::unique_ptr<WebhookEndpoint> CreateEndpoint(
    WebhookTransport* transport, std::string url, const Clock* clock,
    absl::Duration timeout = absl::Seconds(30)) {
  absl::StatusOr<std::unique_ptr<WebhookEndpoint>> endpoint =
      WebhookEndpoint::Create(transport, std::move(url), kSecret, timeout,
                              clock);
  if (!endpoint.ok()) {
    ADD_FAILURE() << endpoint.status();
    std::abort();
  }
  return *std::move(endpoint);
}

// Runs `transport` until a request finishes; returns it.
WebhookTransport::Finished RunUntilFinished(WebhookTransport& transport) {
  const absl::Time give_up = absl::Now() + kGiveUp;
  while (absl::Now() < give_up) {
    transport.Perform();
    if (std::optional<WebhookTransport::Finished> finished =
            transport.NextFinished()) {
      return *std::move(finished);
    }
    transport.Poll(std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << "no request finished";
  return {};
}

// Starts `body` on `endpoint` and returns the outcome.
AttemptOutcome Post(WebhookTransport& transport, WebhookEndpoint& endpoint,
                    absl::string_view body = kBody) {
  if (std::optional<AttemptOutcome> failed = endpoint.Start(body)) {
    ADD_FAILURE() << "not started: " << failed->description;
    return *failed;
  }
  EXPECT_TRUE(endpoint.in_flight());
  WebhookTransport::Finished finished = RunUntilFinished(transport);
  EXPECT_EQ(finished.endpoint, &endpoint);
  EXPECT_FALSE(endpoint.in_flight());
  return finished.outcome;
}

TEST(WebhookTransportTest, PostsSignedJson) {
  auto receiver = StartReceiver();
  SimulatedClock clock(absl::FromUnixSeconds(1700000000));
  auto transport = CreateTransport();
  auto endpoint =
      CreateEndpoint(transport.get(), receiver->url("/hook?k=1"), &clock);
  EXPECT_EQ(endpoint->url(), receiver->url("/hook?k=1"));

  const AttemptOutcome outcome = Post(*transport, *endpoint);
  EXPECT_TRUE(outcome.delivered());
  EXPECT_EQ(outcome.kind, AttemptOutcome::Kind::kResponse);
  EXPECT_EQ(outcome.http_status, 200);
  EXPECT_EQ(outcome.description, "HTTP 200");

  ASSERT_EQ(receiver->requests().size(), 1u);
  const HttpReceiver::Request request = receiver->requests()[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, "/hook?k=1");
  EXPECT_EQ(request.body, kBody);
  EXPECT_EQ(request.Header("Content-Type"), "application/json");
  EXPECT_EQ(request.Header("User-Agent"), "presence-webhook/1");
  EXPECT_EQ(request.Header("Expect"), "");
  EXPECT_EQ(request.Header(kWebhookSignatureHeader),
            SignWebhook(kSecret, 1700000000, kBody));
}

TEST(WebhookTransportTest, EveryAttemptIsSignedAfresh) {
  auto receiver = StartReceiver();
  receiver->ScriptResponses({503});
  SimulatedClock clock(absl::FromUnixSeconds(1700000000));
  auto transport = CreateTransport();
  auto endpoint = CreateEndpoint(transport.get(), receiver->url(), &clock);

  EXPECT_EQ(Post(*transport, *endpoint).http_status, 503);
  clock.Advance(absl::Seconds(90));
  EXPECT_TRUE(Post(*transport, *endpoint).delivered());

  ASSERT_EQ(receiver->requests().size(), 2u);
  const HttpReceiver::Request first = receiver->requests()[0];
  const HttpReceiver::Request second = receiver->requests()[1];
  EXPECT_EQ(first.body, second.body);
  EXPECT_EQ(first.Header(kWebhookSignatureHeader),
            SignWebhook(kSecret, 1700000000, kBody));
  EXPECT_EQ(second.Header(kWebhookSignatureHeader),
            SignWebhook(kSecret, 1700000090, kBody));
}

TEST(WebhookTransportTest, ReportsTheStatusOfEachAnswer) {
  auto receiver = StartReceiver();
  receiver->ScriptResponses({503, 429, 404, 204});
  auto transport = CreateTransport();
  auto endpoint =
      CreateEndpoint(transport.get(), receiver->url(), Clock::Real());
  for (int status : {503, 429, 404, 204}) {
    const AttemptOutcome outcome = Post(*transport, *endpoint);
    EXPECT_EQ(outcome.kind, AttemptOutcome::Kind::kResponse);
    EXPECT_EQ(outcome.http_status, status);
    EXPECT_EQ(outcome.description, absl::StrCat("HTTP ", status));
    EXPECT_EQ(outcome.retry_after, absl::ZeroDuration());  // None was sent.
    EXPECT_EQ(outcome.delivered(), status == 204);
  }
  EXPECT_EQ(receiver->requests().size(), 4u);
}

TEST(WebhookTransportTest, ConnectionRefusedIsATransportError) {
  std::string closed_url;
  {
    auto receiver = StartReceiver();
    closed_url = receiver->url();
  }  // Nothing listens on the port any more.
  auto transport = CreateTransport();
  auto endpoint = CreateEndpoint(transport.get(), closed_url, Clock::Real());
  const AttemptOutcome outcome = Post(*transport, *endpoint);
  EXPECT_EQ(outcome.kind, AttemptOutcome::Kind::kTransportError);
  EXPECT_FALSE(outcome.delivered());
  // libcurl's message, then the details of its error buffer.
  EXPECT_THAT(outcome.description, StartsWith("Couldn't connect to server: "));
}

TEST(WebhookTransportTest, TimeoutIsATransportError) {
  auto receiver = StartReceiver();
  receiver->Pause();  // Nothing is answered.
  auto transport = CreateTransport();
  auto endpoint = CreateEndpoint(transport.get(), receiver->url(),
                                 Clock::Real(), absl::Milliseconds(10));
  const AttemptOutcome outcome = Post(*transport, *endpoint);
  EXPECT_EQ(outcome.kind, AttemptOutcome::Kind::kTransportError);
  EXPECT_THAT(outcome.description, StartsWith("Timeout was reached"));
  receiver->Resume();
}

TEST(WebhookTransportTest, UnsupportedProtocolIsPermanent) {
  auto transport = CreateTransport();
  auto endpoint =
      CreateEndpoint(transport.get(), "ftp://127.0.0.1:1/x", Clock::Real());
  const AttemptOutcome outcome = Post(*transport, *endpoint);
  EXPECT_EQ(outcome.kind, AttemptOutcome::Kind::kPermanentError);
  EXPECT_THAT(outcome.description, StartsWith("Unsupported protocol"));
}

TEST(WebhookTransportTest, EndpointsShareTheTransport) {
  auto first_receiver = StartReceiver();
  auto second_receiver = StartReceiver();
  auto transport = CreateTransport();
  auto first =
      CreateEndpoint(transport.get(), first_receiver->url(), Clock::Real());
  auto second =
      CreateEndpoint(transport.get(), second_receiver->url(), Clock::Real());
  ASSERT_FALSE(first->Start("1").has_value());
  ASSERT_FALSE(second->Start("2").has_value());
  std::set<WebhookEndpoint*> finished;
  for (int i = 0; i < 2; ++i) {
    WebhookTransport::Finished done = RunUntilFinished(*transport);
    EXPECT_TRUE(done.outcome.delivered());
    finished.insert(done.endpoint);
  }
  EXPECT_EQ(finished, (std::set<WebhookEndpoint*>{first.get(), second.get()}));
  EXPECT_EQ(first_receiver->requests().at(0).body, "1");
  EXPECT_EQ(second_receiver->requests().at(0).body, "2");
}

TEST(WebhookTransportTest, AbortCancelsWithoutAnOutcome) {
  auto receiver = StartReceiver();
  receiver->Pause();
  auto transport = CreateTransport();
  auto endpoint =
      CreateEndpoint(transport.get(), receiver->url(), Clock::Real());
  ASSERT_FALSE(endpoint->Start(kBody).has_value());
  const absl::Time give_up = absl::Now() + kGiveUp;
  while (receiver->requests().empty() && absl::Now() < give_up) {
    transport->Perform();
    ASSERT_FALSE(transport->NextFinished().has_value());
    transport->Poll(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(receiver->requests().size(), 1u);

  endpoint->Abort();
  EXPECT_FALSE(endpoint->in_flight());
  transport->Perform();
  EXPECT_FALSE(transport->NextFinished().has_value());
  endpoint->Abort();  // Nothing in flight: no-op.

  // The endpoint is reusable.
  receiver->Resume();
  EXPECT_TRUE(Post(*transport, *endpoint).delivered());
}

TEST(WebhookTransportTest, DestroyingAnEndpointInFlightIsClean) {
  auto receiver = StartReceiver();
  receiver->Pause();
  auto transport = CreateTransport();
  auto endpoint =
      CreateEndpoint(transport.get(), receiver->url(), Clock::Real());
  ASSERT_FALSE(endpoint->Start(kBody).has_value());
  transport->Perform();
  endpoint.reset();
  transport->Perform();
  EXPECT_FALSE(transport->NextFinished().has_value());
  transport.reset();
}

TEST(WebhookTransportTest, WakeupEndsAPoll) {
  auto transport = CreateTransport();
  transport->Wakeup();
  // Returns at once rather than after the (one hour) timeout.
  transport->Poll(std::chrono::hours(1));
}

TEST(CheckWebhookUrlTest, AcceptsHttpAndHttpsUrls) {
  EXPECT_TRUE(CheckWebhookUrl("http://a.example/x").ok());
  EXPECT_TRUE(CheckWebhookUrl("https://a.example").ok());
  EXPECT_TRUE(CheckWebhookUrl("HTTPS://a.example:8443/p?q=1#f").ok());
  EXPECT_TRUE(CheckWebhookUrl("http://user:pw@127.0.0.1:80/hook").ok());
}

TEST(CheckWebhookUrlTest, SaysWhichRuleIsBroken) {
  const auto message = [](absl::string_view url) {
    const absl::Status status = CheckWebhookUrl(url);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << url;
    return std::string(status.message());
  };
  EXPECT_EQ(message("ftp://a.example/x"),
            "must start with http:// or https://");
  EXPECT_EQ(message("a.example/x"), "must start with http:// or https://");
  EXPECT_EQ(message("http://a.example/x y"),
            "contains whitespace or a control character");
  EXPECT_EQ(message("http://a.example/\x01"),
            "contains whitespace or a control character");
  EXPECT_THAT(message("http://"), StartsWith("is not a valid URL ("));
  EXPECT_THAT(message("http://a.example:99999999/"),
              StartsWith("is not a valid URL ("));
  // The URL, which may hold credentials, is not repeated.
  EXPECT_THAT(message("http://user:pw@a.example/x y"), Not(HasSubstr("pw")));
}

}  // namespace
}  // namespace presence
