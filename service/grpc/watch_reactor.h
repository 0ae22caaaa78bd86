// WatchReactor: one WatchEvents stream, a sink of the EventFanout. It
// registers with the fan-out, sends initial metadata once registered (so a
// client knows every later event will reach it), and writes the encoded
// events it is handed, one write in flight at a time, from a bounded queue.
// A watcher whose queue overflows is finished with RESOURCE_EXHAUSTED; the
// fan-out is never blocked. Cancellation, deadline and disconnect unregister
// it and free everything, including its place in the watcher limits
// (service/limits), which it holds while it lives.
#ifndef SERVICE_GRPC_WATCH_REACTOR_H_
#define SERVICE_GRPC_WATCH_REACTOR_H_

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "grpcpp/server_context.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "presence/base/mutex.h"
#include "service/fanout/event_fanout.h"
#include "service/grpc/rpc_stats.h"
#include "service/grpc/watch_event_encoder.h"
#include "service/limits/watcher_limits.h"

namespace presence {

class WatchReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                           public EventSink {
 public:
  // Registers with `fanout` (which, like `encoder`, must outlive the stream)
  // and starts the stream, or finishes it with the registration's error.
  // Deletes itself when the stream is done.
  // The stream's end is recorded in `stats`, which must outlive it. The
  // stream holds `slot` (its place in the watcher limits) until it is done.
  // `seen` is EventFanout::Add's.
  static WatchReactor* Start(grpc::CallbackServerContext* context,
                             EventFanout* fanout,
                             const WatchEventEncoder* encoder,
                             size_t max_buffered_events,
                             const std::vector<std::string>& channels,
                             const std::vector<std::string>& groups,
                             uint64_t seen, RpcStats* stats, WatchSlot slot);

  // Finishes a stream that never registered (bad request).
  static WatchReactor* Fail(const grpc::Status& status, RpcStats* stats);

  // EventSink.
  void Deliver(const std::shared_ptr<const EncodedEvent>& event) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void Close(const absl::Status& status) override ABSL_LOCKS_EXCLUDED(mu_);

  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnCancel() override ABSL_LOCKS_EXCLUDED(mu_);
  void OnDone() override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  WatchReactor(EventFanout* fanout, size_t max_buffered_events, RpcStats* stats,
               WatchSlot slot)
      : fanout_(fanout),
        max_buffered_events_(max_buffered_events),
        stats_(stats),
        slot_(std::move(slot)) {}

  // Ends the stream with `status` once no write is in flight.
  void FinishLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  EventFanout* const fanout_;  // Null for a stream that never registered.
  const size_t max_buffered_events_;
  RpcStats* const stats_;
  WatchSlot slot_;  // Released in OnDone.
  Mutex mu_;
  // Front is being written; each entry shares its bytes with every other
  // stream of the event.
  std::deque<std::shared_ptr<const EncodedEvent>> queue_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;  // Initial metadata was sent.
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  // Set once the stream must end.
  std::optional<grpc::Status> finish_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // Finish() was called.
};

}  // namespace presence

#endif  // SERVICE_GRPC_WATCH_REACTOR_H_
