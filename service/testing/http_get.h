// Plain-TCP HTTP/1.1 requests for tests of the service's HTTP endpoints
// (/metrics, the PubNub REST API): the bytes go out as written and the
// whole answer (status line, headers, body) comes back as one string, so a
// test asserts on exactly what a client would read.
//
//   EXPECT_THAT(HttpGet(app->metrics_port(), "/metrics"),
//               HasSubstr("\npresence_events_total{action=\"join\"} 1\n"));
#ifndef SERVICE_TESTING_HTTP_GET_H_
#define SERVICE_TESTING_HTTP_GET_H_

#include <string>

#include "absl/strings/string_view.h"

namespace presence {

// Connects to 127.0.0.1:`port` over TCP, with a 10 s receive timeout;
// returns the socket, or -1 when the connection was refused. For clients of
// their own (TLS); the caller closes it.
int ConnectLoopback(int port);

// Sends `request` to 127.0.0.1:`port` and returns what the server sent
// until it closed the connection (or sent nothing for 10 s); "" when the
// connection was refused.
std::string HttpExchange(int port, absl::string_view request);

// GET `target` ("/metrics", "/v2/presence/...") with "Connection: close".
std::string HttpGet(int port, absl::string_view target);

}  // namespace presence

#endif  // SERVICE_TESTING_HTTP_GET_H_
