// WebhookDispatcher against a real HTTP server (HttpReceiver) on 127.0.0.1:
// signatures, batching, filtering, retries, drops, ordering and shutdown;
// and, without a server, ParseActions() and ValidateWebhookOptions(). (The
// JSON is tested in webhook_event_json_test.cc.)
//
// Every test waits on conditions (requests received, Shutdown() returning)
// and never on time: batches are made full by size, or flushed by Shutdown,
// unless a test is about the batch delay itself.
#include "service/webhooks/webhook_dispatcher.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "presence/clock.h"
#include "presence/event.h"
#include "rapidjson/document.h"
#include "service/testing/http_receiver.h"

namespace presence {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "webhook-test-secret";
// 2026-11-27T17:01:21.123Z
constexpr int64_t kEventUnixMillis = 1795798881123;

PresenceEvent MakeEvent(absl::string_view channel, uint64_t sequence,
                        EventType type = EventType::kJoin) {
  PresenceEvent event;
  event.type = type;
  event.channel = std::string(channel);
  event.user_id = absl::StrCat("user-", sequence);
  event.occupancy = 1;
  event.time = absl::FromUnixMillis(kEventUnixMillis);
  event.sequence = sequence;
  return event;
}

// Short backoffs, so retries are quick; a generous request timeout; and a
// batch delay long enough that only a full batch or Shutdown() sends one.
WebhookOptions TestOptions(std::vector<std::string> urls) {
  WebhookOptions options;
  options.urls = std::move(urls);
  options.secret = kSecret;
  options.max_batch_delay = absl::Hours(1);
  options.request_timeout = absl::Seconds(30);
  options.initial_backoff = absl::Milliseconds(1);
  options.max_backoff = absl::Milliseconds(5);
  return options;
}

std::unique_ptr<HttpReceiver> StartReceiver() {
  absl::StatusOr<std::unique_ptr<HttpReceiver>> receiver =
      HttpReceiver::Start();
  if (!receiver.ok()) {
    ADD_FAILURE() << receiver.status();
    std::abort();
  }
  return *std::move(receiver);
}

std::unique_ptr<WebhookDispatcher> CreateDispatcher(
    WebhookOptions options, const Clock* clock = Clock::Real()) {
  absl::StatusOr<std::unique_ptr<WebhookDispatcher>> dispatcher =
      WebhookDispatcher::Create(std::move(options), clock);
  if (!dispatcher.ok()) {
    ADD_FAILURE() << dispatcher.status();
    std::abort();
  }
  return *std::move(dispatcher);
}

struct ReceivedEvent {
  std::string channel;
  std::string action;
  uint64_t sequence = 0;
};

// Returns the events of a webhook body, checking its shape.
std::vector<ReceivedEvent> EventsOf(const std::string& body) {
  std::vector<ReceivedEvent> events;
  rapidjson::Document document;
  document.Parse(body.data(), body.size());
  if (document.HasParseError() || !document.IsObject() ||
      !document.HasMember("events") || !document["events"].IsArray()) {
    ADD_FAILURE() << "not a webhook body: " << body;
    return events;
  }
  for (const auto& event : document["events"].GetArray()) {
    ReceivedEvent received;
    received.channel = event["channel"].GetString();
    received.action = event["action"].GetString();
    EXPECT_TRUE(
        absl::SimpleAtoi(event["sequence"].GetString(), &received.sequence));
    events.push_back(std::move(received));
  }
  return events;
}

std::vector<ReceivedEvent> AllEvents(const HttpReceiver& receiver) {
  std::vector<ReceivedEvent> events;
  for (const HttpReceiver::Request& request : receiver.requests()) {
    for (ReceivedEvent& event : EventsOf(request.body)) {
      events.push_back(std::move(event));
    }
  }
  return events;
}

std::vector<uint64_t> Sequences(const std::vector<ReceivedEvent>& events) {
  std::vector<uint64_t> sequences;
  for (const ReceivedEvent& event : events) {
    sequences.push_back(event.sequence);
  }
  return sequences;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> range;
  for (uint64_t i = first; i <= last; ++i) range.push_back(i);
  return range;
}

// HMAC-SHA256 straight from OpenSSL, independent of webhook_signature.
std::string ReferenceHmacHex(absl::string_view key, absl::string_view message) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
       digest, &size);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), size));
}

TEST(ParseActionsTest, NamesSpacesAndDuplicates) {
  absl::StatusOr<std::vector<EventType>> actions =
      WebhookDispatcher::ParseActions(
          "join, leave ,timeout,active,inactive,state-change,interval,join");
  ASSERT_TRUE(actions.ok()) << actions.status();
  EXPECT_THAT(
      *actions,
      ElementsAre(EventType::kJoin, EventType::kLeave, EventType::kTimeout,
                  EventType::kActive, EventType::kInactive,
                  EventType::kStateChange, EventType::kInterval));
}

TEST(ParseActionsTest, EmptyMeansAll) {
  absl::StatusOr<std::vector<EventType>> actions =
      WebhookDispatcher::ParseActions(" ");
  ASSERT_TRUE(actions.ok()) << actions.status();
  EXPECT_TRUE(actions->empty());
}

TEST(ParseActionsTest, UnknownActionIsNamed) {
  absl::StatusOr<std::vector<EventType>> actions =
      WebhookDispatcher::ParseActions("join,presence,leave");
  EXPECT_EQ(actions.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(actions.status().message(), HasSubstr("\"presence\""));
  EXPECT_EQ(WebhookDispatcher::ParseActions("join,,leave").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(WebhookDispatcherTest, CreateRejectsBadOptions) {
  const auto error = [](WebhookOptions options) {
    return WebhookDispatcher::Create(std::move(options)).status();
  };
  EXPECT_THAT(error(TestOptions({})).message(), HasSubstr("urls"));
  EXPECT_THAT(error(TestOptions({"ftp://example.com/x"})).message(),
              HasSubstr("urls[0]"));
  EXPECT_THAT(error(TestOptions({"http://a.example/", "http://"})).message(),
              HasSubstr("urls[1]"));
  EXPECT_THAT(
      error(TestOptions({"http://a.example/", "http://a.example/"})).message(),
      HasSubstr("duplicate"));
  // Credentials in a URL stay out of error messages.
  EXPECT_THAT(error(TestOptions({"http://user:pw@a.example/x y"})).message(),
              Not(HasSubstr("pw")));
  WebhookOptions options = TestOptions({"http://a.example/"});
  options.secret.clear();
  EXPECT_THAT(error(options).message(), HasSubstr("secret"));
  options = TestOptions({"http://a.example/"});
  options.max_batch_events = 0;
  EXPECT_THAT(error(options).message(), HasSubstr("max_batch_events"));
  options = TestOptions({"http://a.example/"});
  options.max_queue_events = options.max_batch_events - 1;
  EXPECT_THAT(error(options).message(), HasSubstr("max_queue_events"));
  options = TestOptions({"http://a.example/"});
  options.max_attempts = 0;
  EXPECT_THAT(error(options).message(), HasSubstr("max_attempts"));
  options = TestOptions({"http://a.example/"});
  options.max_backoff = options.initial_backoff / 2;
  EXPECT_THAT(error(options).message(), HasSubstr("max_backoff"));
}

TEST(ValidateWebhookOptionsTest, AcceptsTheDefaultsWithAUrlAndASecret) {
  WebhookOptions options;
  options.urls = {"http://a.example/hook", "https://b.example/hook"};
  options.secret = kSecret;
  EXPECT_TRUE(ValidateWebhookOptions(options).ok());
  EXPECT_TRUE(ValidateWebhookOptions(TestOptions({"http://a.example/"})).ok());
}

TEST(ValidateWebhookOptionsTest, NamesTheWrongOption) {
  const auto error = [](const WebhookOptions& options) {
    const absl::Status status = ValidateWebhookOptions(options);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    return std::string(status.message());
  };
  EXPECT_EQ(error(TestOptions({})),
            "webhook urls: empty; at least one URL is required");
  EXPECT_EQ(error(TestOptions({"http://a.example/", "ftp://b.example/x"})),
            "webhook urls[1]: \"ftp://b.example/x\" must start with http:// "
            "or https://");
  EXPECT_EQ(error(TestOptions({"http://a.example/", "http://a.example/"})),
            "webhook urls[1]: duplicate of urls[0]");
  // Credentials, query and fragment stay out of the message.
  EXPECT_EQ(error(TestOptions({"http://user:pw@a.example/x y?token=t#f"})),
            "webhook urls[0]: \"http://a.example/x y\" contains whitespace or "
            "a control character");

  WebhookOptions options = TestOptions({"http://a.example/"});
  options.max_batch_delay = -absl::Milliseconds(1);
  EXPECT_EQ(error(options),
            "webhook max_batch_delay: -1ms; must not be negative");
  options = TestOptions({"http://a.example/"});
  options.request_timeout = absl::ZeroDuration();
  EXPECT_EQ(error(options), "webhook request_timeout: 0; must be positive");
  options = TestOptions({"http://a.example/"});
  options.initial_backoff = absl::ZeroDuration();
  EXPECT_EQ(error(options), "webhook initial_backoff: 0; must be positive");
  options = TestOptions({"http://a.example/"});
  options.max_queue_events = 5;
  options.max_batch_events = 6;
  EXPECT_EQ(error(options),
            "webhook max_queue_events: 5; must be at least max_batch_events "
            "(6)");
  options = TestOptions({"http://a.example/"});
  options.max_attempts = -1;
  EXPECT_EQ(error(options), "webhook max_attempts: -1; must be at least 1");
}

TEST(WebhookDispatcherTest, RequestIsSignedJsonPost) {
  auto receiver = StartReceiver();
  SimulatedClock clock(absl::FromUnixSeconds(1700000000));
  WebhookOptions options = TestOptions({receiver->url("/presence?k=1")});
  options.max_batch_events = 1;
  auto dispatcher = CreateDispatcher(options, &clock);
  PresenceEvent event = MakeEvent("lobby", 1);
  event.state = R"({"mood":"happy"})";
  dispatcher->OnEvent(event);
  ASSERT_TRUE(receiver->WaitForRequests(1));

  const HttpReceiver::Request request = receiver->requests()[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, "/presence?k=1");
  EXPECT_EQ(request.Header("Content-Type"), "application/json");
  EXPECT_EQ(request.body,
            absl::StrCat(R"({"events":[)", EncodeEventJson(event), "]}"));

  // What a receiver does: split the header, recompute, compare.
  const std::string signature = request.Header("X-Presence-Signature");
  std::map<std::string, std::string> fields;
  for (absl::string_view part : absl::StrSplit(signature, ',')) {
    std::pair<std::string, std::string> field =
        absl::StrSplit(part, absl::MaxSplits('=', 1));
    fields.insert(field);
  }
  ASSERT_EQ(fields.size(), 2u) << signature;
  EXPECT_EQ(fields["t"], "1700000000");
  EXPECT_EQ(
      fields["v1"],
      ReferenceHmacHex(kSecret, absl::StrCat(fields["t"], ".", request.body)));
  EXPECT_NE(fields["v1"],
            ReferenceHmacHex("wrong secret",
                             absl::StrCat(fields["t"], ".", request.body)));
}

TEST(WebhookDispatcherTest, FullBatchesGoAtOnceAndShutdownSendsTheRest) {
  auto receiver = StartReceiver();
  WebhookOptions options = TestOptions({receiver->url()});
  options.max_batch_events = 100;
  auto dispatcher = CreateDispatcher(options);
  for (uint64_t i = 1; i <= 250; ++i) dispatcher->OnEvent(MakeEvent("c", i));
  // Two full batches go without waiting for the (one hour) batch delay.
  ASSERT_TRUE(receiver->WaitForRequests(2));
  dispatcher->Shutdown(absl::Seconds(60));

  const std::vector<HttpReceiver::Request> requests = receiver->requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(Sequences(EventsOf(requests[0].body)), Range(1, 100));
  EXPECT_EQ(Sequences(EventsOf(requests[1].body)), Range(101, 200));
  EXPECT_EQ(Sequences(EventsOf(requests[2].body)), Range(201, 250));
  const WebhookDispatcher::Stats stats = dispatcher->stats();
  EXPECT_EQ(stats.delivered_events, 250u);
  EXPECT_EQ(stats.batches, 3u);
  EXPECT_EQ(stats.retries, 0u);
  EXPECT_EQ(stats.dropped_events + stats.failed_events, 0u);
}

TEST(WebhookDispatcherTest, PartialBatchGoesAfterTheBatchDelay) {
  auto receiver = StartReceiver();
  WebhookOptions options = TestOptions({receiver->url()});
  options.max_batch_events = 100;
  options.max_batch_delay = absl::Milliseconds(20);
  auto dispatcher = CreateDispatcher(options);
  dispatcher->OnEvent(MakeEvent("c", 1));
  ASSERT_TRUE(receiver->WaitForRequests(1));
  EXPECT_THAT(Sequences(EventsOf(receiver->requests()[0].body)),
              ElementsAre(1u));
}

TEST(WebhookDispatcherTest, SendsOnlyTheConfiguredActions) {
  auto receiver = StartReceiver();
  WebhookOptions options = TestOptions({receiver->url()});
  options.actions = {EventType::kJoin, EventType::kLeave};
  auto dispatcher = CreateDispatcher(options);
  dispatcher->OnEvent(MakeEvent("c", 1, EventType::kJoin));
  dispatcher->OnEvent(MakeEvent("c", 2, EventType::kStateChange));
  dispatcher->OnEvent(MakeEvent("c", 3, EventType::kTimeout));
  dispatcher->OnEvent(MakeEvent("c", 4, EventType::kInterval));
  dispatcher->OnEvent(MakeEvent("c", 5, EventType::kLeave));
  dispatcher->Shutdown(absl::Seconds(60));

  const std::vector<ReceivedEvent> events = AllEvents(*receiver);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].action, "join");
  EXPECT_EQ(events[1].action, "leave");
  EXPECT_EQ(dispatcher->stats().delivered_events, 2u);
}

TEST(WebhookDispatcherTest, EveryUrlGetsEveryEvent) {
  auto first = StartReceiver();
  auto second = StartReceiver();
  auto dispatcher =
      CreateDispatcher(TestOptions({first->url(), second->url("/other")}));
  for (uint64_t i = 1; i <= 10; ++i) dispatcher->OnEvent(MakeEvent("c", i));
  dispatcher->Shutdown(absl::Seconds(60));

  EXPECT_EQ(Sequences(AllEvents(*first)), Range(1, 10));
  EXPECT_EQ(Sequences(AllEvents(*second)), Range(1, 10));
  EXPECT_EQ(dispatcher->stats().delivered_events, 20u);
}

TEST(WebhookDispatcherTest, RetriesTheSameBatchAfter5xxAnd429) {
  auto receiver = StartReceiver();
  receiver->ScriptResponses({503, 429, 500});
  WebhookOptions options = TestOptions({receiver->url()});
  options.max_batch_events = 2;
  auto dispatcher = CreateDispatcher(options);
  dispatcher->OnEvent(MakeEvent("c", 1));
  dispatcher->OnEvent(MakeEvent("c", 2));
  ASSERT_TRUE(receiver->WaitForRequests(4));
  dispatcher->Shutdown(absl::Seconds(60));

  const std::vector<HttpReceiver::Request> requests = receiver->requests();
  ASSERT_EQ(requests.size(), 4u);
  for (const HttpReceiver::Request& request : requests) {
    EXPECT_EQ(request.body, requests[0].body);
  }
  EXPECT_EQ(Sequences(EventsOf(requests[0].body)), Range(1, 2));
  const WebhookDispatcher::Stats stats = dispatcher->stats();
  EXPECT_EQ(stats.delivered_events, 2u);
  EXPECT_EQ(stats.batches, 1u);
  EXPECT_EQ(stats.retries, 3u);
  EXPECT_EQ(stats.failed_events, 0u);
}

TEST(WebhookDispatcherTest, DoesNotRetryOther4xx) {
  auto receiver = StartReceiver();
  receiver->ScriptResponses({400});
  WebhookOptions options = TestOptions({receiver->url()});
  options.max_batch_events = 2;
  auto dispatcher = CreateDispatcher(options);
  dispatcher->OnEvent(MakeEvent("c", 1));
  dispatcher->OnEvent(MakeEvent("c", 2));
  ASSERT_TRUE(receiver->WaitForRequests(1));
  // The next request carries the next events, not the rejected ones again.
  dispatcher->OnEvent(MakeEvent("c", 3));
  dispatcher->OnEvent(MakeEvent("c", 4));
  ASSERT_TRUE(receiver->WaitForRequests(2));
  dispatcher->Shutdown(absl::Seconds(60));

  const std::vector<HttpReceiver::Request> requests = receiver->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(Sequences(EventsOf(requests[1].body)), Range(3, 4));
  const WebhookDispatcher::Stats stats = dispatcher->stats();
  EXPECT_EQ(stats.failed_events, 2u);
  EXPECT_EQ(stats.delivered_events, 2u);
  EXPECT_EQ(stats.retries, 0u);
}

TEST(WebhookDispatcherTest, GivesUpAfterMaxAttempts) {
  auto receiver = StartReceiver();
  receiver->ScriptResponses({503, 503, 503});
  WebhookOptions options = TestOptions({receiver->url()});
  options.max_batch_events = 1;
  options.max_attempts = 3;
  auto dispatcher = CreateDispatcher(options);
  dispatcher->OnEvent(MakeEvent("c", 1));
  ASSERT_TRUE(receiver->WaitForRequests(3));
  dispatcher->OnEvent(MakeEvent("c", 2));
  ASSERT_TRUE(receiver->WaitForRequests(4));
  dispatcher->Shutdown(absl::Seconds(60));

  const std::vector<HttpReceiver::Request> requests = receiver->requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_THAT(Sequences(EventsOf(requests[2].body)), ElementsAre(1u));
  EXPECT_THAT(Sequences(EventsOf(requests[3].body)), ElementsAre(2u));
  const WebhookDispatcher::Stats stats = dispatcher->stats();
  EXPECT_EQ(stats.failed_events, 1u);
  EXPECT_EQ(stats.delivered_events, 1u);
  EXPECT_EQ(stats.retries, 2u);
}

TEST(WebhookDispatcherTest, FullQueueDropsTheOldestEvents) {
  auto receiver = StartReceiver();
  receiver->Pause();  // The first batch stays in flight until Resume().
  WebhookOptions options = TestOptions({receiver->url()});
  options.max_batch_events = 5;
  options.max_queue_events = 10;
  auto dispatcher = CreateDispatcher(options);
  for (uint64_t i = 1; i <= 5; ++i) dispatcher->OnEvent(MakeEvent("c", i));
  ASSERT_TRUE(receiver->WaitForRequests(1));
  for (uint64_t i = 6; i <= 105; ++i) dispatcher->OnEvent(MakeEvent("c", i));
  WebhookDispatcher::Stats stats = dispatcher->stats();
  EXPECT_EQ(stats.dropped_events, 90u);
  EXPECT_EQ(stats.queued_events, 10u);
  receiver->Resume();
  dispatcher->Shutdown(absl::Seconds(60));

  std::vector<uint64_t> kept = Range(1, 5);
  for (uint64_t i : Range(96, 105)) kept.push_back(i);
  EXPECT_EQ(Sequences(AllEvents(*receiver)), kept);
  stats = dispatcher->stats();
  EXPECT_EQ(stats.delivered_events, 15u);
  EXPECT_EQ(stats.dropped_events, 90u);
}

TEST(WebhookDispatcherTest, UnreachableReceiverCostsBoundedMemory) {
  std::string closed_url;
  {
    auto receiver = StartReceiver();
    closed_url = receiver->url();
  }  // Nothing listens on the port any more.
  WebhookOptions options = TestOptions({closed_url});
  options.max_batch_events = 5;
  options.max_queue_events = 10;
  options.max_attempts = 1000000;
  auto dispatcher = CreateDispatcher(options);
  constexpr uint64_t kEvents = 10000;
  for (uint64_t i = 1; i <= kEvents; ++i) {
    dispatcher->OnEvent(MakeEvent("c", i));
    ASSERT_LE(dispatcher->stats().queued_events, options.max_queue_events);
  }
  WebhookDispatcher::Stats stats = dispatcher->stats();
  // At most a queue and a batch are held; everything else was dropped.
  EXPECT_GE(stats.dropped_events,
            kEvents - options.max_queue_events - options.max_batch_events);
  dispatcher->Shutdown(absl::ZeroDuration());
  stats = dispatcher->stats();
  EXPECT_EQ(stats.delivered_events, 0u);
  EXPECT_EQ(stats.queued_events, 0u);
  EXPECT_EQ(stats.dropped_events + stats.failed_events, kEvents);
}

TEST(WebhookDispatcherTest, KeepsPerChannelOrderAcrossThreads) {
  auto receiver = StartReceiver();
  WebhookOptions options = TestOptions({receiver->url()});
  options.max_batch_events = 37;
  options.max_batch_delay = absl::Milliseconds(1);
  auto dispatcher = CreateDispatcher(options);
  constexpr int kThreads = 8;
  constexpr uint64_t kEventsPerThread = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    // Like the store: one channel's events come from one thread at a time.
    threads.emplace_back([&dispatcher, t] {
      const std::string channel = absl::StrCat("channel-", t);
      for (uint64_t i = 1; i <= kEventsPerThread; ++i) {
        dispatcher->OnEvent(MakeEvent(channel, i));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  dispatcher->Shutdown(absl::Seconds(60));

  std::map<std::string, std::vector<uint64_t>> by_channel;
  for (const ReceivedEvent& event : AllEvents(*receiver)) {
    by_channel[event.channel].push_back(event.sequence);
  }
  ASSERT_EQ(by_channel.size(), static_cast<size_t>(kThreads));
  for (const auto& [channel, sequences] : by_channel) {
    EXPECT_EQ(sequences, Range(1, kEventsPerThread)) << channel;
  }
  EXPECT_EQ(dispatcher->stats().delivered_events, kThreads * kEventsPerThread);
}

TEST(WebhookDispatcherTest, ShutdownDeliversTheQueueAndStopsAccepting) {
  auto receiver = StartReceiver();
  WebhookOptions options = TestOptions({receiver->url()});
  options.max_batch_events = 1000;
  auto dispatcher = CreateDispatcher(options);
  for (uint64_t i = 1; i <= 10; ++i) dispatcher->OnEvent(MakeEvent("c", i));
  dispatcher->Shutdown(absl::Seconds(60));

  const std::vector<HttpReceiver::Request> requests = receiver->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(Sequences(EventsOf(requests[0].body)), Range(1, 10));
  dispatcher->OnEvent(MakeEvent("c", 11));
  dispatcher->Shutdown(absl::Seconds(60));  // Idempotent.
  const WebhookDispatcher::Stats stats = dispatcher->stats();
  EXPECT_EQ(stats.delivered_events, 10u);
  EXPECT_EQ(stats.queued_events, 0u);
  EXPECT_EQ(receiver->requests().size(), 1u);
}

TEST(WebhookDispatcherTest, ShutdownDeadlineAbortsWhatIsLeft) {
  auto receiver = StartReceiver();
  receiver->Pause();  // Nothing is ever answered.
  WebhookOptions options = TestOptions({receiver->url()});
  options.max_batch_events = 5;
  auto dispatcher = CreateDispatcher(options);
  for (uint64_t i = 1; i <= 5; ++i) dispatcher->OnEvent(MakeEvent("c", i));
  ASSERT_TRUE(receiver->WaitForRequests(1));
  for (uint64_t i = 6; i <= 8; ++i) dispatcher->OnEvent(MakeEvent("c", i));
  dispatcher->Shutdown(absl::ZeroDuration());

  const WebhookDispatcher::Stats stats = dispatcher->stats();
  EXPECT_EQ(stats.failed_events, 5u);   // The batch in flight.
  EXPECT_EQ(stats.dropped_events, 3u);  // The queue.
  EXPECT_EQ(stats.delivered_events, 0u);
}

PresenceEvent Positioned(PresenceEvent event, uint64_t position) {
  event.delivery_position = position;
  return event;
}

// Waits (real time, up to 30 s) until DoneThrough() reaches `position`.
bool WaitForDone(const WebhookDispatcher& dispatcher, uint64_t position) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (dispatcher.DoneThrough() < position) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

// The store's shared cursor follows DoneThrough(): an event is done only
// once every URL acknowledged it (or it was filtered out).
TEST(WebhookDispatcherTest, DoneThroughWaitsForEveryReceiversAcknowledgement) {
  auto holding = StartReceiver();
  auto answering = StartReceiver();
  holding->Pause();  // Holds the batch: received, not acknowledged.
  WebhookOptions options = TestOptions({holding->url(), answering->url()});
  options.max_batch_events = 2;
  options.actions = {EventType::kJoin};
  auto dispatcher = CreateDispatcher(options);
  EXPECT_EQ(dispatcher->DoneThrough(), 0u);
  dispatcher->OnEvent(Positioned(MakeEvent("c", 1), 1));
  dispatcher->OnEvent(Positioned(MakeEvent("c", 2), 2));
  ASSERT_TRUE(holding->WaitForRequests(1));
  ASSERT_TRUE(answering->WaitForRequests(1));
  EXPECT_EQ(dispatcher->DoneThrough(), 0u) << "done before acknowledged";

  holding->Resume();
  EXPECT_TRUE(WaitForDone(*dispatcher, 2));
  EXPECT_EQ(dispatcher->DoneThrough(), 2u);
  // A filtered-out event is done at once.
  dispatcher->OnEvent(
      Positioned(MakeEvent("c", 3, EventType::kStateChange), 3));
  EXPECT_EQ(dispatcher->DoneThrough(), 3u);
  dispatcher->Shutdown(absl::Seconds(60));
  EXPECT_EQ(dispatcher->DoneThrough(), 3u);
}

// What Shutdown abandons (in flight or queued) is never done, so the next
// lease holder sends it again.
TEST(WebhookDispatcherTest, AbandonedEventsAreNeverDone) {
  auto receiver = StartReceiver();
  receiver->Pause();  // Nothing is ever answered.
  WebhookOptions options = TestOptions({receiver->url()});
  options.max_batch_events = 5;
  auto dispatcher = CreateDispatcher(options);
  for (uint64_t i = 1; i <= 5; ++i) {
    dispatcher->OnEvent(Positioned(MakeEvent("c", i), i));
  }
  ASSERT_TRUE(receiver->WaitForRequests(1));
  for (uint64_t i = 6; i <= 8; ++i) {
    dispatcher->OnEvent(Positioned(MakeEvent("c", i), i));
  }
  EXPECT_EQ(dispatcher->DoneThrough(), 0u);
  dispatcher->Shutdown(absl::ZeroDuration());
  EXPECT_EQ(dispatcher->DoneThrough(), 0u);
  // Events offered after Shutdown are ignored, and not done either.
  dispatcher->OnEvent(Positioned(MakeEvent("c", 9), 9));
  EXPECT_EQ(dispatcher->DoneThrough(), 0u);
}

TEST(WebhookDispatcherTest, DestructorWithoutShutdownIsClean) {
  auto receiver = StartReceiver();
  receiver->Pause();
  WebhookOptions options = TestOptions({receiver->url()});
  options.max_batch_events = 1;
  auto dispatcher = CreateDispatcher(options);
  dispatcher->OnEvent(MakeEvent("c", 1));
  dispatcher->OnEvent(MakeEvent("c", 2));
  ASSERT_TRUE(receiver->WaitForRequests(1));
  dispatcher.reset();
}

}  // namespace
}  // namespace presence
