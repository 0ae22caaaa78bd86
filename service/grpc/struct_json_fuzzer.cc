// libFuzzer target: the state converter between google.protobuf.Struct (the
// wire) and compact JSON (what stores keep), scripts/fuzz.sh builds and runs
// it. The input is read both as a serialized Struct and as JSON text. A
// Struct the converter accepts must round-trip: JSON -> Struct -> JSON gives
// the same text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"
#include "service/grpc/struct_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  google::protobuf::Struct wire;
  if (wire.ParseFromArray(data, static_cast<int>(size))) {
    std::string json;
    if (presence::StructToJson(wire, "state", 17, &json).ok()) {
      google::protobuf::Struct back;
      if (!presence::JsonToStruct(json, &back).ok()) std::abort();
      std::string again;
      if (!presence::StructToJson(back, "state", 17, &again).ok() ||
          again != json) {
        std::abort();
      }
    }
  }
  google::protobuf::Struct parsed;
  (void)presence::JsonToStruct(bytes, &parsed);
  return 0;
}
