// load_generator: drives presence.v1.PresenceService (the real server or
// bench/echo_server, identically) from an asynchronous gRPC client and
// reports throughput, latency and what the server used.
//
//   load_generator --target=127.0.0.1:50051 --users=1000000
//       --mix=heartbeat:90,here_now:5,where_now:5 --concurrency=64
//       --duration=10s --server_pid=1234
//   load_generator --server_cmd="bazel-bin/bench/echo_server --api=cq" ...
//
// Client: --threads completion queues (one thread each) and --connections
// HTTP/2 connections; every in-flight call is a "slot" that issues its next
// call from its completion, so --concurrency is the number in flight (closed
// loop), or a lane is paced at --rate calls/s.
//
// Workload (names from bench/names.h):
//   users u-<i> for i < --users, each in --channels_per_user (min-max) of
//   --channels channels ch-<j>; --prefill first makes them all present with
//   one Heartbeat each. --grid=N instead: users u-<i> and channels ch-<j>,
//   i, j < N, every user in every channel, and each call picks i and j
//   independently (the shape redis-benchmark can replay, for S7).
//   --big_channel_members=M: users b-<i> (i < M) present in --big_channel.
//   --expiring_users=E: users x-<i>, each in --expiring_channels_per_user
//   of --expiring_channels channels xch-<k>, prefilled last and never
//   refreshed. Each heartbeat's timeout is --expiring_timeout minus the
//   whole seconds since their prefill began, so all their memberships fall
//   due within one second, --expiring_timeout after it began: a mass
//   expiry during the measurement, which then lasts until they are all gone
//   and compares throughput before and during the expiry (S4).
//
// Calls (--mix and --probe_mix are kind:weight lists):
//   heartbeat       a random user, on its channels
//   here_now        a random channel, --here_now_limit occupants
//   here_now_count  --big_channel (or a random channel), occupancy only
//   here_now_page   --big_channel, --page_size occupants at a random offset
//   where_now       a random user
//   churn           users c-<i> join --churn_channels channels, then leave
//                   them (each call is that many membership changes)
//   batch           one BatchHeartbeat of --batch_size users
// The probe lane (--probe_mix, --probe_concurrency, --probe_rate) runs
// alongside the main lane and is reported apart: a latency probe under load.
//
// --mode=fanout (S5): --watchers WatchEvents streams on --fanout_channel;
// --fanout_slots users there alternately join and leave, each change waiting
// until every watcher has received its event; reports deliveries/s and the
// change -> receive latency.
//
// Output: one JSON line on stdout (machine-readable) and one summary line on
// stderr.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/batch_wire.h"
#include "bench/latency_histogram.h"
#include "bench/names.h"
#include "bench/proc_stats.h"
#include "grpcpp/alarm.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "presence/v1/presence.grpc.pb.h"
#include "presence/v1/watch_metadata.h"

ABSL_FLAG(std::string, target, "", "host:port of the server");
ABSL_FLAG(std::string, server_cmd, "",
          "Start this server (space-separated argv; give it a port-0 listen "
          "address): its 'listening on <host>:<port>' stderr line is the "
          "target, its pid the --server_pid; SIGTERM at the end");
ABSL_FLAG(int, server_pid, 0, "pid whose CPU and memory are reported");
ABSL_FLAG(std::string, aux_pids, "",
          "More pids (comma-separated, e.g. redis-server) to report");
ABSL_FLAG(std::string, label, "", "Name of this run in the output");
ABSL_FLAG(std::string, mode, "unary", "unary or fanout");
ABSL_FLAG(int, threads, 2, "Client threads (one completion queue each)");
ABSL_FLAG(int, connections, 4, "HTTP/2 connections");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(2), "Load before measuring");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "Measurement");
ABSL_FLAG(absl::Duration, rpc_timeout, absl::Seconds(30), "Per-call deadline");
ABSL_FLAG(uint64_t, seed, 1, "Random seed");

ABSL_FLAG(uint64_t, users, 100000, "Users u-<i>");
ABSL_FLAG(uint64_t, channels, 20000, "Channels ch-<j> the users are in");
ABSL_FLAG(std::string, channels_per_user, "1-5", "min-max channels per user");
ABSL_FLAG(uint32_t, timeout_seconds, 300, "Heartbeat timeout");
ABSL_FLAG(int, grid, 0, "If > 0: N users x N channels, all present (S7)");
ABSL_FLAG(std::string, user_prefix, presence::bench::kUserPrefix,
          "Prefix of user ids");
ABSL_FLAG(std::string, channel_prefix, presence::bench::kChannelPrefix,
          "Prefix of channel names");
ABSL_FLAG(bool, prefill, true, "Make the users present before measuring");
ABSL_FLAG(int, prefill_concurrency, 128, "Calls in flight while prefilling");
ABSL_FLAG(uint64_t, big_channel_members, 0, "Users b-<i> in --big_channel");
ABSL_FLAG(std::string, big_channel, "big-000000000000", "The big channel");
ABSL_FLAG(uint32_t, page_size, 1000, "here_now_page: occupants per page");
ABSL_FLAG(uint32_t, here_now_limit, 0, "here_now: limit (0: server default)");
ABSL_FLAG(uint64_t, churn_users, 100000, "churn: users c-<i>");
ABSL_FLAG(int, churn_channels, 10, "churn: channels joined then left per call");
ABSL_FLAG(uint64_t, expiring_users, 0, "Users x-<i> left to expire (S4)");
ABSL_FLAG(uint64_t, expiring_channels, 1000, "Channels xch-<k> they are in");
ABSL_FLAG(int, expiring_channels_per_user, 1,
          "Channels each expiring user is in (memberships = users x this)");
ABSL_FLAG(uint32_t, expiring_timeout, 60,
          "Seconds from the start of their prefill to their deadline (must "
          "exceed the prefill); the measurement ends once all expired");
ABSL_FLAG(absl::Duration, timeline_bucket, absl::Milliseconds(100),
          "Timeline resolution (with --expiring_users)");

ABSL_FLAG(std::string, mix, "heartbeat:100", "Main lane: kind:weight,...");
ABSL_FLAG(int, concurrency, 64, "Main lane: calls in flight");
ABSL_FLAG(double, rate, 0, "Main lane: calls/s (0: as fast as possible)");
ABSL_FLAG(std::string, probe_mix, "", "Probe lane: kind:weight,... (or none)");
ABSL_FLAG(int, probe_concurrency, 1, "Probe lane: calls in flight");
ABSL_FLAG(double, probe_rate, 0, "Probe lane: calls/s (0: closed loop)");

ABSL_FLAG(int, batch_size, 1000, "batch: users per BatchHeartbeat");
ABSL_FLAG(int, batch_payloads, 64, "batch: distinct requests pre-encoded");
ABSL_FLAG(int, watchers, 1000, "fanout: WatchEvents streams");
ABSL_FLAG(std::string, fanout_channel, "fan-000000000000", "fanout: channel");
ABSL_FLAG(int, fanout_slots, 16,
          "fanout: changes in flight (users f-<k>; with the anchor user the "
          "channel stays under the server's --announce_max, 20)");

namespace presence::bench {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             Clock::now().time_since_epoch())
      .count();
}

// When the expiring users' prefill began (see --expiring_users).
std::atomic<int64_t> g_expiry_origin_ns{0};

// ---------------------------------------------------------------------------
// Workload: names and the requests of each kind.

enum Kind {
  kHeartbeat,
  kHereNow,
  kHereNowCount,
  kHereNowPage,
  kWhereNow,
  kChurn,
  kBatch,
  kPrefillMain,
  kPrefillGrid,
  kPrefillBig,
  kPrefillExpiring,
  kKinds
};

constexpr const char* kKindNames[kKinds] = {
    "heartbeat",    "here_now",    "here_now_count",  "here_now_page",
    "where_now",    "churn",       "batch",           "prefill",
    "prefill_grid", "prefill_big", "prefill_expiring"};

bool ParseKind(absl::string_view name, Kind* kind) {
  for (int k = 0; k < kKinds; ++k) {
    if (name == kKindNames[k]) {
      *kind = static_cast<Kind>(k);
      return true;
    }
  }
  return false;
}

uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

struct Workload {
  uint64_t users = 0;
  uint64_t channels = 1;
  int min_channels = 1;
  int max_channels = 1;
  uint32_t timeout = 300;
  uint64_t grid = 0;
  std::string user_prefix, channel_prefix;
  uint64_t big_members = 0;
  std::string big_channel;
  uint32_t page_size = 1000;
  uint32_t here_now_limit = 0;
  uint64_t churn_users = 0;
  int churn_channels = 10;
  uint64_t expiring_users = 0;
  uint64_t expiring_channels = 1;
  int expiring_channels_per_user = 1;
  uint32_t expiring_timeout = 60;

  // User i's channels: a count from a hash of i, spread `stride` apart so
  // they are distinct and every channel gets about as many users.
  void ChannelsOf(uint64_t user,
                  google::protobuf::RepeatedPtrField<std::string>* out) const {
    const int count =
        min_channels +
        static_cast<int>(Mix64(user) % (max_channels - min_channels + 1));
    const uint64_t stride = std::max<uint64_t>(1, channels / max_channels);
    for (int j = 0; j < count; ++j)
      *out->Add() = Name(channel_prefix, (user + j * stride) % channels);
  }

  void ChurnChannels(
      uint64_t user,
      google::protobuf::RepeatedPtrField<std::string>* out) const {
    const uint64_t stride = std::max<uint64_t>(1, channels / churn_channels);
    for (int j = 0; j < churn_channels; ++j)
      *out->Add() = Name(channel_prefix, (user * 7 + j * stride) % channels);
  }

  uint64_t RandomUser(std::mt19937_64& rng) const {
    return rng() % (grid > 0 ? grid : std::max<uint64_t>(1, users));
  }
  std::string RandomChannel(std::mt19937_64& rng) const {
    if (grid > 0) return Name(channel_prefix, rng() % grid);
    // The first channel of a random user: channels weighted by occupancy.
    const uint64_t user = RandomUser(rng);
    return Name(channel_prefix, user % channels);
  }
};

// ---------------------------------------------------------------------------
// Lanes: a mix of calls with a concurrency, its statistics per thread.

struct ThreadStats {
  std::array<std::unique_ptr<LatencyHistogram>, kKinds> latency;
  std::array<uint64_t, kKinds> errors{};
  std::vector<uint64_t> timeline;  // main lane calls completed per bucket
};

class Lane {
 public:
  Lane(std::string name, const std::string& mix, int concurrency, double rate,
       int threads)
      : name_(std::move(name)), concurrency_(concurrency), rate_(rate) {
    for (absl::string_view item : absl::StrSplit(mix, ',', absl::SkipEmpty())) {
      std::pair<absl::string_view, absl::string_view> kv =
          absl::StrSplit(item, absl::MaxSplits(':', 1));
      Kind kind;
      int weight = 1;
      if (!ParseKind(kv.first, &kind) ||
          (!kv.second.empty() && !absl::SimpleAtoi(kv.second, &weight))) {
        std::fprintf(stderr, "bad mix item '%s'\n", std::string(item).c_str());
        std::exit(2);
      }
      if (weight <= 0) continue;
      mix_.emplace_back(kind, weight);
      total_weight_ += weight;
    }
    stats_.resize(threads);
    for (ThreadStats& stats : stats_) {
      for (const auto& [kind, weight] : mix_)
        stats.latency[kind] = std::make_unique<LatencyHistogram>();
    }
  }

  const std::string& name() const { return name_; }
  int concurrency() const { return concurrency_; }
  double rate() const { return rate_; }
  bool empty() const { return mix_.empty() || concurrency_ <= 0; }
  bool has(Kind kind) const {
    for (const auto& [k, w] : mix_)
      if (k == kind) return true;
    return false;
  }

  Kind Pick(std::mt19937_64& rng) const {
    int r = static_cast<int>(rng() % total_weight_);
    for (const auto& [kind, weight] : mix_) {
      if (r < weight) return kind;
      r -= weight;
    }
    return mix_.back().first;
  }

  // Prefill lanes: calls numbered 0..limit-1, then the lane is done.
  void set_limit(uint64_t limit) { limit_ = limit; }
  uint64_t limit() const { return limit_; }
  // The next call's number, or false when the lane's limit is reached.
  bool NextIndex(uint64_t* index) {
    *index = issued_.fetch_add(1, std::memory_order_relaxed);
    return limit_ == 0 || *index < limit_;
  }

  // Pacing: the time (ns) at which the next call may start.
  int64_t NextStartNs() {
    const int64_t interval = static_cast<int64_t>(1e9 / rate_);
    int64_t start = next_ns_.load(std::memory_order_relaxed);
    const int64_t now = NowNs();
    // A lane that fell behind does not burst to catch up.
    while (true) {
      const int64_t at = std::max(start, now - 2 * interval);
      if (next_ns_.compare_exchange_weak(start, at + interval)) return at;
    }
  }

  ThreadStats& stats(int thread) { return stats_[thread]; }
  std::vector<ThreadStats>& all_stats() { return stats_; }
  const std::vector<std::pair<Kind, int>>& mix() const { return mix_; }

  void NoteError(const grpc::Status& status) {
    std::lock_guard<std::mutex> lock(mu_);
    if (first_error_.empty())
      first_error_ =
          absl::StrCat(status.error_code(), ": ", status.error_message());
  }
  std::string first_error() {
    std::lock_guard<std::mutex> lock(mu_);
    return first_error_;
  }

 private:
  const std::string name_;
  const int concurrency_;
  const double rate_;
  std::vector<std::pair<Kind, int>> mix_;
  int total_weight_ = 0;
  uint64_t limit_ = 0;
  std::atomic<uint64_t> issued_{0};
  std::atomic<int64_t> next_ns_{0};
  std::vector<ThreadStats> stats_;
  std::mutex mu_;
  std::string first_error_;
};

// ---------------------------------------------------------------------------
// The client engine: threads, queues, connections, the measurement window.

class Tag {
 public:
  virtual void Proceed(bool ok) = 0;

 protected:
  ~Tag() = default;
};

thread_local int tls_thread = 0;

class Engine {
 public:
  Engine(const std::string& target, int threads, int connections) {
    for (int i = 0; i < connections; ++i) {
      grpc::ChannelArguments args;
      // Distinct arguments: a connection per channel, not one shared.
      args.SetInt("presence.bench.connection", i);
      args.SetMaxReceiveMessageSize(64 << 20);
      channels_.push_back(grpc::CreateCustomChannel(
          target, grpc::InsecureChannelCredentials(), args));
      stubs_.push_back(v1::PresenceService::NewStub(channels_.back()));
      generic_.push_back(std::make_unique<grpc::GenericStub>(channels_.back()));
    }
    for (int t = 0; t < threads; ++t) {
      cqs_.push_back(std::make_unique<grpc::CompletionQueue>());
      threads_.emplace_back([this, t] {
        tls_thread = t;
        void* tag = nullptr;
        bool ok = false;
        while (cqs_[t]->Next(&tag, &ok)) static_cast<Tag*>(tag)->Proceed(ok);
      });
    }
  }

  ~Engine() {
    for (auto& cq : cqs_) cq->Shutdown();
    for (auto& thread : threads_) thread.join();
  }

  bool WaitConnected(absl::Duration timeout) {
    const auto deadline =
        std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout);
    for (auto& channel : channels_) {
      if (!channel->WaitForConnected(deadline)) return false;
    }
    return true;
  }

  int threads() const { return static_cast<int>(cqs_.size()); }
  int connections() const { return static_cast<int>(channels_.size()); }
  grpc::CompletionQueue* cq(int i) { return cqs_[i % cqs_.size()].get(); }
  v1::PresenceService::Stub* stub(int i) {
    return stubs_[i % stubs_.size()].get();
  }
  grpc::GenericStub* generic(int i) {
    return generic_[i % generic_.size()].get();
  }

  // The measurement window [start, end): calls completing in it count.
  void OpenWindow(int64_t start) { window_start_.store(start); }
  void CloseWindow(int64_t end) { window_end_.store(end); }
  bool InWindow(int64_t t) const {
    return t >= window_start_.load(std::memory_order_relaxed) &&
           t < window_end_.load(std::memory_order_relaxed);
  }
  void ResetWindow() {
    window_start_ = INT64_MAX;
    window_end_ = INT64_MAX;
  }

  void set_timeline(int64_t origin, int64_t bucket_ns) {
    timeline_origin_ = origin;
    timeline_bucket_ns_ = bucket_ns;
  }
  int64_t timeline_origin() const { return timeline_origin_; }
  int64_t timeline_bucket_ns() const { return timeline_bucket_ns_; }

  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }
  void set_stopping(bool stopping) { stopping_ = stopping; }

  // Slots in flight.
  void SlotStarted() { active_.fetch_add(1); }
  void SlotRetired() {
    if (active_.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> lock(mu_);
      idle_.notify_all();
    }
  }
  // Waits until every slot retired, or `timeout` passed; true if idle.
  bool WaitIdle(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return idle_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                          [this] { return active_.load() == 0; });
  }

 private:
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<v1::PresenceService::Stub>> stubs_;
  std::vector<std::unique_ptr<grpc::GenericStub>> generic_;
  std::vector<std::unique_ptr<grpc::CompletionQueue>> cqs_;
  std::vector<std::thread> threads_;
  std::atomic<int64_t> window_start_{INT64_MAX};
  std::atomic<int64_t> window_end_{INT64_MAX};
  int64_t timeline_origin_ = 0;
  int64_t timeline_bucket_ns_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> active_{0};
  std::mutex mu_;
  std::condition_variable idle_;
};

// BatchHeartbeat requests, serialized once up front from the generated
// types and sent through gRPC's generic API: the client spends nothing per
// entry while sending.
std::vector<grpc::ByteBuffer> BatchPayloads(const Workload& workload) {
  std::vector<grpc::ByteBuffer> payloads;
  std::mt19937_64 rng(absl::GetFlag(FLAGS_seed) * 7919);
  for (int p = 0; p < absl::GetFlag(FLAGS_batch_payloads); ++p) {
    v1::BatchHeartbeatRequest request;
    for (int e = 0; e < absl::GetFlag(FLAGS_batch_size); ++e) {
      v1::HeartbeatRequest* heartbeat =
          request.add_entries()->mutable_heartbeat();
      const uint64_t user = workload.RandomUser(rng);
      heartbeat->set_user_id(Name(workload.user_prefix, user));
      workload.ChannelsOf(user, heartbeat->mutable_channels());
      heartbeat->set_timeout_seconds(workload.timeout);
    }
    grpc::Slice slice(request.SerializeAsString());
    payloads.emplace_back(&slice, 1);
  }
  return payloads;
}

struct BatchState {
  std::vector<grpc::ByteBuffer> payloads;
  std::atomic<uint64_t> entries_ok{0};
  std::atomic<uint64_t> entries_failed{0};
  std::atomic<bool> unimplemented{false};
};

// Per-entry results of a serialized BatchHeartbeatResponse: (ok, failed).
// Only each result's code is read (field numbers from the generated types),
// so counting allocates nothing per entry.
std::pair<uint64_t, uint64_t> CountBatchResults(const grpc::ByteBuffer& bytes) {
  std::vector<grpc::Slice> slices;
  std::string flat;
  if (bytes.Dump(&slices).ok()) {
    for (const grpc::Slice& slice : slices)
      flat.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  uint64_t ok = 0, failed = 0;
  ForEachField(flat, [&](int field, int, uint64_t, absl::string_view result) {
    if (field != v1::BatchHeartbeatResponse::kResultsFieldNumber) return;
    uint64_t code = 0;
    ForEachField(result, [&](int f, int type, uint64_t v, absl::string_view) {
      if (f == v1::BatchEntryResult::kCodeFieldNumber && type == 0) code = v;
    });
    ++(code == 0 ? ok : failed);
  });
  return {ok, failed};
}

// One call in flight, forever re-issued from its own completion until the
// engine stops (or its lane's limit is reached).
class Slot final : public Tag {
 public:
  Slot(Engine* engine, Lane* lane, const Workload* workload, BatchState* batch,
       int index, uint64_t seed)
      : engine_(engine),
        lane_(lane),
        workload_(workload),
        batch_(batch),
        index_(index),
        thread_(index % engine->threads()),
        cq_(engine->cq(index)),
        stub_(engine->stub(index)),
        generic_(engine->generic(index)),
        rng_(seed) {}

  void Start() {
    engine_->SlotStarted();
    Next();
  }

  void Proceed(bool ok) override {
    if (waiting_) {  // The pacing alarm fired.
      waiting_ = false;
      Issue();
      return;
    }
    const int64_t now = NowNs();
    Finished(now);
    Next();
  }

 private:
  void Next() {
    if (engine_->stopping()) return Retire();
    if (lane_->limit() > 0 && !lane_->NextIndex(&index_in_lane_))
      return Retire();
    if (lane_->rate() > 0) {
      const int64_t at = lane_->NextStartNs();
      const int64_t wait = at - NowNs();
      if (wait > 20000) {
        waiting_ = true;
        alarm_.Set(
            cq_,
            std::chrono::system_clock::now() + std::chrono::nanoseconds(wait),
            this);
        return;
      }
    }
    Issue();
  }

  void Retire() { engine_->SlotRetired(); }

  void Issue() {
    if (engine_->stopping()) return Retire();
    kind_ = lane_->limit() > 0 ? lane_->mix().front().first : lane_->Pick(rng_);
    context_ = std::make_unique<grpc::ClientContext>();
    context_->set_deadline(
        std::chrono::system_clock::now() +
        absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_rpc_timeout)));
    start_ns_ = NowNs();
    const Workload& w = *workload_;
    switch (kind_) {
      case kHeartbeat: {
        heartbeat_.Clear();
        const uint64_t user = w.RandomUser(rng_);
        heartbeat_.set_user_id(Name(w.user_prefix, user));
        if (w.grid > 0) {
          *heartbeat_.add_channels() = Name(w.channel_prefix, rng_() % w.grid);
        } else {
          w.ChannelsOf(user, heartbeat_.mutable_channels());
        }
        heartbeat_.set_timeout_seconds(w.timeout);
        return SendHeartbeat();
      }
      case kPrefillMain: {
        heartbeat_.Clear();
        heartbeat_.set_user_id(Name(w.user_prefix, index_in_lane_));
        w.ChannelsOf(index_in_lane_, heartbeat_.mutable_channels());
        heartbeat_.set_timeout_seconds(w.timeout);
        return SendHeartbeat();
      }
      case kPrefillGrid: {
        // Call i: user i / chunks, channels of chunk i % chunks.
        const uint64_t chunks = (w.grid + 999) / 1000;
        const uint64_t user = index_in_lane_ / chunks;
        const uint64_t first = (index_in_lane_ % chunks) * 1000;
        heartbeat_.Clear();
        heartbeat_.set_user_id(Name(w.user_prefix, user));
        for (uint64_t c = first; c < std::min(w.grid, first + 1000); ++c)
          *heartbeat_.add_channels() = Name(w.channel_prefix, c);
        heartbeat_.set_timeout_seconds(w.timeout);
        return SendHeartbeat();
      }
      case kPrefillBig: {
        heartbeat_.Clear();
        heartbeat_.set_user_id(Name("b-", index_in_lane_));
        *heartbeat_.add_channels() = w.big_channel;
        heartbeat_.set_timeout_seconds(w.timeout);
        return SendHeartbeat();
      }
      case kPrefillExpiring: {
        heartbeat_.Clear();
        heartbeat_.set_user_id(Name("x-", index_in_lane_));
        for (int j = 0; j < w.expiring_channels_per_user; ++j) {
          *heartbeat_.add_channels() =
              Name("xch-", (index_in_lane_ * w.expiring_channels_per_user + j) %
                               w.expiring_channels);
        }
        // Deadline = now + timeout, within a second after the common one.
        const int64_t elapsed_s =
            (NowNs() - g_expiry_origin_ns.load(std::memory_order_relaxed)) /
            1000000000;
        heartbeat_.set_timeout_seconds(static_cast<uint32_t>(
            std::max<int64_t>(1, w.expiring_timeout - elapsed_s)));
        return SendHeartbeat();
      }
      case kChurn: {
        // This slot owns users index_, index_ + concurrency, ...; even calls
        // join one, odd calls leave what it joined.
        const uint64_t per_slot =
            std::max<uint64_t>(1, w.churn_users / lane_->concurrency());
        const uint64_t user =
            index_ + lane_->concurrency() * ((churn_seq_ / 2) % per_slot);
        const bool join = churn_seq_ % 2 == 0;
        ++churn_seq_;
        if (join) {
          heartbeat_.Clear();
          heartbeat_.set_user_id(Name("c-", user));
          w.ChurnChannels(user, heartbeat_.mutable_channels());
          heartbeat_.set_timeout_seconds(w.timeout);
          return SendHeartbeat();
        }
        leave_.Clear();
        leave_.set_user_id(Name("c-", user));
        w.ChurnChannels(user, leave_.mutable_channels());
        leave_reader_ = stub_->PrepareAsyncLeave(context_.get(), leave_, cq_);
        leave_reader_->StartCall();
        leave_reader_->Finish(&leave_response_, &status_, this);
        return;
      }
      case kHereNow:
      case kHereNowCount:
      case kHereNowPage: {
        here_now_.Clear();
        here_now_response_.Clear();
        if (kind_ == kHereNow) {
          *here_now_.add_channels() = w.RandomChannel(rng_);
          here_now_.set_limit(w.here_now_limit);
        } else if (kind_ == kHereNowCount) {
          *here_now_.add_channels() =
              w.big_members > 0 ? w.big_channel : w.RandomChannel(rng_);
          here_now_.set_include_user_ids(false);
        } else {
          *here_now_.add_channels() = w.big_channel;
          here_now_.set_limit(w.page_size);
          const uint64_t pages =
              w.big_members > w.page_size ? w.big_members - w.page_size : 0;
          here_now_.set_offset(
              static_cast<uint32_t>(pages > 0 ? rng_() % pages : 0));
        }
        here_now_reader_ =
            stub_->PrepareAsyncHereNow(context_.get(), here_now_, cq_);
        here_now_reader_->StartCall();
        here_now_reader_->Finish(&here_now_response_, &status_, this);
        return;
      }
      case kWhereNow: {
        where_now_.set_user_id(Name(w.user_prefix, w.RandomUser(rng_)));
        where_now_response_.Clear();
        where_now_reader_ =
            stub_->PrepareAsyncWhereNow(context_.get(), where_now_, cq_);
        where_now_reader_->StartCall();
        where_now_reader_->Finish(&where_now_response_, &status_, this);
        return;
      }
      case kBatch: {
        const grpc::ByteBuffer& payload =
            batch_->payloads[rng_() % batch_->payloads.size()];
        batch_reader_ = generic_->PrepareUnaryCall(
            context_.get(), kBatchHeartbeatMethod, payload, cq_);
        batch_reader_->StartCall();
        batch_reader_->Finish(&batch_response_, &status_, this);
        return;
      }
      case kKinds:
        break;
    }
    std::abort();
  }

  void SendHeartbeat() {
    heartbeat_reader_ =
        stub_->PrepareAsyncHeartbeat(context_.get(), heartbeat_, cq_);
    heartbeat_reader_->StartCall();
    heartbeat_reader_->Finish(&heartbeat_response_, &status_, this);
  }

  void Finished(int64_t now) {
    ThreadStats& stats = lane_->stats(thread_);
    bool failed = !status_.ok();
    if (kind_ == kBatch) {
      if (status_.error_code() == grpc::StatusCode::UNIMPLEMENTED)
        batch_->unimplemented = true;
      if (status_.ok()) {
        auto [ok, bad] = CountBatchResults(batch_response_);
        if (engine_->InWindow(now)) {
          batch_->entries_ok += ok;
          batch_->entries_failed += bad;
        }
      }
    }
    if (failed) {
      lane_->NoteError(status_);
      if (engine_->InWindow(now)) ++stats.errors[kind_];
      return;
    }
    if (engine_->InWindow(now)) {
      stats.latency[kind_]->Record(now - start_ns_);
      const int64_t bucket_ns = engine_->timeline_bucket_ns();
      if (bucket_ns > 0 && !stats.timeline.empty()) {
        const int64_t bucket = (now - engine_->timeline_origin()) / bucket_ns;
        if (bucket >= 0 && bucket < static_cast<int64_t>(stats.timeline.size()))
          ++stats.timeline[bucket];
      }
    }
  }

  Engine* const engine_;
  Lane* const lane_;
  const Workload* const workload_;
  BatchState* const batch_;
  const int index_;
  const int thread_;
  grpc::CompletionQueue* const cq_;
  v1::PresenceService::Stub* const stub_;
  grpc::GenericStub* const generic_;
  std::mt19937_64 rng_;

  Kind kind_ = kHeartbeat;
  uint64_t index_in_lane_ = 0;
  uint64_t churn_seq_ = 0;
  int64_t start_ns_ = 0;
  bool waiting_ = false;
  grpc::Alarm alarm_;
  std::unique_ptr<grpc::ClientContext> context_;
  grpc::Status status_;

  v1::HeartbeatRequest heartbeat_;
  v1::HeartbeatResponse heartbeat_response_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::HeartbeatResponse>>
      heartbeat_reader_;
  v1::LeaveRequest leave_;
  v1::LeaveResponse leave_response_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::LeaveResponse>>
      leave_reader_;
  v1::HereNowRequest here_now_;
  v1::HereNowResponse here_now_response_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::HereNowResponse>>
      here_now_reader_;
  v1::WhereNowRequest where_now_;
  v1::WhereNowResponse where_now_response_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::WhereNowResponse>>
      where_now_reader_;
  grpc::ByteBuffer batch_response_;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> batch_reader_;
};

// Runs `lanes` until stop() or until each lane's limit is done.
class Run {
 public:
  Run(Engine* engine, const Workload* workload, BatchState* batch,
      std::vector<Lane*> lanes)
      : engine_(engine) {
    engine_->set_stopping(false);
    int index = 0;
    uint64_t seed = absl::GetFlag(FLAGS_seed) * 1000003;
    for (Lane* lane : lanes) {
      for (int i = 0; i < lane->concurrency(); ++i) {
        slots_.push_back(std::make_unique<Slot>(engine, lane, workload, batch,
                                                index, seed + index));
        ++index;
      }
    }
    for (auto& slot : slots_) slot->Start();
  }

  // Waits for lanes with limits to finish.
  bool WaitDone(absl::Duration timeout) { return engine_->WaitIdle(timeout); }

  ~Run() {
    engine_->set_stopping(true);
    if (!engine_->WaitIdle(absl::Seconds(120))) {
      std::fprintf(stderr, "load_generator: calls still in flight at exit\n");
      std::_Exit(3);
    }
  }

 private:
  Engine* const engine_;
  std::vector<std::unique_ptr<Slot>> slots_;
};

// ---------------------------------------------------------------------------
// Fan-out (S5): watchers and the users whose changes they watch.

class FanSlot;

struct FanState {
  std::vector<FanSlot*> slots;
  std::vector<std::unique_ptr<LatencyHistogram>> latency;  // per thread
  std::atomic<uint64_t> deliveries{0};                     // in the window
  std::atomic<uint64_t> all_deliveries{0};                 // ever
  std::atomic<uint64_t> changes{0};  // completed, in the window
  std::atomic<uint64_t> rpc_errors{0};
  std::atomic<int> registered{0};
  std::atomic<int> ended{0};
  std::atomic<int> ended_early{0};
  std::mutex mu;
  std::string first_error;
  int watchers = 0;

  void NoteError(const std::string& error) {
    std::lock_guard<std::mutex> lock(mu);
    if (first_error.empty()) first_error = error;
  }
};

// A user that joins, then leaves, the channel; each change completes when
// its call returned and every watcher received its event.
class FanSlot final : public Tag {
 public:
  FanSlot(Engine* engine, FanState* state, int k)
      : engine_(engine),
        state_(state),
        cq_(engine->cq(k)),
        stub_(engine->stub(k)),
        user_(Name("f-", k)) {}

  void Start() {
    engine_->SlotStarted();
    Issue();
  }

  const std::string& user() const { return user_; }

  // A watcher received an event of this user.
  void Delivered(v1::WatchEventsResponse::Action action, int64_t now) {
    if (action != expected_.load(std::memory_order_acquire)) return;
    const int64_t latency = now - sent_ns_.load(std::memory_order_relaxed);
    if (engine_->InWindow(now)) {
      state_->latency[tls_thread]->Record(latency);
      state_->deliveries.fetch_add(1, std::memory_order_relaxed);
    }
    Arrive(now);
  }

  // Leaves the channel (synchronously, events ignored), so the first change
  // is a join whatever an earlier run on the same server left behind.
  grpc::Status Reset() {
    grpc::ClientContext context;
    v1::LeaveRequest leave;
    leave.set_user_id(user_);
    leave.add_channels(absl::GetFlag(FLAGS_fanout_channel));
    v1::LeaveResponse response;
    return stub_->Leave(&context, leave, &response);
  }

  void Proceed(bool) override {
    if (!status_.ok()) {
      ++state_->rpc_errors;
      state_->NoteError(absl::StrCat("change: ", status_.error_code(), ": ",
                                     status_.error_message()));
    }
    // Once stopping, the slot retires when its call is back, without
    // waiting for deliveries that may never come (watchers are cancelled).
    if (engine_->stopping()) return Retire();
    Arrive(NowNs());
  }

 private:
  void Arrive(int64_t now) {
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (engine_->InWindow(now)) ++state_->changes;
    join_next_ = !join_next_;
    Issue();
  }

  void Retire() {
    if (!retired_.exchange(true)) engine_->SlotRetired();
  }

  void Issue() {
    if (engine_->stopping()) return Retire();
    const bool join = join_next_;
    expected_.store(join ? v1::WatchEventsResponse::ACTION_JOIN
                         : v1::WatchEventsResponse::ACTION_LEAVE,
                    std::memory_order_release);
    remaining_.store(state_->watchers + 1, std::memory_order_release);
    context_ = std::make_unique<grpc::ClientContext>();
    sent_ns_.store(NowNs(), std::memory_order_relaxed);
    const std::string& channel = absl::GetFlag(FLAGS_fanout_channel);
    if (join) {
      heartbeat_.Clear();
      heartbeat_.set_user_id(user_);
      heartbeat_.add_channels(channel);
      heartbeat_.set_timeout_seconds(300);
      heartbeat_reader_ =
          stub_->PrepareAsyncHeartbeat(context_.get(), heartbeat_, cq_);
      heartbeat_reader_->StartCall();
      heartbeat_reader_->Finish(&heartbeat_response_, &status_, this);
    } else {
      leave_.Clear();
      leave_.set_user_id(user_);
      leave_.add_channels(channel);
      leave_reader_ = stub_->PrepareAsyncLeave(context_.get(), leave_, cq_);
      leave_reader_->StartCall();
      leave_reader_->Finish(&leave_response_, &status_, this);
    }
  }

  Engine* const engine_;
  FanState* const state_;
  grpc::CompletionQueue* const cq_;
  v1::PresenceService::Stub* const stub_;
  const std::string user_;
  bool join_next_ = true;
  std::atomic<bool> retired_{false};
  std::atomic<int> remaining_{0};
  std::atomic<int> expected_{0};
  std::atomic<int64_t> sent_ns_{0};
  std::unique_ptr<grpc::ClientContext> context_;
  grpc::Status status_;
  v1::HeartbeatRequest heartbeat_;
  v1::HeartbeatResponse heartbeat_response_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::HeartbeatResponse>>
      heartbeat_reader_;
  v1::LeaveRequest leave_;
  v1::LeaveResponse leave_response_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::LeaveResponse>>
      leave_reader_;
};

class WatchStream final : public Tag {
 public:
  WatchStream(Engine* engine, FanState* state, int index)
      : state_(state), cq_(engine->cq(index)), stub_(engine->stub(index)) {}

  void Start() {
    v1::WatchEventsRequest request;
    request.add_channels(absl::GetFlag(FLAGS_fanout_channel));
    reader_ = stub_->PrepareAsyncWatchEvents(&context_, request, cq_);
    step_ = Step::kStarted;
    reader_->StartCall(this);
  }

  void Cancel() { context_.TryCancel(); }

  void Proceed(bool ok) override {
    switch (step_) {
      case Step::kStarted:
        if (!ok) return End();
        step_ = Step::kMetadata;
        reader_->ReadInitialMetadata(this);
        return;
      case Step::kMetadata: {
        if (!ok) return End();
        const auto& metadata = context_.GetServerInitialMetadata();
        if (metadata.find(v1::kWatchRegisteredMetadataKey) != metadata.end())
          ++state_->registered;
        step_ = Step::kReading;
        reader_->Read(&event_, this);
        return;
      }
      case Step::kReading: {
        if (!ok) return End();
        const int64_t now = NowNs();
        ++state_->all_deliveries;
        const std::string& user = event_.user_id();
        uint64_t k = 0;
        if (absl::StartsWith(user, "f-") &&
            absl::SimpleAtoi(absl::string_view(user).substr(2), &k) &&
            k < state_->slots.size()) {
          state_->slots[k]->Delivered(event_.action(), now);
        }
        reader_->Read(&event_, this);
        return;
      }
      case Step::kFinishing:
        if (!status_.ok() &&
            status_.error_code() != grpc::StatusCode::CANCELLED) {
          ++state_->ended_early;
          state_->NoteError(absl::StrCat("watch: ", status_.error_code(), ": ",
                                         status_.error_message()));
        }
        ++state_->ended;
        return;
    }
  }

 private:
  enum class Step { kStarted, kMetadata, kReading, kFinishing };

  void End() {
    step_ = Step::kFinishing;
    reader_->Finish(&status_, this);
  }

  FanState* const state_;
  grpc::CompletionQueue* const cq_;
  v1::PresenceService::Stub* const stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientAsyncReader<v1::WatchEventsResponse>> reader_;
  v1::WatchEventsResponse event_;
  grpc::Status status_;
  Step step_ = Step::kStarted;
};

// ---------------------------------------------------------------------------
// The server process (--server_cmd) and resource readings.

struct ServerProcess {
  pid_t pid = -1;
  std::string address;
  std::thread drain;  // keeps reading its stderr so it never blocks

  ~ServerProcess() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      int status = 0;
      for (int i = 0; i < 200 && waitpid(pid, &status, WNOHANG) == 0; ++i)
        absl::SleepFor(absl::Milliseconds(50));
      if (waitpid(pid, &status, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
      }
    }
    if (drain.joinable()) drain.join();
  }
};

std::unique_ptr<ServerProcess> StartServer(const std::string& command) {
  std::vector<std::string> args =
      absl::StrSplit(command, ' ', absl::SkipEmpty());
  int pipe_fds[2];
  if (args.empty() || pipe(pipe_fds) != 0) return nullptr;
  auto server = std::make_unique<ServerProcess>();
  server->pid = fork();
  if (server->pid == 0) {
    dup2(pipe_fds[1], STDERR_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  FILE* err = fdopen(pipe_fds[0], "r");
  char line[4096];
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline && std::fgets(line, sizeof(line), err)) {
    absl::string_view text(line);
    const size_t at = text.find("listening on ");
    if (at == absl::string_view::npos) continue;
    text.remove_prefix(at + 13);
    server->address = std::string(text.substr(0, text.find_first_of(" \n")));
    break;
  }
  server->drain = std::thread([err] {
    char rest[4096];
    while (std::fgets(rest, sizeof(rest), err)) {
    }
    std::fclose(err);
  });
  if (server->address.empty()) {
    std::fprintf(stderr,
                 "load_generator: the server never said where it "
                 "listens: %s\n",
                 command.c_str());
    return nullptr;
  }
  return server;
}

std::vector<int> AuxPids() {
  std::vector<int> pids;
  for (absl::string_view item :
       absl::StrSplit(absl::GetFlag(FLAGS_aux_pids), ',', absl::SkipEmpty())) {
    int pid = 0;
    if (absl::SimpleAtoi(item, &pid)) pids.push_back(pid);
  }
  return pids;
}

double ClientCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 +
         usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

// CPU used by the server, the auxiliary pids and this process over a
// window.
class ResourceMeter {
 public:
  explicit ResourceMeter(int server_pid) : server_pid_(server_pid) {
    pids_ = AuxPids();
  }

  void Start() {
    start_ns_ = NowNs();
    machine_ = MachineBusySeconds();
    client_ = ClientCpuSeconds();
    server_ = server_pid_ > 0 ? ReadProcStats(server_pid_) : ProcStats();
    aux_.clear();
    for (int pid : pids_) aux_.push_back(ReadProcStats(pid));
  }

  // JSON members describing the window since Start(); `ops` are the calls
  // completed in it.
  std::string Stop(uint64_t ops) {
    const double seconds = (NowNs() - start_ns_) / 1e9;
    const double client = ClientCpuSeconds() - client_;
    std::string out;
    absl::StrAppendFormat(&out,
                          "\"machine_busy_cores\":%.3f,"
                          "\"client\":{\"cpu_s\":%.3f,\"cores\":%.3f}",
                          (MachineBusySeconds() - machine_) / seconds, client,
                          client / seconds);
    auto describe = [&](int pid, const ProcStats& before) {
      const ProcStats after = ReadProcStats(pid);
      if (!before.ok || !after.ok) return absl::StrFormat("{\"pid\":%d}", pid);
      const double cpu = after.cpu_seconds - before.cpu_seconds;
      return absl::StrFormat(
          "{\"pid\":%d,\"cpu_s\":%.3f,\"cores\":%.3f,\"cpu_us_per_op\":%.2f,"
          "\"vmrss_kb\":%d,\"vmhwm_kb\":%d}",
          pid, cpu, cpu / seconds, ops > 0 ? cpu * 1e6 / ops : 0.0,
          after.rss_kb, after.hwm_kb);
    };
    if (server_pid_ > 0)
      absl::StrAppend(&out, ",\"server\":", describe(server_pid_, server_));
    if (!pids_.empty()) {
      absl::StrAppend(&out, ",\"aux\":[");
      for (size_t i = 0; i < pids_.size(); ++i) {
        absl::StrAppend(&out, i ? "," : "", describe(pids_[i], aux_[i]));
      }
      absl::StrAppend(&out, "]");
    }
    return out;
  }

  // Server CPU (cores) and peak RSS, for the summary line.
  std::string Summary(double seconds) const {
    if (server_pid_ <= 0) return "";
    const ProcStats now = ReadProcStats(server_pid_);
    return absl::StrFormat(", server %.2f cores, peak RSS %.0f MB",
                           (now.cpu_seconds - server_.cpu_seconds) / seconds,
                           now.hwm_kb / 1024.0);
  }

 private:
  const int server_pid_;
  std::vector<int> pids_;
  int64_t start_ns_ = 0;
  double machine_ = 0;
  double client_ = 0;
  ProcStats server_;
  std::vector<ProcStats> aux_;
};

// ---------------------------------------------------------------------------
// Reporting.

std::string LatencyJson(const LatencyHistogram& h) {
  return absl::StrFormat(
      "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
      "\"max_us\":%.1f",
      h.Quantile(0.5) / 1e3, h.Quantile(0.9) / 1e3, h.Quantile(0.99) / 1e3,
      h.Quantile(0.999) / 1e3, h.max_nanos() / 1e3);
}

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", c);
      continue;
    }
    out.push_back(c);
  }
  return out + "\"";
}

// A lane's JSON object; adds its calls to *ops and a summary to *human.
std::string LaneJson(Lane& lane, const Workload& workload, double seconds,
                     uint64_t* ops, std::string* human) {
  LatencyHistogram all;
  std::string kinds;
  uint64_t errors = 0;
  for (const auto& [kind, weight] : lane.mix()) {
    LatencyHistogram h;
    uint64_t kind_errors = 0;
    for (ThreadStats& stats : lane.all_stats()) {
      h.Merge(*stats.latency[kind]);
      kind_errors += stats.errors[kind];
    }
    all.Merge(h);
    errors += kind_errors;
    absl::StrAppendFormat(&kinds,
                          "%s\"%s\":{\"ops\":%d,\"qps\":%.1f,%s,"
                          "\"errors\":%d",
                          kinds.empty() ? "" : ",", kKindNames[kind], h.count(),
                          h.count() / seconds, LatencyJson(h), kind_errors);
    if (kind == kChurn) {
      absl::StrAppendFormat(&kinds, ",\"changes_per_s\":%.1f",
                            h.count() * workload.churn_channels / seconds);
    }
    kinds += "}";
    absl::StrAppendFormat(human, " %s %.0f/s p50 %.0f p99 %.0f us;",
                          kKindNames[kind], h.count() / seconds,
                          h.Quantile(0.5) / 1e3, h.Quantile(0.99) / 1e3);
  }
  *ops += all.count();
  return absl::StrFormat(
      "{\"ops\":%d,\"qps\":%.1f,%s,\"errors\":%d,\"first_error\":%s,"
      "\"by_kind\":{%s}}",
      all.count(), all.count() / seconds, LatencyJson(all), errors,
      JsonString(lane.first_error()), kinds);
}

// Measures the mean rate over [from, to) (ns since the timeline origin)
// from whole buckets.
double TimelineRate(const std::vector<uint64_t>& timeline, int64_t bucket_ns,
                    int64_t from, int64_t to) {
  const int64_t first = (from + bucket_ns - 1) / bucket_ns;
  const int64_t last = std::min<int64_t>(to / bucket_ns, timeline.size());
  if (first < 0 || last <= first) return -1;
  uint64_t sum = 0;
  for (int64_t b = first; b < last; ++b) sum += timeline[b];
  return sum / ((last - first) * bucket_ns / 1e9);
}

// ---------------------------------------------------------------------------

Workload WorkloadFromFlags() {
  Workload w;
  w.users = absl::GetFlag(FLAGS_users);
  w.channels = std::max<uint64_t>(1, absl::GetFlag(FLAGS_channels));
  std::pair<std::string, std::string> range = absl::StrSplit(
      absl::GetFlag(FLAGS_channels_per_user), absl::MaxSplits('-', 1));
  if (!absl::SimpleAtoi(range.first, &w.min_channels)) w.min_channels = 1;
  if (range.second.empty() || !absl::SimpleAtoi(range.second, &w.max_channels))
    w.max_channels = w.min_channels;
  w.max_channels = std::max(w.max_channels, w.min_channels);
  w.timeout = absl::GetFlag(FLAGS_timeout_seconds);
  w.grid = absl::GetFlag(FLAGS_grid) > 0 ? absl::GetFlag(FLAGS_grid) : 0;
  w.user_prefix = absl::GetFlag(FLAGS_user_prefix);
  w.channel_prefix = absl::GetFlag(FLAGS_channel_prefix);
  w.big_members = absl::GetFlag(FLAGS_big_channel_members);
  w.big_channel = absl::GetFlag(FLAGS_big_channel);
  w.page_size = absl::GetFlag(FLAGS_page_size);
  w.here_now_limit = absl::GetFlag(FLAGS_here_now_limit);
  w.churn_users = absl::GetFlag(FLAGS_churn_users);
  w.churn_channels = std::max(1, absl::GetFlag(FLAGS_churn_channels));
  w.expiring_users = absl::GetFlag(FLAGS_expiring_users);
  w.expiring_channels =
      std::max<uint64_t>(1, absl::GetFlag(FLAGS_expiring_channels));
  w.expiring_channels_per_user =
      std::max(1, absl::GetFlag(FLAGS_expiring_channels_per_user));
  w.expiring_timeout = absl::GetFlag(FLAGS_expiring_timeout);
  return w;
}

// The expiring users' memberships still present (occupancy of the xch-
// channels), or UINT64_MAX if it cannot be read.
uint64_t ExpiringRemaining(Engine& engine, const Workload& workload) {
  uint64_t remaining = 0;
  for (uint64_t first = 0; first < workload.expiring_channels; first += 1000) {
    grpc::ClientContext context;
    v1::HereNowRequest request;
    request.set_include_user_ids(false);
    for (uint64_t c = first;
         c < std::min<uint64_t>(workload.expiring_channels, first + 1000); ++c)
      request.add_channels(Name("xch-", c));
    v1::HereNowResponse response;
    if (!engine.stub(0)->HereNow(&context, request, &response).ok())
      return UINT64_MAX;
    remaining += response.total_occupancy();
  }
  return remaining;
}

// Runs one prefill lane of `count` calls; returns its JSON member.
std::string Prefill(Engine& engine, const Workload& workload, Kind kind,
                    uint64_t count, std::string* error) {
  if (count == 0) return "";
  Lane lane(kKindNames[kind], kKindNames[kind],
            absl::GetFlag(FLAGS_prefill_concurrency), 0, engine.threads());
  lane.set_limit(count);
  engine.OpenWindow(0);
  const int64_t start = NowNs();
  {
    Run run(&engine, &workload, nullptr, {&lane});
    run.WaitDone(absl::Hours(2));
  }
  const double seconds = (NowNs() - start) / 1e9;
  engine.ResetWindow();
  uint64_t errors = 0;
  for (ThreadStats& stats : lane.all_stats()) errors += stats.errors[kind];
  if (errors > 0) {
    *error = absl::StrCat(kKindNames[kind], ": ", errors, " errors, first ",
                          lane.first_error());
  }
  std::fprintf(stderr, "prefill %s: %llu calls in %.1f s (%llu errors)\n",
               kKindNames[kind], static_cast<unsigned long long>(count),
               seconds, static_cast<unsigned long long>(errors));
  return absl::StrFormat("\"%s\":{\"calls\":%d,\"seconds\":%.2f,\"errors\":%d}",
                         kKindNames[kind], count, seconds, errors);
}

int Main() {
  std::unique_ptr<ServerProcess> server;
  std::string target = absl::GetFlag(FLAGS_target);
  int server_pid = absl::GetFlag(FLAGS_server_pid);
  if (!absl::GetFlag(FLAGS_server_cmd).empty()) {
    server = StartServer(absl::GetFlag(FLAGS_server_cmd));
    if (server == nullptr) return 1;
    target = server->address;
    server_pid = server->pid;
  }
  if (target.empty()) {
    std::fprintf(stderr, "give --target or --server_cmd\n");
    return 2;
  }
  const Workload workload = WorkloadFromFlags();
  Engine engine(target, std::max(1, absl::GetFlag(FLAGS_threads)),
                std::max(1, absl::GetFlag(FLAGS_connections)));
  if (!engine.WaitConnected(absl::Seconds(10))) {
    std::fprintf(stderr, "cannot connect to %s\n", target.c_str());
    return 1;
  }
  const std::string mode = absl::GetFlag(FLAGS_mode);
  const std::string label = absl::GetFlag(FLAGS_label);
  std::string json = absl::StrFormat(
      "{\"label\":%s,\"mode\":%s,\"target\":%s,\"threads\":%d,"
      "\"connections\":%d",
      JsonString(label), JsonString(mode), JsonString(target), engine.threads(),
      engine.connections());
  std::string human = label.empty() ? mode : label;
  std::string error;

  // Prefill.
  std::string prefill;
  if (absl::GetFlag(FLAGS_prefill)) {
    std::vector<std::string> parts = {
        workload.grid > 0
            ? Prefill(engine, workload, kPrefillGrid,
                      workload.grid * ((workload.grid + 999) / 1000), &error)
            : Prefill(engine, workload, kPrefillMain, workload.users, &error),
        Prefill(engine, workload, kPrefillBig, workload.big_members, &error)};
    for (const std::string& part : parts) {
      if (!part.empty())
        absl::StrAppend(&prefill, prefill.empty() ? "" : ",", part);
    }
  }
  absl::StrAppend(&json, ",\"prefill\":{", prefill, "}");

  ResourceMeter meter(server_pid);

  if (mode == "unary") {
    BatchState batch;
    Lane main("main", absl::GetFlag(FLAGS_mix),
              absl::GetFlag(FLAGS_concurrency), absl::GetFlag(FLAGS_rate),
              engine.threads());
    Lane probe("probe", absl::GetFlag(FLAGS_probe_mix),
               absl::GetFlag(FLAGS_probe_concurrency),
               absl::GetFlag(FLAGS_probe_rate), engine.threads());
    if (main.has(kBatch)) batch.payloads = BatchPayloads(workload);
    std::vector<Lane*> lanes = {&main};
    if (!probe.empty()) lanes.push_back(&probe);

    // Expiry (S4): the expiring users go in last, all due at one instant;
    // the measurement runs until they are all gone.
    int64_t due_at = 0;
    if (workload.expiring_users > 0) {
      g_expiry_origin_ns = NowNs();
      absl::StrAppend(&json, ",\"expiring\":{",
                      Prefill(engine, workload, kPrefillExpiring,
                              workload.expiring_users, &error),
                      "}");
      due_at = g_expiry_origin_ns.load() +
               int64_t{workload.expiring_timeout} * 1000000000;
      if (NowNs() + absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_warmup)) +
              1000000000 >
          due_at) {
        error = "--expiring_timeout is too short: the prefill took longer";
      }
    }
    Run run(&engine, &workload, &batch, lanes);
    absl::SleepFor(absl::GetFlag(FLAGS_warmup));
    const int64_t window_start = NowNs();
    if (workload.expiring_users > 0) {
      const int64_t bucket =
          absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_timeline_bucket));
      engine.set_timeline(window_start, bucket);
      // Room for up to two minutes of expiry after the deadline.
      const double span = (due_at - window_start) / 1e9 + 125;
      for (ThreadStats& stats : main.all_stats())
        stats.timeline.assign(static_cast<size_t>(span * 1e9 / bucket) + 2, 0);
    }
    engine.OpenWindow(window_start);
    meter.Start();
    int64_t expired_at = 0;
    if (workload.expiring_users > 0) {
      // Until every expiring membership is gone (or two minutes past due).
      while (NowNs() < due_at + 120 * int64_t{1000000000}) {
        absl::SleepFor(absl::Milliseconds(100));
        if (NowNs() >= due_at && ExpiringRemaining(engine, workload) == 0) {
          expired_at = NowNs();
          break;
        }
      }
      absl::SleepFor(absl::Milliseconds(500));
    } else {
      absl::SleepFor(absl::GetFlag(FLAGS_duration));
    }
    const int64_t window_end = NowNs();
    engine.CloseWindow(window_end);
    const double seconds = (window_end - window_start) / 1e9;
    uint64_t ops = 0;
    std::string lanes_json;
    for (Lane* lane : lanes) {
      std::string lane_human;
      absl::StrAppend(
          &lanes_json, lanes_json.empty() ? "" : ",", "\"", lane->name(),
          "\":", LaneJson(*lane, workload, seconds, &ops, &lane_human));
      absl::StrAppend(&human, " [", lane->name(), "]", lane_human);
    }
    absl::StrAppendFormat(&json, ",\"seconds\":%.3f,%s,\"lanes\":{%s}", seconds,
                          meter.Stop(ops), lanes_json);
    human += meter.Summary(seconds);
    if (main.has(kBatch)) {
      absl::StrAppendFormat(&json,
                            ",\"batch\":{\"available\":%s,\"batch_size\":%d,"
                            "\"entries_per_s\":%.1f,\"entries_failed\":%d}",
                            batch.unimplemented ? "false" : "true",
                            absl::GetFlag(FLAGS_batch_size),
                            (batch.entries_ok + batch.entries_failed) / seconds,
                            batch.entries_failed.load());
      absl::StrAppendFormat(&human, " batch entries %.0f/s%s",
                            (batch.entries_ok + batch.entries_failed) / seconds,
                            batch.unimplemented ? " (UNIMPLEMENTED)" : "");
    }
    if (workload.expiring_users > 0) {
      std::vector<uint64_t> timeline;
      for (ThreadStats& stats : main.all_stats()) {
        if (timeline.empty()) timeline.assign(stats.timeline.size(), 0);
        for (size_t i = 0; i < stats.timeline.size(); ++i)
          timeline[i] += stats.timeline[i];
      }
      const int64_t bucket = engine.timeline_bucket_ns();
      // Before: up to 0.2 s before the deadline. During: from the deadline
      // until the last membership was gone (at least a second).
      const int64_t due_from = due_at - window_start;
      const int64_t due_to =
          std::max(due_from + 1000000000,
                   (expired_at > 0 ? expired_at : window_end) - window_start);
      const double before =
          TimelineRate(timeline, bucket, 0, due_from - 200000000);
      const double during = TimelineRate(timeline, bucket, due_from, due_to);
      std::string buckets;
      for (uint64_t count : timeline)
        absl::StrAppend(&buckets, buckets.empty() ? "" : ",", count);
      absl::StrAppendFormat(
          &json,
          ",\"expiry\":{\"memberships\":%d,\"expired_in_s\":%.3f,"
          "\"due_from_s\":%.3f,\"due_to_s\":%.3f,"
          "\"qps_before\":%.1f,\"qps_during\":%.1f,\"ratio\":%.4f,"
          "\"bucket_ms\":%.0f,\"timeline\":[%s]}",
          workload.expiring_users * workload.expiring_channels_per_user,
          expired_at > 0 ? (expired_at - due_at) / 1e9 : -1.0, due_from / 1e9,
          due_to / 1e9, before, during,
          before > 0 && during >= 0 ? during / before : -1.0, bucket / 1e6,
          buckets);
      absl::StrAppendFormat(&human, " expiry: %.0f/s before, %.0f/s during",
                            before, during);
    }
  } else if (mode == "fanout") {
    FanState state;
    state.watchers = absl::GetFlag(FLAGS_watchers);
    for (int t = 0; t < engine.threads(); ++t)
      state.latency.push_back(std::make_unique<LatencyHistogram>());
    // The anchor keeps the channel occupied: no active/inactive events.
    {
      grpc::ClientContext context;
      v1::HeartbeatRequest anchor;
      anchor.set_user_id(Name("fa-", 0));
      anchor.add_channels(absl::GetFlag(FLAGS_fanout_channel));
      v1::HeartbeatResponse response;
      grpc::Status status =
          engine.stub(0)->Heartbeat(&context, anchor, &response);
      if (!status.ok()) error = "anchor heartbeat: " + status.error_message();
    }
    std::vector<std::unique_ptr<FanSlot>> slots;
    for (int k = 0; k < absl::GetFlag(FLAGS_fanout_slots); ++k) {
      slots.push_back(std::make_unique<FanSlot>(&engine, &state, k));
      state.slots.push_back(slots.back().get());
      grpc::Status status = slots.back()->Reset();
      if (!status.ok()) error = "leave: " + status.error_message();
    }
    std::vector<std::unique_ptr<WatchStream>> watchers;
    for (int i = 0; i < state.watchers; ++i) {
      watchers.push_back(std::make_unique<WatchStream>(&engine, &state, i));
      watchers.back()->Start();
    }
    const absl::Time registered_by = absl::Now() + absl::Seconds(60);
    while (state.registered.load() + state.ended.load() < state.watchers &&
           absl::Now() < registered_by)
      absl::SleepFor(absl::Milliseconds(10));
    if (state.registered.load() < state.watchers) {
      error = absl::StrCat("only ", state.registered.load(), " of ",
                           state.watchers, " watchers registered");
    }
    engine.set_stopping(false);
    for (auto& slot : slots) slot->Start();
    absl::SleepFor(absl::GetFlag(FLAGS_warmup));
    const int64_t window_start = NowNs();
    engine.OpenWindow(window_start);
    meter.Start();
    absl::SleepFor(absl::GetFlag(FLAGS_duration));
    const int64_t window_end = NowNs();
    engine.CloseWindow(window_end);
    const double seconds = (window_end - window_start) / 1e9;
    std::string resources = meter.Stop(state.deliveries.load());
    human += meter.Summary(seconds);
    engine.set_stopping(true);
    // Slots retire once their calls are back; then the watchers go.
    if (!engine.WaitIdle(absl::Seconds(60))) {
      std::fprintf(stderr, "load_generator: fan-out calls still pending\n");
      std::_Exit(3);
    }
    for (auto& watcher : watchers) watcher->Cancel();
    const absl::Time ended_by = absl::Now() + absl::Seconds(30);
    while (state.ended.load() < state.watchers && absl::Now() < ended_by)
      absl::SleepFor(absl::Milliseconds(10));
    if (state.ended.load() < state.watchers) {
      std::fprintf(stderr, "load_generator: watchers did not end\n");
      std::_Exit(3);
    }
    LatencyHistogram latency;
    for (auto& h : state.latency) latency.Merge(*h);
    absl::StrAppendFormat(
        &json,
        ",\"seconds\":%.3f,%s,\"fanout\":{\"watchers\":%d,\"registered\":%d,"
        "\"slots\":%d,\"changes\":%d,\"changes_per_s\":%.1f,"
        "\"deliveries\":%d,\"deliveries_per_s\":%.1f,%s,\"rpc_errors\":%d,"
        "\"watchers_ended_early\":%d,\"first_error\":%s}",
        seconds, resources, state.watchers, state.registered.load(),
        static_cast<int>(slots.size()), state.changes.load(),
        state.changes.load() / seconds, state.deliveries.load(),
        state.deliveries.load() / seconds, LatencyJson(latency),
        state.rpc_errors.load(), state.ended_early.load(),
        JsonString(state.first_error));
    absl::StrAppendFormat(&human,
                          " %.0f deliveries/s (%.0f changes/s x %d watchers), "
                          "change->receive p50 %.0f us p99 %.0f us",
                          state.deliveries.load() / seconds,
                          state.changes.load() / seconds, state.watchers,
                          latency.Quantile(0.5) / 1e3,
                          latency.Quantile(0.99) / 1e3);
    if (state.ended_early.load() > 0 || state.rpc_errors.load() > 0)
      error = state.first_error;
  } else {
    std::fprintf(stderr, "unknown --mode=%s\n", mode.c_str());
    return 2;
  }

  // What the expiring users left behind (0 once all timed out).
  if (workload.expiring_users > 0) {
    absl::StrAppendFormat(&json, ",\"expiring_remaining\":%d",
                          ExpiringRemaining(engine, workload));
  }
  if (server_pid > 0) {
    const ProcStats stats = ReadProcStats(server_pid);
    absl::StrAppendFormat(&json,
                          ",\"server_vmhwm_kb\":%d,\"server_vmrss_kb\":%d",
                          stats.hwm_kb, stats.rss_kb);
  }
  absl::StrAppend(&json, ",\"error\":", JsonString(error), "}");
  std::printf("%s\n", json.c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "%s%s\n", human.c_str(),
               error.empty() ? "" : (" ERROR: " + error).c_str());
  return error.empty() ? 0 : 1;
}

}  // namespace
}  // namespace presence::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return presence::bench::Main();
}
