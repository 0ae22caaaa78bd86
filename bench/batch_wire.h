// BatchHeartbeat on the wire, for S8. The load generator serializes a few
// v1::BatchHeartbeatRequests up front (presence.proto's generated types) and
// sends them through gRPC's generic API, so the client spends nothing per
// entry; answers are counted by scanning the serialized
// BatchHeartbeatResponse for each result's code, without parsing it into
// messages (1,000 results per call would cost the client as much as the
// server's work).
#ifndef BENCH_BATCH_WIRE_H_
#define BENCH_BATCH_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace presence::bench {

inline constexpr char kBatchHeartbeatMethod[] =
    "/presence.v1.PresenceService/BatchHeartbeat";

// Reads a varint at `*pos`; false if the input ends first.
inline bool ReadVarint(absl::string_view in, size_t* pos, uint64_t* value) {
  *value = 0;
  for (int shift = 0; shift < 64 && *pos < in.size(); shift += 7) {
    const uint8_t byte = static_cast<uint8_t>(in[(*pos)++]);
    *value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// Calls fn(field, wire_type, varint, payload) for each top-level field of a
// message (payload: the bytes of a length-delimited field, empty otherwise;
// varints are passed in `varint`). Returns false on malformed input.
template <typename Fn>
bool ForEachField(absl::string_view message, Fn fn) {
  size_t pos = 0;
  while (pos < message.size()) {
    uint64_t key = 0;
    if (!ReadVarint(message, &pos, &key)) return false;
    const int field = static_cast<int>(key >> 3);
    const int type = static_cast<int>(key & 7);
    uint64_t varint = 0;
    absl::string_view payload;
    switch (type) {
      case 0:
        if (!ReadVarint(message, &pos, &varint)) return false;
        break;
      case 1:
        pos += 8;
        break;
      case 2: {
        uint64_t length = 0;
        if (!ReadVarint(message, &pos, &length) ||
            length > message.size() - pos)
          return false;
        payload = message.substr(pos, length);
        pos += length;
        break;
      }
      case 5:
        pos += 4;
        break;
      default:
        return false;
    }
    if (pos > message.size()) return false;
    fn(field, type, varint, payload);
  }
  return true;
}

}  // namespace presence::bench

#endif  // BENCH_BATCH_WIRE_H_
