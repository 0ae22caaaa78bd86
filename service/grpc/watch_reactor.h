// WatchReactor: one WatchEvents stream. It registers with the WatchHub,
// sends initial metadata once registered (so a client knows every later
// event will reach it), and writes the encoded events the hub delivers,
// one write in flight at a time, from a bounded queue. A watcher whose queue
// overflows is finished with RESOURCE_EXHAUSTED; the hub is never blocked.
// Cancellation, deadline and disconnect unregister it and free everything.
#ifndef SERVICE_GRPC_WATCH_REACTOR_H_
#define SERVICE_GRPC_WATCH_REACTOR_H_

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "grpcpp/server_context.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "service/fanout/watch_hub.h"

namespace presence {

class WatchReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                           public WatchSink {
 public:
  // The initial metadata key (value "1") that tells a client the watch is
  // registered; a stream that fails to register finishes without it.
  static constexpr char kRegisteredKey[] = "presence-watch-registered";

  // Registers with `hub` (which must outlive the stream) and starts the
  // stream, or finishes it with the registration's error. Deletes itself
  // when the stream is done.
  static WatchReactor* Start(grpc::CallbackServerContext* context,
                             WatchHub* hub, size_t max_buffered_events,
                             const std::vector<std::string>& channels,
                             const std::vector<std::string>& groups);

  // Finishes a stream that never registered (bad request).
  static WatchReactor* Fail(const grpc::Status& status);

  void Deliver(const grpc::ByteBuffer& event) override;
  void Close(const grpc::Status& status) override;

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  WatchReactor(WatchHub* hub, size_t max_buffered_events)
      : hub_(hub), max_buffered_events_(max_buffered_events) {}

  // Ends the stream with `status` once no write is in flight. Requires mu_.
  void FinishLocked(const grpc::Status& status);
  void WriteNextLocked();

  WatchHub* const hub_;  // Null for a stream that never registered.
  const size_t max_buffered_events_;
  std::mutex mu_;
  std::deque<grpc::ByteBuffer> queue_;  // Front is being written; mu_.
  bool started_ = false;                // Initial metadata was sent; mu_.
  bool writing_ = false;                // mu_
  std::optional<grpc::Status> finish_;  // Set once the stream must end; mu_.
  bool finished_ = false;               // Finish() was called; mu_.
};

}  // namespace presence

#endif  // SERVICE_GRPC_WATCH_REACTOR_H_
