#include "service/grpc/watch_reactor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "presence/v1/watch_metadata.h"
#include "service/grpc/grpc_status.h"

namespace presence {

WatchReactor* WatchReactor::Start(grpc::CallbackServerContext* context,
                                  EventFanout* fanout,
                                  const WatchEventEncoder* encoder,
                                  size_t max_buffered_events,
                                  const std::vector<std::string>& channels,
                                  const std::vector<std::string>& groups,
                                  uint64_t seen, RpcStats* stats,
                                  WatchSlot slot) {
  auto* reactor =
      new WatchReactor(fanout, max_buffered_events, stats, std::move(slot));
  absl::Status status = fanout->Add(reactor, encoder, channels, groups, seen);
  // Not under mu_ while registering: the fan-out calls Deliver() with its own
  // lock held, so the order is always fan-out lock, then mu_.
  MutexLock lock(&reactor->mu_);
  if (!status.ok()) {
    reactor->FinishLocked(ToGrpcStatus(status));
  } else if (!reactor->finish_.has_value()) {
    // Registered: every event from now on reaches this stream. Events that
    // arrived in between wait in the queue until the metadata is sent.
    context->AddInitialMetadata(v1::kWatchRegisteredMetadataKey, "1");
    reactor->StartSendInitialMetadata();
    reactor->started_ = true;
    if (!reactor->queue_.empty()) reactor->WriteNextLocked();
  }
  return reactor;
}

WatchReactor* WatchReactor::Fail(const grpc::Status& status, RpcStats* stats) {
  auto* reactor = new WatchReactor(nullptr, 0, stats, WatchSlot());
  MutexLock lock(&reactor->mu_);
  reactor->FinishLocked(status);
  return reactor;
}

void WatchReactor::Deliver(const std::shared_ptr<const EncodedEvent>& event) {
  MutexLock lock(&mu_);
  if (finish_.has_value()) return;
  if (queue_.size() >= max_buffered_events_) {
    fanout_->CountSlowWatcher();
    // Only the write in flight (if any) stays; nothing more is kept.
    queue_.erase(writing_ ? queue_.begin() + 1 : queue_.begin(), queue_.end());
    FinishLocked(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("watcher too slow: more than ", max_buffered_events_,
                     " events waiting to be sent; re-read with HereNow and "
                     "watch again")));
    return;
  }
  queue_.push_back(event);
  if (started_ && !writing_) WriteNextLocked();
}

void WatchReactor::Close(const absl::Status& status) {
  MutexLock lock(&mu_);
  FinishLocked(ToGrpcStatus(status));
}

void WatchReactor::WriteNextLocked() {
  writing_ = true;
  grpc::WriteOptions options;
  // More is queued: let gRPC coalesce this write with the next one.
  if (queue_.size() > 1) options.set_buffer_hint();
  StartWrite(&WatchEventEncoder::Bytes(*queue_.front()), options);
}

void WatchReactor::OnWriteDone(bool ok) {
  MutexLock lock(&mu_);
  writing_ = false;
  queue_.pop_front();
  if (!ok) {
    // The stream is broken (the client went away); OnDone follows.
    FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
    return;
  }
  if (finish_.has_value()) {
    FinishLocked(*finish_);
  } else if (!queue_.empty()) {
    WriteNextLocked();
  }
}

void WatchReactor::OnCancel() {
  MutexLock lock(&mu_);
  FinishLocked(grpc::Status::CANCELLED);
}

void WatchReactor::FinishLocked(const grpc::Status& status) {
  if (!finish_.has_value()) finish_ = status;
  if (writing_ || finished_) return;  // OnWriteDone finishes it.
  finished_ = true;
  queue_.clear();
  Finish(*finish_);
}

void WatchReactor::OnDone() {
  if (fanout_ != nullptr) fanout_->Remove(this);
  slot_.Release();
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  {
    MutexLock lock(&mu_);
    if (finish_.has_value()) code = finish_->error_code();
  }
  stats_->Record(RpcMethod::kWatchEvents, code, absl::ZeroDuration());
  delete this;
}

}  // namespace presence
