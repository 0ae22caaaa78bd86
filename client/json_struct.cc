#include "client/json_struct.h"

#include <cmath>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace presence::client {
namespace {

using ::google::protobuf::ListValue;
using ::google::protobuf::Struct;
using ::google::protobuf::Value;

absl::Status FillStruct(const Json::Object& object, std::string& pointer,
                        Struct* proto);

// Stores `json` in `proto`. `pointer` is the JSON pointer (RFC 6901) of
// `json`, for error messages; it is restored before returning.
absl::Status FillValue(const Json& json, std::string& pointer, Value* proto) {
  switch (json.type()) {
    case Json::Type::kNull:
      proto->set_null_value(google::protobuf::NULL_VALUE);
      return absl::OkStatus();
    case Json::Type::kBool:
      proto->set_bool_value(json.as_bool());
      return absl::OkStatus();
    case Json::Type::kNumber:
      if (!std::isfinite(json.as_number())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "number at JSON pointer \"", pointer,
            "\" is not finite; protobuf Struct cannot hold NaN or Infinity"));
      }
      proto->set_number_value(json.as_number());
      return absl::OkStatus();
    case Json::Type::kString:
      proto->set_string_value(json.as_string());
      return absl::OkStatus();
    case Json::Type::kArray: {
      ListValue* list = proto->mutable_list_value();
      const size_t length = pointer.size();
      for (const Json& element : json.as_array()) {
        absl::StrAppend(&pointer, "/", list->values_size());
        absl::Status status = FillValue(element, pointer, list->add_values());
        if (!status.ok()) return status;
        pointer.resize(length);
      }
      return absl::OkStatus();
    }
    case Json::Type::kObject:
      return FillStruct(json.as_object(), pointer,
                        proto->mutable_struct_value());
  }
  return absl::InternalError("unknown Json type");
}

absl::Status FillStruct(const Json::Object& object, std::string& pointer,
                        Struct* proto) {
  auto& fields = *proto->mutable_fields();
  const size_t length = pointer.size();
  for (const auto& [name, member] : object) {
    absl::StrAppend(&pointer, "/",
                    absl::StrReplaceAll(name, {{"~", "~0"}, {"/", "~1"}}));
    absl::Status status = FillValue(member, pointer, &fields[name]);
    if (!status.ok()) return status;
    pointer.resize(length);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Struct> ToStruct(const Json& json) {
  if (!json.is_object()) {
    constexpr const char* kArticles[] = {"null",     "a bool",   "a number",
                                         "a string", "an array", "an object"};
    return absl::InvalidArgumentError(
        absl::StrCat("must be a JSON object, not ",
                     kArticles[static_cast<int>(json.type())]));
  }
  Struct proto;
  std::string pointer;
  absl::Status status = FillStruct(json.as_object(), pointer, &proto);
  if (!status.ok()) return status;
  return proto;
}

absl::StatusOr<Value> ToValue(const Json& json) {
  Value proto;
  std::string pointer;
  absl::Status status = FillValue(json, pointer, &proto);
  if (!status.ok()) return status;
  return proto;
}

Json FromStruct(const Struct& proto) {
  Json::Object object;
  for (const auto& [name, value] : proto.fields()) {
    object.emplace(name, FromValue(value));
  }
  return Json(std::move(object));
}

Json FromValue(const Value& proto) {
  switch (proto.kind_case()) {
    case Value::kNullValue:
    case Value::KIND_NOT_SET:
      return Json();
    case Value::kBoolValue:
      return Json(proto.bool_value());
    case Value::kNumberValue:
      return Json(proto.number_value());
    case Value::kStringValue:
      return Json(proto.string_value());
    case Value::kListValue: {
      Json::Array array;
      array.reserve(proto.list_value().values_size());
      for (const Value& element : proto.list_value().values()) {
        array.push_back(FromValue(element));
      }
      return Json(std::move(array));
    }
    case Value::kStructValue:
      return FromStruct(proto.struct_value());
  }
  return Json();
}

}  // namespace presence::client
