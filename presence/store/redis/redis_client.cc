#include "presence/store/redis/redis_client.h"

#include <sys/time.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "hiredis/hiredis.h"
#include "openssl/sha.h"

namespace presence {
namespace {

RedisReply Copy(const redisReply* reply) {
  RedisReply out;
  switch (reply->type) {
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = reply->integer;
      break;
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.str.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(reply->elements);
      for (size_t i = 0; i < reply->elements; ++i) {
        out.elements.push_back(Copy(reply->element[i]));
      }
      break;
    default:
      out.type = RedisReply::Type::kNil;
  }
  return out;
}

absl::Status Unavailable(absl::string_view what, absl::string_view detail) {
  return absl::UnavailableError(absl::StrCat("redis: ", what, ": ", detail));
}

}  // namespace

absl::StatusOr<RedisEndpoint> ParseRedisUrl(absl::string_view url) {
  RedisEndpoint endpoint;
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "redis://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("redis_url: \"", url, "\" must start with redis://"));
  }
  if (const size_t at = rest.rfind('@'); at != absl::string_view::npos) {
    absl::string_view credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const size_t colon = credentials.find(':');
    endpoint.password = std::string(colon == absl::string_view::npos
                                        ? credentials
                                        : credentials.substr(colon + 1));
  }
  absl::string_view authority = rest;
  if (const size_t slash = rest.find('/'); slash != absl::string_view::npos) {
    authority = rest.substr(0, slash);
    absl::string_view db = rest.substr(slash + 1);
    if (!db.empty() &&
        (!absl::SimpleAtoi(db, &endpoint.db) || endpoint.db < 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("redis_url: database \"", db, "\" is not a number"));
    }
  }
  if (const size_t colon = authority.rfind(':');
      colon != absl::string_view::npos) {
    absl::string_view port = authority.substr(colon + 1);
    if (!absl::SimpleAtoi(port, &endpoint.port) || endpoint.port <= 0 ||
        endpoint.port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("redis_url: port \"", port, "\" is not a port number"));
    }
    authority = authority.substr(0, colon);
  }
  if (authority.empty()) {
    return absl::InvalidArgumentError("redis_url: the host is missing");
  }
  endpoint.host = std::string(authority);
  return endpoint;
}

absl::StatusOr<std::unique_ptr<RedisConnection>> RedisConnection::Connect(
    const RedisEndpoint& endpoint, absl::Duration timeout,
    absl::Duration extra_read_timeout) {
  redisContext* context = redisConnectWithTimeout(
      endpoint.host.c_str(), endpoint.port, absl::ToTimeval(timeout));
  if (context == nullptr) return Unavailable("connect", "out of memory");
  if (context->err != 0) {
    std::string error = context->errstr;
    redisFree(context);
    return Unavailable(
        absl::StrCat("connect to ", endpoint.host, ":", endpoint.port), error);
  }
  redisSetTimeout(context, absl::ToTimeval(timeout + extra_read_timeout));
  redisEnableKeepAlive(context);
  std::unique_ptr<RedisConnection> connection(new RedisConnection(context));
  if (!endpoint.password.empty()) {
    absl::StatusOr<RedisReply> auth =
        connection->Command({"AUTH", endpoint.password});
    if (!auth.ok()) return auth.status();
    if (auth->is_error()) return Unavailable("AUTH", auth->str);
  }
  if (endpoint.db != 0) {
    absl::StatusOr<RedisReply> select =
        connection->Command({"SELECT", absl::StrCat(endpoint.db)});
    if (!select.ok()) return select.status();
    if (select->is_error()) return Unavailable("SELECT", select->str);
  }
  return connection;
}

RedisConnection::~RedisConnection() { redisFree(context_); }

int RedisConnection::fd() const { return context_->fd; }

absl::StatusOr<RedisReply> RedisConnection::Command(
    const std::vector<std::string>& args) {
  if (broken_) return Unavailable("command", "connection is broken");
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const std::string& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto* reply = static_cast<redisReply*>(redisCommandArgv(
      context_, static_cast<int>(args.size()), argv.data(), lengths.data()));
  if (reply == nullptr) {
    broken_ = true;
    return Unavailable(args.empty() ? "command" : args[0],
                       context_->err != 0 ? context_->errstr : "no reply");
  }
  RedisReply out = Copy(reply);
  freeReplyObject(reply);
  return out;
}

absl::Status RedisConnection::Load(const RedisLibrary& library) {
  absl::StatusOr<RedisReply> listed =
      Command({"FUNCTION", "LIST", "LIBRARYNAME", library.name});
  if (!listed.ok()) return listed.status();
  if (listed->type == RedisReply::Type::kArray && !listed->elements.empty()) {
    return absl::OkStatus();
  }
  absl::StatusOr<RedisReply> loaded =
      Command({"FUNCTION", "LOAD", library.source});
  if (!loaded.ok()) return loaded.status();
  // Another process may have loaded it since.
  if (loaded->is_error() && !absl::StrContains(loaded->str, "already exists")) {
    return absl::InternalError(
        absl::StrCat("redis: FUNCTION LOAD: ", loaded->str));
  }
  return absl::OkStatus();
}

absl::StatusOr<RedisReply> RedisConnection::Call(
    const RedisLibrary& library, absl::string_view function,
    const std::vector<std::string>& args) {
  std::vector<std::string> command = {"FCALL", library.Function(function), "0"};
  command.insert(command.end(), args.begin(), args.end());
  absl::StatusOr<RedisReply> reply = Command(command);
  if (reply.ok() && IsFunctionNotFound(*reply)) {
    if (absl::Status loaded = Load(library); !loaded.ok()) return loaded;
    reply = Command(command);
  }
  return reply;
}

bool IsFunctionNotFound(const RedisReply& reply) {
  return reply.is_error() && absl::StrContains(reply.str, "Function not found");
}

void RespBegin(std::string& out, size_t arguments) {
  out.push_back('*');
  absl::StrAppend(&out, arguments);
  out.append("\r\n");
}

void RespArg(std::string& out, absl::string_view argument) {
  out.push_back('$');
  absl::StrAppend(&out, argument.size());
  out.append("\r\n");
  out.append(argument.data(), argument.size());
  out.append("\r\n");
}

std::string FormatCommand(const std::vector<std::string>& args) {
  size_t bytes = 16;
  for (const std::string& arg : args) bytes += arg.size() + 16;
  std::string out;
  out.reserve(bytes);
  RespBegin(out, args.size());
  for (const std::string& arg : args) RespArg(out, arg);
  return out;
}

RedisLibrary::RedisLibrary(absl::string_view prefix, absl::string_view code) {
  // The code must start with its "#!lua" line.
  code = absl::StripLeadingAsciiWhitespace(code);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(code.data()), code.size(),
       digest);
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 6; ++i) {
    version.push_back(kHex[digest[i] >> 4]);
    version.push_back(kHex[digest[i] & 0xf]);
  }
  name = absl::StrCat(prefix, "_", version);
  source = absl::StrReplaceAll(
      code, {{"__LIBRARY__", name}, {"__VERSION__", version}});
}

std::string RedisLibrary::Function(absl::string_view function) const {
  return absl::StrCat(function, "_", version);
}

}  // namespace presence
