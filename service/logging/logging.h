// The server's log: one line per lifecycle event and per error on stderr,
// as text (default) or as JSON (--log_format=json) for log pipelines.
//
//   LogInfo("presence_server listening on 127.0.0.1:50051",
//           {{"address", "127.0.0.1:50051"}, {"store", "memory"}});
//
// text: 2026-11-27T17:01:21.123Z INFO presence_server listening on
//       127.0.0.1:50051 address=127.0.0.1:50051 store=memory
// json: {"time":"2026-11-27T17:01:21.123Z","level":"INFO",
//        "msg":"presence_server listening on 127.0.0.1:50051",
//        "address":"127.0.0.1:50051","store":"memory"}
//
// Each line is written with one call, so concurrent lines never interleave.
// Thread-safe.
#ifndef SERVICE_LOGGING_LOGGING_H_
#define SERVICE_LOGGING_LOGGING_H_

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace presence {

enum class LogFormat { kText, kJson };

// Parses "text" or "json"; INVALID_ARGUMENT naming --log_format otherwise.
absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view name);

// Sets the format of every later line (default kText).
void SetLogFormat(LogFormat format);

// A structured field of a log line. Values are text; the JSON form writes
// them as strings.
struct LogField {
  absl::string_view key;
  std::string value;
};

void LogInfo(absl::string_view message,
             std::initializer_list<LogField> fields = {});
void LogWarning(absl::string_view message,
                std::initializer_list<LogField> fields = {});
void LogError(absl::string_view message,
              std::initializer_list<LogField> fields = {});

// Returns the line Log* would write (without the newline), for tests.
std::string FormatLogLine(absl::Time time, absl::string_view level,
                          absl::string_view message,
                          std::initializer_list<LogField> fields,
                          LogFormat format);

}  // namespace presence

#endif  // SERVICE_LOGGING_LOGGING_H_
