// presence_cli: a command-line client of the presence service on the C++
// client SDK, for debugging where grpcurl and buf are not installed.
//
//   presence_cli heartbeat --user-id=alice --channels=lobby
//   presence_cli here-now --channels=lobby,hall --include-state
//   presence_cli watch --channels=lobby    # until Ctrl-C
//   presence_cli grant --secret-file=secrets --ttl=1h --read=lobby  # offline
//
// Every command takes --tls, --ca-cert, --cert and --key for servers with
// TLS (and mutual TLS), and --token (or $PRESENCE_TOKEN) for servers run
// with --auth=token.
//
// Each command (but grant with --secret-file, which signs locally) sends one
// RPC and prints its response as one compact JSON document on stdout (see
// output.h); watch prints one compact JSON object per event and line. Exit
// status: 0 on success, 1 when the call fails (stderr gets "error: CODE:
// message" with the gRPC code's name), 2 for a usage error.
// `presence_cli --help` lists the commands, `presence_cli COMMAND --help` a
// command's flags.

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "client/cli/args.h"
#include "client/cli/output.h"
#include "client/json.h"
#include "client/presence_client.h"
#include "service/auth/token.h"
#include "service/auth/token_secrets.h"

namespace presence::cli {
namespace {

using client::Json;
using client::PresenceClient;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;  // The RPC, or the SDK's check of it, failed.
constexpr int kExitUsage = 2;

// Sends a command's RPC and returns the JSON to print.
using UnaryRun = absl::StatusOr<Json> (*)(const PresenceClient& client,
                                          const ParsedFlags& flags);

struct Command {
  const char* name;
  const char* summary;          // One short line, for the list of commands.
  const char* details;          // More for the command's help; may be "".
  std::vector<FlagSpec> flags;  // Besides the common flags.
  // Whether --channels or --channel-groups must name something: the server
  // needs one for these RPCs, and a usage error says so more plainly.
  bool needs_channels;
  const char* example;
  UnaryRun run;  // Null for watch, which streams.
};

template <typename Result>
absl::StatusOr<Json> AsJson(const absl::StatusOr<Result>& result) {
  if (!result.ok()) return result.status();
  return ToJson(*result);
}

// For RPCs whose response is empty: prints {}.
absl::StatusOr<Json> AsJson(const absl::Status& status) {
  if (!status.ok()) return status;
  return Json(Json::Object());
}

absl::StatusOr<Json> HereNow(const PresenceClient& client,
                             const ParsedFlags& flags) {
  return AsJson(client.here_now()
                    .channels(flags.GetList("channels"))
                    .channel_groups(flags.GetList("channel-groups"))
                    .include_user_ids(flags.GetBool("include-user-ids"))
                    .include_state(flags.GetBool("include-state"))
                    .limit(flags.GetUint32("limit"))
                    .offset(flags.GetUint32("offset"))
                    .execute());
}

absl::StatusOr<Json> WhereNow(const PresenceClient& client,
                              const ParsedFlags& flags) {
  return AsJson(
      client.where_now().user_id(flags.GetString("user-id")).execute());
}

absl::StatusOr<Json> Heartbeat(const PresenceClient& client,
                               const ParsedFlags& flags) {
  client::HeartbeatCall call =
      client.heartbeat()
          .user_id(flags.GetString("user-id"))
          .channels(flags.GetList("channels"))
          .channel_groups(flags.GetList("channel-groups"))
          .session_id(flags.GetString("session-id"))
          .timeout_seconds(flags.GetUint32("timeout-seconds"));
  if (flags.Has("state")) {
    // One --state for every name given: the request keys state by channel
    // or group, and per-name state is what set-state is for.
    for (const char* names : {"channels", "channel-groups"}) {
      for (const std::string& name : flags.GetList(names)) {
        call.state(name, flags.GetJson("state"));
      }
    }
  }
  return AsJson(call.execute());
}

absl::StatusOr<Json> Leave(const PresenceClient& client,
                           const ParsedFlags& flags) {
  return AsJson(client.leave()
                    .user_id(flags.GetString("user-id"))
                    .channels(flags.GetList("channels"))
                    .channel_groups(flags.GetList("channel-groups"))
                    .session_id(flags.GetString("session-id"))
                    .execute());
}

absl::StatusOr<Json> SetState(const PresenceClient& client,
                              const ParsedFlags& flags) {
  return AsJson(client.set_presence_state(flags.GetJson("state"))
                    .user_id(flags.GetString("user-id"))
                    .channels(flags.GetList("channels"))
                    .channel_groups(flags.GetList("channel-groups"))
                    .execute());
}

absl::StatusOr<Json> GetState(const PresenceClient& client,
                              const ParsedFlags& flags) {
  return AsJson(client.get_presence_state()
                    .user_id(flags.GetString("user-id"))
                    .channels(flags.GetList("channels"))
                    .channel_groups(flags.GetList("channel-groups"))
                    .execute());
}

absl::StatusOr<Json> AddChannels(const PresenceClient& client,
                                 const ParsedFlags& flags) {
  return AsJson(client.add_channels_to_group(flags.GetString("group"))
                    .channels(flags.GetList("channels"))
                    .execute());
}

absl::StatusOr<Json> RemoveChannels(const PresenceClient& client,
                                    const ParsedFlags& flags) {
  return AsJson(client.remove_channels_from_group(flags.GetString("group"))
                    .channels(flags.GetList("channels"))
                    .execute());
}

absl::StatusOr<Json> ListChannels(const PresenceClient& client,
                                  const ParsedFlags& flags) {
  return AsJson(
      client.list_channels_in_group(flags.GetString("group")).execute());
}

absl::StatusOr<Json> ListGroups(const PresenceClient& client,
                                const ParsedFlags& flags) {
  return AsJson(client.list_groups().execute());
}

absl::StatusOr<Json> DeleteGroup(const PresenceClient& client,
                                 const ParsedFlags& flags) {
  return AsJson(client.delete_group(flags.GetString("group")).execute());
}

// The claims the grant flags ask for (expiry not set), or INVALID_ARGUMENT.
absl::StatusOr<auth::Claims> GrantClaims(const ParsedFlags& flags) {
  auth::Claims claims;
  claims.user_id = flags.GetString("user-id");
  claims.presence_admin = flags.GetBool("presence-admin");
  claims.admin = flags.GetBool("admin");
  const struct {
    const char* flag;
    auth::Permission permission;
    bool groups;
  } kGrantFlags[] = {
      {"read", auth::kRead, false},
      {"write", auth::kWrite, false},
      {"manage", auth::kManage, false},
      {"read-groups", auth::kRead, true},
      {"write-groups", auth::kWrite, true},
      {"manage-groups", auth::kManage, true},
  };
  for (const auto& grant : kGrantFlags) {
    for (std::string name : flags.GetList(grant.flag)) {
      std::map<std::string, auth::Permissions>* grants =
          grant.groups ? &claims.groups : &claims.channels;
      // Names cannot contain '*': a trailing one marks a prefix.
      if (!grant.groups && !name.empty() && name.back() == '*') {
        name.pop_back();
        grants = &claims.channel_prefixes;
      }
      if (name.empty() || name.find('*') != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", grant.flag, ": \"", name, "\" is not a name",
                         grant.groups ? "" : " or a prefix ending in *"));
      }
      (*grants)[name] |= grant.permission;
    }
  }
  return claims;
}

absl::StatusOr<Json> Grant(const PresenceClient& client,
                           const ParsedFlags& flags) {
  absl::StatusOr<auth::Claims> claims = GrantClaims(flags);
  if (!claims.ok()) return claims.status();
  const absl::Duration ttl = flags.GetDuration("ttl");
  if (flags.Has("secret-file")) {
    // Offline: signed here with the server's first secret, no RPC.
    absl::StatusOr<auth::TokenSecrets> secrets =
        auth::TokenSecrets::FromFile(flags.GetString("secret-file"));
    if (!secrets.ok()) return secrets.status();
    absl::StatusOr<auth::MintedToken> minted =
        secrets->Mint(*std::move(claims), absl::Now(), ttl);
    if (!minted.ok()) return minted.status();
    return ToJson(client::GrantTokenResult{minted->token, minted->expires});
  }
  client::GrantTokenCall call = client.grant_token()
                                    .ttl(ttl)
                                    .authorized_user_id(claims->user_id)
                                    .presence_admin(claims->presence_admin)
                                    .admin(claims->admin);
  const auto permissions = [](auth::Permissions bits) {
    return client::TokenPermissions{(bits & auth::kRead) != 0,
                                    (bits & auth::kWrite) != 0,
                                    (bits & auth::kManage) != 0};
  };
  for (const auto& [name, bits] : claims->channels) {
    call.channels({name}, permissions(bits));
  }
  for (const auto& [prefix, bits] : claims->channel_prefixes) {
    call.channel_prefixes({prefix}, permissions(bits));
  }
  for (const auto& [name, bits] : claims->groups) {
    call.channel_groups({name}, permissions(bits));
  }
  return AsJson(call.execute());
}

const std::vector<Command>& Commands() {
  static const auto* const kCommands = [] {
    const FlagSpec user_id = {"user-id", FlagType::kString, "", "the user",
                              /*required=*/true};
    const FlagSpec channels = {"channels", FlagType::kList, "", "channels"};
    const FlagSpec groups = {"channel-groups", FlagType::kList, "",
                             "channel groups (their channels at call time)"};
    const FlagSpec session_id = {"session-id", FlagType::kString, "",
                                 "the session (device, tab); none means the "
                                 "default session"};
    const FlagSpec group = {"group", FlagType::kString, "", "the channel group",
                            /*required=*/true};
    return new std::vector<Command>{
        {"here-now",
         "Lists channels' occupancy and occupants.",
         "With no channels and no groups, lists every occupied channel.",
         {channels,
          groups,
          {"include-user-ids", FlagType::kBool, "true", "list the occupants"},
          {"include-state", FlagType::kBool, "false",
           "include each occupant's state"},
          {"limit", FlagType::kUint32, "0",
           "occupants listed per channel; 0 means 1000, the maximum"},
          {"offset", FlagType::kUint32, "0",
           "occupants skipped per channel (ordered by user_id)"}},
         false,
         "presence_cli here-now --target=127.0.0.1:50051 "
         "--channels=lobby,hall --include-state",
         HereNow},
        {"where-now",
         "Lists the channels where a user is present.",
         "",
         {user_id},
         false,
         "presence_cli where-now --user-id=alice",
         WhereNow},
        {"heartbeat",
         "Announces or keeps alive a user's presence on channels.",
         "Acts for one session (--session-id), with the session's presence "
         "timeout (--timeout-seconds), and optionally sets the same --state "
         "on every channel and group named (use set-state for different "
         "states).",
         {user_id,
          channels,
          groups,
          session_id,
          {"timeout-seconds", FlagType::kUint32, "0",
           "presence timeout; 0 means the server's (300 unless configured)"},
          {"state", FlagType::kJsonObject, "",
           "a JSON object: the state to set on every channel and group "
           "named"}},
         true,
         "presence_cli heartbeat --target=127.0.0.1:50051 --user-id=alice "
         "--channels=lobby --state='{\"mood\":\"happy\"}'",
         Heartbeat},
        {"leave",
         "Ends a session's presence on channels now.",
         "",
         {user_id, channels, groups, session_id},
         true,
         "presence_cli leave --user-id=alice --channels=lobby",
         Leave},
        {"set-state",
         "Replaces a user's state on channels.",
         "The user must be present on each channel named (else "
         "FAILED_PRECONDITION); on a group's channels, the state is set "
         "where the user is present.",
         {user_id,
          channels,
          groups,
          {"state", FlagType::kJsonObject, "", "a JSON object: the new state",
           /*required=*/true}},
         true,
         "presence_cli set-state --user-id=alice --channels=lobby "
         "--state='{\"mood\":\"busy\"}'",
         SetState},
        {"get-state",
         "Reads a user's state on channels.",
         "Lists the channels named (or of the groups named) where the user "
         "is present.",
         {user_id, channels, groups},
         true,
         "presence_cli get-state --user-id=alice --channels=lobby",
         GetState},
        {"add-channels",
         "Adds channels to a channel group.",
         "Creates the group if needed. Prints {}.",
         {group, {"channels", FlagType::kList, "", "channels to add", true}},
         false,
         "presence_cli add-channels --group=friends --channels=lobby,hall",
         AddChannels},
        {"remove-channels",
         "Removes channels from a channel group.",
         "Removing the last one deletes the group. Prints {}.",
         {group, {"channels", FlagType::kList, "", "channels to remove", true}},
         false,
         "presence_cli remove-channels --group=friends --channels=hall",
         RemoveChannels},
        {"list-channels",
         "Lists a channel group's channels.",
         "",
         {group},
         false,
         "presence_cli list-channels --group=friends",
         ListChannels},
        {"list-groups",
         "Lists every channel group.",
         "",
         {},
         false,
         "presence_cli list-groups",
         ListGroups},
        {"delete-group",
         "Deletes a channel group.",
         "Prints {}.",
         {group},
         false,
         "presence_cli delete-group --group=friends",
         DeleteGroup},
        {"grant",
         "Mints an access token, offline or with the GrantToken RPC.",
         "With --secret-file (the server's --auth_secret_file), signs the "
         "token here and sends nothing; without it, asks the server "
         "(AccessService.GrantToken), which needs an admin --token. Prints "
         "{\"token\":...,\"expire_time\":...}. Channel grants ending in * "
         "cover every channel starting with what precedes it. Send the token "
         "with --token or as \"authorization: Bearer <token>\" metadata.",
         {{"secret-file", FlagType::kString, "",
           "file of the server's token secrets (its first line signs): mint "
           "offline"},
          {"ttl", FlagType::kDuration, "",
           "the token's lifetime (1s to 365 "
           "days)",
           /*required=*/true},
          {"user-id", FlagType::kString, "",
           "bind the token to this user (it acts only as this user)"},
          {"read", FlagType::kList, "",
           "channels (or prefixes*) to read: HereNow, GetState, WatchEvents"},
          {"write", FlagType::kList, "",
           "channels (or prefixes*) to write: Heartbeat, Leave, SetState"},
          {"manage", FlagType::kList, "",
           "channels (or prefixes*) that may be added to groups"},
          {"read-groups", FlagType::kList, "", "channel groups to read"},
          {"write-groups", FlagType::kList, "", "channel groups to write"},
          {"manage-groups", FlagType::kList, "",
           "channel groups to manage (add, remove, delete)"},
          {"presence-admin", FlagType::kBool, "false",
           "read everything: the global HereNow, the firehose, WhereNow of "
           "anyone, ListGroups"},
          {"admin", FlagType::kBool, "false",
           "every RPC, including GrantToken"}},
         false,
         "presence_cli grant --secret-file=/etc/presence/secrets --ttl=24h "
         "--user-id=alice --write=lobby --read=lobby,room-*",
         Grant},
        {"watch",
         "Prints presence events as they happen.",
         "Watches the channels and groups named, or with neither every "
         "channel. Once the server has registered the watch, prints "
         "\"presence_cli: watch registered\" on stderr; from then on every "
         "event is printed on stdout as one JSON object per line. Runs until "
         "SIGINT or SIGTERM, or until --deadline if one is given, and then "
         "exits 0; if the stream fails (e.g. UNAVAILABLE when the server "
         "shuts down), exits 1.",
         {channels, groups},
         false,
         "presence_cli watch --channels=lobby",
         nullptr},
    };
  }();
  return *kCommands;
}

// The flags every command takes, before its own in the help.
std::vector<FlagSpec> CommonFlags(bool streaming) {
  return {
      {"target", FlagType::kString, "127.0.0.1:50051",
       "the server's address (a gRPC target)"},
      {"tls", FlagType::kBool, "false",
       "connect with TLS (implied by --ca-cert, --cert and --key)"},
      {"ca-cert", FlagType::kString, "",
       "PEM file of the CA that signed the server's certificate; none means "
       "the system's roots"},
      {"cert", FlagType::kString, "",
       "PEM file of this client's certificate, for mutual TLS"},
      {"key", FlagType::kString, "", "PEM file of --cert's private key"},
      {"token", FlagType::kString, "",
       "access token, sent as \"authorization: Bearer <token>\" (default: "
       "$PRESENCE_TOKEN)"},
      streaming ? FlagSpec{"deadline", FlagType::kDuration, "",
                           "stop watching after this long; none means "
                           "until SIGINT or SIGTERM"}
                : FlagSpec{"deadline", FlagType::kDuration, "10s",
                           "the RPC's deadline"},
  };
}

std::string ToolHelp() {
  std::string help =
      "presence_cli: a command-line client of the presence service.\n\n"
      "Usage: presence_cli COMMAND [--flag=value | --flag value]...\n\n"
      "Commands:\n";
  for (const Command& command : Commands()) {
    std::string name = absl::StrCat("  ", command.name);
    name.resize(20, ' ');
    absl::StrAppend(&help, name, command.summary, "\n");
  }
  absl::StrAppend(
      &help, "\nCommon flags:\n", FormatFlagHelp(CommonFlags(false)),
      "  --help                      this help, or a command's\n\n",
      WrapText("Output: one compact JSON document per call on stdout; watch "
               "prints one JSON object per event and line. Exit status: 0 on "
               "success, 1 when the call fails (stderr: \"error: CODE: "
               "message\", CODE being the gRPC status code's name), 2 for a "
               "usage error.",
               0),
      "\n\nRun 'presence_cli COMMAND --help' for a command's flags and an "
      "example.\n");
  return help;
}

std::string CommandHelp(const Command& command) {
  std::string description = command.summary;
  if (*command.details != '\0') {
    absl::StrAppend(&description, " ", command.details);
  }
  if (command.needs_channels) {
    absl::StrAppend(&description,
                    " Needs --channels or --channel-groups (or both).");
  }
  return absl::StrCat(
      "Usage: presence_cli ", command.name, " [flags]\n\n",
      WrapText(description, 0), "\n\nFlags:\n",
      command.flags.empty() ? "  (none)\n" : FormatFlagHelp(command.flags),
      "\nCommon flags:\n", FormatFlagHelp(CommonFlags(command.run == nullptr)),
      "\nExample:\n  ", command.example, "\n");
}

int Fail(const absl::Status& status) {
  std::cerr << "error: " << absl::StatusCodeToString(status.code()) << ": "
            << status.message() << "\n";
  return kExitFailed;
}

int UsageError(const std::string& command, absl::string_view message) {
  std::cerr << "presence_cli" << (command.empty() ? "" : " ") << command << ": "
            << message << "\nRun 'presence_cli " << command
            << (command.empty() ? "" : " ") << "--help' for usage.\n";
  return kExitUsage;
}

// SIGINT and SIGTERM cancel a watch's stream, so that it ends normally (exit
// status 0). The signals are blocked in every thread (gRPC's threads inherit
// the mask) and taken with sigwait() by a thread of their own, where calling
// into gRPC is safe, unlike in a signal handler. SIGUSR1, blocked as well,
// wakes that thread to stop it.
struct Interrupt {
  std::mutex mu;
  client::EventStream* stream = nullptr;  // Guarded by mu; set once open.
  bool interrupted = false;               // Guarded by mu.
  bool done = false;                      // Guarded by mu; stops the thread.
};

constexpr int kWakeSignal = SIGUSR1;

void CancelOnSignal(sigset_t signals, Interrupt* interrupt) {
  while (true) {
    int signal = 0;
    if (sigwait(&signals, &signal) != 0) return;
    std::lock_guard<std::mutex> lock(interrupt->mu);
    if (interrupt->done) return;
    if (signal == kWakeSignal) continue;
    if (interrupt->stream == nullptr || interrupt->interrupted) {
      // Opening a watch cannot be interrupted, and a second signal means
      // the cancellation is not enough: leave now, as the signal would.
      std::fputs("presence_cli: interrupted\n", stderr);
      std::_Exit(128 + signal);
    }
    interrupt->interrupted = true;
    interrupt->stream->Cancel();
  }
}

// The client options of the common flags: the target, TLS credentials and
// the token.
absl::StatusOr<PresenceClient::Options> ClientOptions(
    const ParsedFlags& flags) {
  PresenceClient::Options options;
  options.target = flags.GetString("target");
  if (flags.GetBool("tls") || flags.Has("ca-cert") || flags.Has("cert") ||
      flags.Has("key")) {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        client::TlsCredentialsFromFiles(flags.GetString("ca-cert"),
                                        flags.GetString("cert"),
                                        flags.GetString("key"));
    if (!credentials.ok()) return credentials.status();
    options.credentials = *std::move(credentials);
  }
  options.auth_token = flags.GetString("token");
  if (!flags.Has("token")) {
    if (const char* token = std::getenv("PRESENCE_TOKEN")) {
      options.auth_token = token;
    }
  }
  return options;
}

int Watch(const ParsedFlags& flags) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, kWakeSignal);
  // Before the client exists, so that no gRPC thread takes the signals.
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  Interrupt interrupt;
  std::thread signal_thread(CancelOnSignal, signals, &interrupt);

  absl::StatusOr<PresenceClient::Options> options = ClientOptions(flags);
  if (!options.ok()) return Fail(options.status());
  PresenceClient client(*std::move(options));
  client::WatchCall call = client.watch()
                               .channels(flags.GetList("channels"))
                               .channel_groups(flags.GetList("channel-groups"));
  const bool has_deadline = flags.Has("deadline");
  if (has_deadline) call.timeout(flags.GetDuration("deadline"));
  absl::StatusOr<std::unique_ptr<client::EventStream>> stream = call.open();
  absl::Status status;
  if (stream.ok()) {
    {
      std::lock_guard<std::mutex> lock(interrupt.mu);
      interrupt.stream = stream->get();
    }
    // On stderr so that stdout stays JSON; scripts wait for it before
    // causing the events they expect.
    std::cerr << "presence_cli: watch registered; printing events until "
              << (has_deadline ? "the deadline, " : "") << "SIGINT or SIGTERM"
              << std::endl;
    client::WatchEvent event;
    while ((*stream)->Next(&event)) {
      std::cout << ToJson(event).Dump() << std::endl;  // Flushes each event.
    }
    status = (*stream)->Finish();
  } else {
    status = stream.status();
  }

  bool interrupted = false;
  {
    std::lock_guard<std::mutex> lock(interrupt.mu);
    interrupted = interrupt.interrupted;
    interrupt.stream = nullptr;
    interrupt.done = true;
  }
  pthread_kill(signal_thread.native_handle(), kWakeSignal);
  signal_thread.join();

  if ((interrupted && status.code() == absl::StatusCode::kCancelled) ||
      (has_deadline && status.code() == absl::StatusCode::kDeadlineExceeded)) {
    return kExitOk;
  }
  return Fail(status);
}

int Run(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::cerr << ToolHelp();
    return kExitUsage;
  }
  const std::string& name = args[0];
  if (name == "--help" || name == "-h" || name == "help") {
    if (name == "help" && args.size() > 1) {
      return Run({args[1], "--help"});
    }
    std::cout << ToolHelp();
    return kExitOk;
  }
  const Command* command = nullptr;
  for (const Command& candidate : Commands()) {
    if (name == candidate.name) command = &candidate;
  }
  if (command == nullptr) {
    return UsageError("", absl::StrCat("unknown command \"", name, "\""));
  }
  const absl::Span<const std::string> flag_args =
      absl::MakeConstSpan(args).subspan(1);
  for (const std::string& arg : flag_args) {
    if (arg == "--help" || arg == "-h") {
      std::cout << CommandHelp(*command);
      return kExitOk;
    }
  }

  std::vector<FlagSpec> specs = CommonFlags(command->run == nullptr);
  specs.insert(specs.end(), command->flags.begin(), command->flags.end());
  absl::StatusOr<ParsedFlags> flags = ParseFlags(specs, flag_args);
  if (!flags.ok()) return UsageError(name, flags.status().message());
  if (command->needs_channels && flags->GetList("channels").empty() &&
      flags->GetList("channel-groups").empty()) {
    return UsageError(name, "give --channels or --channel-groups (or both)");
  }

  if (command->run == nullptr) return Watch(*flags);
  absl::StatusOr<PresenceClient::Options> options = ClientOptions(*flags);
  if (!options.ok()) return Fail(options.status());
  options->timeout = flags->GetDuration("deadline");
  PresenceClient client(*std::move(options));
  absl::StatusOr<Json> output = command->run(client, *flags);
  if (!output.ok()) return Fail(output.status());
  std::cout << output->Dump() << std::endl;
  if (!std::cout) {
    std::cerr << "presence_cli: cannot write to stdout\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace
}  // namespace presence::cli

int main(int argc, char** argv) {
  return presence::cli::Run(std::vector<std::string>(argv + 1, argv + argc));
}
