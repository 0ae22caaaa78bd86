#include "service/grpc/watch_reactor.h"

#include "absl/strings/str_cat.h"
#include "service/grpc/grpc_status.h"

namespace presence {

WatchReactor* WatchReactor::Start(grpc::CallbackServerContext* context,
                                  WatchHub* hub, size_t max_buffered_events,
                                  const std::vector<std::string>& channels,
                                  const std::vector<std::string>& groups) {
  auto* reactor = new WatchReactor(hub, max_buffered_events);
  absl::Status status = hub->Add(reactor, channels, groups);
  // Not under mu_ while registering: the hub calls Deliver() with its own
  // lock held, so the order is always hub lock, then mu_.
  std::lock_guard<std::mutex> lock(reactor->mu_);
  if (!status.ok()) {
    reactor->FinishLocked(ToGrpcStatus(status));
  } else if (!reactor->finish_.has_value()) {
    // Registered: every event from now on reaches this stream. Events that
    // arrived in between wait in the queue until the metadata is sent.
    context->AddInitialMetadata(kRegisteredKey, "1");
    reactor->StartSendInitialMetadata();
    reactor->started_ = true;
    if (!reactor->queue_.empty()) reactor->WriteNextLocked();
  }
  return reactor;
}

WatchReactor* WatchReactor::Fail(const grpc::Status& status) {
  auto* reactor = new WatchReactor(nullptr, 0);
  std::lock_guard<std::mutex> lock(reactor->mu_);
  reactor->FinishLocked(status);
  return reactor;
}

void WatchReactor::Deliver(const grpc::ByteBuffer& event) {
  std::lock_guard<std::mutex> lock(mu_);
  if (finish_.has_value()) return;
  if (queue_.size() >= max_buffered_events_) {
    hub_->CountSlowWatcher();
    // Only the write in flight (if any) stays; nothing more is kept.
    queue_.erase(writing_ ? queue_.begin() + 1 : queue_.begin(), queue_.end());
    FinishLocked(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("watcher too slow: more than ", max_buffered_events_,
                     " events waiting to be sent; re-read with HereNow and "
                     "watch again")));
    return;
  }
  queue_.push_back(event);  // Shares the encoded bytes.
  if (started_ && !writing_) WriteNextLocked();
}

void WatchReactor::Close(const grpc::Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  FinishLocked(status);
}

void WatchReactor::WriteNextLocked() {
  writing_ = true;
  grpc::WriteOptions options;
  // More is queued: let gRPC coalesce this write with the next one.
  if (queue_.size() > 1) options.set_buffer_hint();
  StartWrite(&queue_.front(), options);
}

void WatchReactor::OnWriteDone(bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
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
  std::lock_guard<std::mutex> lock(mu_);
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
  if (hub_ != nullptr) hub_->Remove(this);
  delete this;
}

}  // namespace presence
