// Conversions between Json and protobuf's well-known google.protobuf.Struct
// and google.protobuf.Value, which carry free-form JSON in the presence API.
//
//   absl::StatusOr<google::protobuf::Struct> proto =
//       ToStruct(Json::object({{"mood", "happy"}}));
//   if (!proto.ok()) return proto.status();
//   Json state = FromStruct(*proto);
//
// The mapping is the one protobuf documents for JSON: null, bool, number
// (double), string, list and struct. A Struct cannot hold NaN or infinities.
//
// Thread safety: these are pure functions of their arguments.

#ifndef PRESENCE_CLIENT_JSON_STRUCT_H_
#define PRESENCE_CLIENT_JSON_STRUCT_H_

#include "absl/status/statusor.h"
#include "client/json.h"
#include "google/protobuf/struct.pb.h"

namespace presence::client {

// Returns `json` as a Struct, or INVALID_ARGUMENT if `json` is not an object
// or holds a non-finite number (the message names where, as a JSON pointer).
absl::StatusOr<google::protobuf::Struct> ToStruct(const Json& json);

// Returns `json` as a Value, or INVALID_ARGUMENT if it holds a non-finite
// number.
absl::StatusOr<google::protobuf::Value> ToValue(const Json& json);

// Returns the Json object that `proto` holds.
Json FromStruct(const google::protobuf::Struct& proto);

// Returns the Json that `proto` holds; a Value with no kind set is null.
Json FromValue(const google::protobuf::Value& proto);

}  // namespace presence::client

#endif  // PRESENCE_CLIENT_JSON_STRUCT_H_
