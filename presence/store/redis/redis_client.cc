#include "presence/store/redis/redis_client.h"

#include <sys/time.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
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

absl::StatusOr<RedisReply> RedisConnection::Eval(
    const RedisScript& script, const std::vector<std::string>& args) {
  std::vector<std::string> command = {"EVALSHA", script.sha1, "0"};
  command.insert(command.end(), args.begin(), args.end());
  absl::StatusOr<RedisReply> reply = Command(command);
  if (reply.ok() && reply->is_error() &&
      absl::StartsWith(reply->str, "NOSCRIPT")) {
    absl::StatusOr<RedisReply> loaded =
        Command({"SCRIPT", "LOAD", script.source});
    if (!loaded.ok()) return loaded.status();
    if (loaded->is_error()) {
      return absl::InternalError(
          absl::StrCat("redis: SCRIPT LOAD: ", loaded->str));
    }
    reply = Command(command);
  }
  return reply;
}

RedisScript::RedisScript(std::string text) : source(std::move(text)) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(source.data()), source.size(),
       digest);
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char byte : digest) {
    sha1.push_back(kHex[byte >> 4]);
    sha1.push_back(kHex[byte & 0xf]);
  }
}

RedisPool::RedisPool(RedisEndpoint endpoint, RedisPoolOptions options)
    : endpoint_(std::move(endpoint)),
      options_(options),
      backoff_(options.initial_backoff) {}

RedisPool::~RedisPool() = default;

bool RedisPool::healthy() const {
  MutexLock lock(&mu_);
  return !down_;
}

void RedisPool::NoteFailure() {
  MutexLock lock(&mu_);
  if (down_) {
    backoff_ = std::min(backoff_ * 2, options_.max_backoff);
  } else {
    down_ = true;
    backoff_ = options_.initial_backoff;
  }
  retry_at_ = absl::Now() + backoff_;
  // Idle connections are as good as broken now.
  open_ -= static_cast<int>(idle_.size());
  idle_.clear();
}

void RedisPool::NoteSuccess() {
  MutexLock lock(&mu_);
  down_ = false;
  backoff_ = options_.initial_backoff;
}

absl::StatusOr<std::unique_ptr<RedisConnection>> RedisPool::Acquire() {
  {
    MutexLock lock(&mu_);
    if (down_ && absl::Now() < retry_at_) {
      return Unavailable(absl::StrCat(endpoint_.host, ":", endpoint_.port),
                         "unreachable; retrying with backoff");
    }
    const bool got = available_.WaitFor(
        &mu_,
        [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return !idle_.empty() || open_ < options_.size;
        },
        options_.timeout);
    if (!got) {
      return Unavailable("pool", "no connection became free in time");
    }
    if (!idle_.empty()) {
      std::unique_ptr<RedisConnection> connection = std::move(idle_.back());
      idle_.pop_back();
      return connection;
    }
    ++open_;  // Reserved; connect outside the lock.
  }
  absl::StatusOr<std::unique_ptr<RedisConnection>> connection =
      RedisConnection::Connect(endpoint_, options_.timeout);
  if (!connection.ok()) {
    {
      MutexLock lock(&mu_);
      --open_;
    }
    available_.Signal();
    NoteFailure();
  }
  return connection;
}

void RedisPool::Release(std::unique_ptr<RedisConnection> connection) {
  {
    MutexLock lock(&mu_);
    if (connection->broken()) {
      --open_;
    } else {
      idle_.push_back(std::move(connection));
    }
  }
  available_.Signal();
}

template <typename Call>
absl::StatusOr<RedisReply> RedisPool::OnConnection(Call call) {
  absl::StatusOr<std::unique_ptr<RedisConnection>> connection = Acquire();
  if (!connection.ok()) return connection.status();
  absl::StatusOr<RedisReply> reply = call(**connection);
  Release(*std::move(connection));
  if (reply.ok()) {
    NoteSuccess();
  } else {
    NoteFailure();
  }
  return reply;
}

absl::StatusOr<RedisReply> RedisPool::Command(
    const std::vector<std::string>& args) {
  return OnConnection(
      [&](RedisConnection& connection) { return connection.Command(args); });
}

absl::StatusOr<RedisReply> RedisPool::Eval(
    const RedisScript& script, const std::vector<std::string>& args) {
  return OnConnection([&](RedisConnection& connection) {
    return connection.Eval(script, args);
  });
}

}  // namespace presence
