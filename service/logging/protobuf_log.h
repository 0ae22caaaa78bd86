// Routes libprotobuf's own log lines (e.g. "String field ... contains invalid
// UTF-8 data" for every such request) through the server's log, at most one
// line per source location per interval, and counts them, so that a caller
// sending bad bytes cannot flood stderr.
//
//   RouteProtobufLogs(absl::Seconds(10));  // Once, at startup.
//   uint64_t n = ProtobufLogLines();       // For a metric.
//
// Thread-safe. The routing is process-wide (libprotobuf has one handler).
#ifndef SERVICE_LOGGING_PROTOBUF_LOG_H_
#define SERVICE_LOGGING_PROTOBUF_LOG_H_

#include <cstdint>

#include "absl/time/time.h"

namespace presence {

// Installs the handler; lines of one source location are logged at most
// once per `interval`, with the count of those held back since.
void RouteProtobufLogs(absl::Duration interval);

// Returns how many lines libprotobuf emitted since RouteProtobufLogs()
// (logged or held back).
uint64_t ProtobufLogLines();

}  // namespace presence

#endif  // SERVICE_LOGGING_PROTOBUF_LOG_H_
