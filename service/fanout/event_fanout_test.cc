#include "service/fanout/event_fanout.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace presence {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// "encoding" = "<transport>:<channel>:<user>"; counts how often it ran.
struct TextEvent : EncodedEvent {
  std::string text;
};

class CountingEncoder : public EventEncoder {
 public:
  explicit CountingEncoder(std::string transport)
      : transport_(std::move(transport)) {}
  absl::string_view transport() const override { return transport_; }
  std::shared_ptr<const EncodedEvent> Encode(
      const PresenceEvent& event) const override {
    ++encodes_;
    auto out = std::make_shared<TextEvent>();
    out->text = transport_ + ":" + event.channel + ":" + event.user_id;
    return out;
  }
  int encodes() const { return encodes_; }

 private:
  const std::string transport_;
  mutable int encodes_ = 0;
};

class RecordingSink : public EventSink {
 public:
  void Deliver(const std::shared_ptr<const EncodedEvent>& event) override {
    received.push_back(static_cast<const TextEvent&>(*event).text);
    last = event;
  }
  void Close(const absl::Status& status) override { closed.push_back(status); }

  std::vector<std::string> received;
  std::shared_ptr<const EncodedEvent> last;
  std::vector<absl::Status> closed;
};

PresenceEvent Join(const std::string& channel, const std::string& user) {
  PresenceEvent event;
  event.type = EventType::kJoin;
  event.channel = channel;
  event.user_id = user;
  return event;
}

TEST(EventFanoutTest, DeliversToChannelGroupAndFirehoseWatchers) {
  EventFanout fanout;
  CountingEncoder encoder("grpc");
  fanout.OnGroupChange({"friends", {"hall", "lobby"}});
  RecordingSink by_channel, by_group, firehose, elsewhere;
  ASSERT_TRUE(fanout.Add(&by_channel, &encoder, {"lobby"}, {}).ok());
  ASSERT_TRUE(fanout.Add(&by_group, &encoder, {}, {"friends"}).ok());
  ASSERT_TRUE(fanout.Add(&firehose, &encoder, {}, {}).ok());
  ASSERT_TRUE(fanout.Add(&elsewhere, &encoder, {"attic"}, {}).ok());

  fanout.OnEvent(Join("lobby", "alice"));

  EXPECT_THAT(by_channel.received, ElementsAre("grpc:lobby:alice"));
  EXPECT_THAT(by_group.received, ElementsAre("grpc:lobby:alice"));
  EXPECT_THAT(firehose.received, ElementsAre("grpc:lobby:alice"));
  EXPECT_THAT(elsewhere.received, IsEmpty());
  EXPECT_EQ(fanout.size(), 4u);
}

TEST(EventFanoutTest, EncodesOncePerTransportAndSharesTheBytes) {
  EventFanout fanout;
  CountingEncoder grpc("grpc"), http("http");
  RecordingSink a, b, c, d;
  ASSERT_TRUE(fanout.Add(&a, &grpc, {"lobby"}, {}).ok());
  ASSERT_TRUE(fanout.Add(&b, &grpc, {"lobby"}, {}).ok());
  ASSERT_TRUE(fanout.Add(&c, &http, {"lobby"}, {}).ok());
  ASSERT_TRUE(fanout.Add(&d, &http, {}, {}).ok());

  fanout.OnEvent(Join("lobby", "alice"));

  EXPECT_EQ(grpc.encodes(), 1);
  EXPECT_EQ(http.encodes(), 1);
  EXPECT_EQ(a.last, b.last);
  EXPECT_EQ(c.last, d.last);
  EXPECT_THAT(c.received, ElementsAre("http:lobby:alice"));
  EXPECT_EQ(fanout.SizeByTransport(),
            (std::map<std::string, size_t>{{"grpc", 2}, {"http", 2}}));
}

TEST(EventFanoutTest, AWatcherReachedSeveralWaysGetsAnEventOnce) {
  EventFanout fanout;
  CountingEncoder encoder("grpc");
  fanout.OnGroupChange({"friends", {"lobby"}});
  fanout.OnGroupChange({"team", {"lobby"}});
  RecordingSink sink;
  ASSERT_TRUE(fanout.Add(&sink, &encoder, {"lobby"}, {"friends", "team"}).ok());
  fanout.OnEvent(Join("lobby", "alice"));
  EXPECT_THAT(sink.received, ElementsAre("grpc:lobby:alice"));
}

TEST(EventFanoutTest, AGroupWatchFollowsTheGroup) {
  EventFanout fanout;
  CountingEncoder encoder("grpc");
  fanout.OnGroupChange({"friends", {"lobby"}});
  RecordingSink sink;
  ASSERT_TRUE(fanout.Add(&sink, &encoder, {}, {"friends"}).ok());
  fanout.OnGroupChange({"friends", {"hall"}});
  fanout.OnEvent(Join("lobby", "alice"));
  fanout.OnEvent(Join("hall", "bob"));
  EXPECT_THAT(sink.received, ElementsAre("grpc:hall:bob"));
  fanout.OnGroupChange({"friends", {}});  // Deleted.
  fanout.OnEvent(Join("hall", "carol"));
  EXPECT_THAT(sink.received, ElementsAre("grpc:hall:bob"));
}

TEST(EventFanoutTest, AnUnknownGroupIsNotFound) {
  EventFanout fanout;
  CountingEncoder encoder("grpc");
  RecordingSink sink;
  absl::Status status = fanout.Add(&sink, &encoder, {}, {"nope"});
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("'nope'"));
  EXPECT_EQ(fanout.size(), 0u);
}

TEST(EventFanoutTest, RemovedSinksReceiveNothing) {
  EventFanout fanout;
  CountingEncoder encoder("grpc");
  RecordingSink sink;
  ASSERT_TRUE(fanout.Add(&sink, &encoder, {"lobby"}, {}).ok());
  fanout.Remove(&sink);
  fanout.OnEvent(Join("lobby", "alice"));
  EXPECT_THAT(sink.received, IsEmpty());
  EXPECT_TRUE(fanout.WaitForSize(0, absl::ZeroDuration()));
  EXPECT_EQ(encoder.encodes(), 0);
}

TEST(EventFanoutTest, CloseAllClosesOneTransportOrAll) {
  EventFanout fanout;
  CountingEncoder grpc("grpc"), http("http");
  RecordingSink a, b;
  ASSERT_TRUE(fanout.Add(&a, &grpc, {}, {}).ok());
  ASSERT_TRUE(fanout.Add(&b, &http, {}, {}).ok());
  fanout.CloseAll(absl::UnavailableError("bye"), &grpc);
  EXPECT_EQ(a.closed.size(), 1u);
  EXPECT_THAT(b.closed, IsEmpty());
  fanout.CloseAll(absl::UnavailableError("bye"));
  EXPECT_EQ(a.closed.size(), 2u);
  EXPECT_EQ(b.closed.size(), 1u);
}

TEST(EventFanoutTest, AnInterruptionClosesWatchesAndForgetsGroups) {
  EventFanout fanout;
  CountingEncoder encoder("grpc");
  fanout.OnGroupChange({"friends", {"lobby"}});
  RecordingSink sink;
  ASSERT_TRUE(fanout.Add(&sink, &encoder, {}, {"friends"}).ok());
  fanout.OnEventsInterrupted(absl::InternalError("feed broke"));
  ASSERT_EQ(sink.closed.size(), 1u);
  EXPECT_EQ(sink.closed[0].code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(sink.closed[0].message(), "feed broke");
  RecordingSink later;
  EXPECT_EQ(fanout.Add(&later, &encoder, {}, {"friends"}).code(),
            absl::StatusCode::kNotFound);
}

TEST(EventFanoutTest, LostEventsCloseWatchesWithDataLoss) {
  EventFanout fanout;
  CountingEncoder encoder("grpc");
  RecordingSink sink;
  ASSERT_TRUE(fanout.Add(&sink, &encoder, {"lobby"}, {}).ok());
  fanout.OnEventsInterrupted(absl::DataLossError("events were lost"));
  ASSERT_EQ(sink.closed.size(), 1u);
  EXPECT_EQ(sink.closed[0].code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(sink.closed[0].message(), "events were lost");
}

TEST(EventFanoutTest, AWatchStartedAcrossAnInterruptionIsRefused) {
  EventFanout fanout;
  CountingEncoder encoder("grpc");
  const uint64_t seen = fanout.interruptions();
  // The feed breaks after the caller found it healthy, before it registers.
  fanout.OnEventsInterrupted(absl::UnavailableError("feed broke"));
  EXPECT_EQ(fanout.interruptions(), seen + 1);
  RecordingSink sink;
  const absl::Status refused = fanout.Add(&sink, &encoder, {"lobby"}, {}, seen);
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("watch again"));
  EXPECT_EQ(fanout.size(), 0u);
  fanout.OnEvent(Join("lobby", "ann"));
  EXPECT_TRUE(sink.received.empty());
  // Seen after the interruption: registered.
  EXPECT_TRUE(
      fanout.Add(&sink, &encoder, {"lobby"}, {}, fanout.interruptions()).ok());
  fanout.OnEvent(Join("lobby", "bob"));
  EXPECT_EQ(sink.received, std::vector<std::string>{"grpc:lobby:bob"});
}

}  // namespace
}  // namespace presence
