#include "service/logging/logging.h"

#include <atomic>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace presence {
namespace {

std::atomic<LogFormat> log_format{LogFormat::kText};

// Appends `text` as a JSON string (quotes included).
void AppendJsonString(std::string& out, absl::string_view text) {
  out.push_back('"');
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void Log(absl::string_view level, absl::string_view message,
         std::initializer_list<LogField> fields) {
  std::string line =
      FormatLogLine(absl::Now(), level, message, fields, log_format.load());
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return absl::InvalidArgumentError(absl::StrCat(
      "--log_format: \"", name, "\" is not a log format; use text or json"));
}

void SetLogFormat(LogFormat format) { log_format.store(format); }

std::string FormatLogLine(absl::Time time, absl::string_view level,
                          absl::string_view message,
                          std::initializer_list<LogField> fields,
                          LogFormat format) {
  const std::string when =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
  std::string line;
  if (format == LogFormat::kText) {
    line = absl::StrCat(when, " ", level, " ", message);
    for (const LogField& field : fields) {
      absl::StrAppend(&line, " ", field.key, "=", field.value);
    }
    return line;
  }
  line = absl::StrCat("{\"time\":\"", when, "\",\"level\":\"", level,
                      "\",\"msg\":");
  AppendJsonString(line, message);
  for (const LogField& field : fields) {
    line.push_back(',');
    AppendJsonString(line, field.key);
    line.push_back(':');
    AppendJsonString(line, field.value);
  }
  line.push_back('}');
  return line;
}

void LogInfo(absl::string_view message,
             std::initializer_list<LogField> fields) {
  Log("INFO", message, fields);
}
void LogWarning(absl::string_view message,
                std::initializer_list<LogField> fields) {
  Log("WARNING", message, fields);
}
void LogError(absl::string_view message,
              std::initializer_list<LogField> fields) {
  Log("ERROR", message, fields);
}

}  // namespace presence
