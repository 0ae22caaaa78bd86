// libFuzzer target: request validation and the state JSON parser, through the
// Presence facade onto a memory store (scripts/fuzz.sh builds and runs it).
//
// The input is split at 0x00 bytes into fields: an operation selector, a
// user id, channel names, a session id, a group name and state JSON. Each
// operation must either be refused with INVALID_ARGUMENT (and change
// nothing) or succeed; and a state the validator accepts must be canonical:
// validating its canonical form gives the same text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "presence/clock.h"
#include "presence/internal/validation.h"
#include "presence/limits.h"
#include "presence/presence.h"
#include "presence/store/memory/memory_store.h"

namespace presence {
namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

void FuzzOne(absl::string_view data) {
  static SimulatedClock* const clock =
      new SimulatedClock(absl::FromUnixSeconds(1'800'000'000));
  static PresenceStore* const store =
      NewMemoryStore(MemoryStoreOptions(), clock).release();
  static Presence* const presence = new Presence(store, Limits());

  std::vector<std::string> fields =
      absl::StrSplit(data, absl::MaxSplits('\0', 6));
  fields.resize(7);
  const uint8_t op = fields[0].empty() ? 0 : uint8_t(fields[0][0]);
  const std::string& user = fields[1];
  std::vector<std::string> channels = absl::StrSplit(fields[2], ',');
  const std::string& session = fields[3];
  const std::string& group = fields[4];
  const std::string& state = fields[5];

  // The state validator: accepted states are canonical and stable.
  absl::StatusOr<std::string> canonical =
      CanonicalState("state", state, Limits());
  if (canonical.ok()) {
    absl::StatusOr<std::string> again =
        CanonicalState("state", *canonical, Limits());
    Check(again.ok() && *again == *canonical);
  } else {
    Check(canonical.status().code() == absl::StatusCode::kInvalidArgument);
  }

  const auto valid = [](const absl::Status& status) {
    Check(status.ok() || status.code() == absl::StatusCode::kInvalidArgument ||
          status.code() == absl::StatusCode::kNotFound ||
          status.code() == absl::StatusCode::kFailedPrecondition);
  };
  switch (op % 6) {
    case 0: {
      HeartbeatRequest request;
      request.user_id = user;
      request.channels = channels;
      request.session_id = session;
      request.timeout_seconds = op % 3 == 0 ? 0 : 60;
      if (!group.empty()) request.channel_groups = {group};
      if (!channels.empty()) request.states = {{channels[0], state}};
      valid(presence->Heartbeat(request).status());
      break;
    }
    case 1: {
      LeaveRequest request;
      request.user_id = user;
      request.channels = channels;
      request.session_id = session;
      valid(presence->Leave(request).status());
      break;
    }
    case 2: {
      SetStateRequest request;
      request.user_id = user;
      request.channels = channels;
      request.state = state;
      valid(presence->SetState(request).status());
      break;
    }
    case 3: {
      HereNowRequest request;
      request.channels = channels;
      request.include_state = true;
      request.limit = uint32_t(fields[6].size());
      request.offset = uint32_t(session.size());
      absl::StatusOr<HereNowResult> result = presence->HereNow(request);
      valid(result.status());
      if (result.ok()) {
        uint64_t total = 0;
        for (const ChannelOccupancy& channel : result->channels) {
          Check(channel.occupants.size() <= channel.occupancy);
          total += channel.occupancy;
        }
        Check(total == result->total_occupancy);
      }
      break;
    }
    case 4:
      valid(presence->AddChannelsToGroup(group, channels));
      break;
    case 5: {
      valid(presence->WhereNow({user}).status());
      clock->Advance(absl::Seconds(op));
      Check(store->ExpireSessions().ok());
      break;
    }
  }
}

}  // namespace
}  // namespace presence

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  presence::FuzzOne(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
