// Conversion between google.protobuf.Struct (state on the wire) and the
// compact JSON text the presence library stores.
//
//   std::string json;
//   absl::Status s = StructToJson(request.state(), "state", &json);
//   ...
//   JsonToStruct(stored_state, response.mutable_state());
#ifndef SERVICE_GRPC_STRUCT_JSON_H_
#define SERVICE_GRPC_STRUCT_JSON_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"

namespace presence {

// Serializes `value` as compact JSON, keys sorted, into `*json`.
// INVALID_ARGUMENT naming `field` for NaN or infinite numbers, or nesting
// deeper than `max_depth` levels (pass more than the library's limit so the
// library reports the limit; this only bounds the walk).
absl::Status StructToJson(const google::protobuf::Struct& value,
                          absl::string_view field, int max_depth,
                          std::string* json);

// Parses JSON object text produced by StructToJson (or stored by a store)
// into `*out`. INTERNAL if it is not a JSON object: stored state is always
// valid, so a failure is a bug, not bad input.
absl::Status JsonToStruct(absl::string_view json,
                          google::protobuf::Struct* out);

}  // namespace presence

#endif  // SERVICE_GRPC_STRUCT_JSON_H_
