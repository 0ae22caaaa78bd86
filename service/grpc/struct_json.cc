#include "service/grpc/struct_json.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "presence/base/exact_json.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace presence {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

absl::Status WriteValue(const Value& value, absl::string_view field, int depth,
                        Writer& writer);

// `depth` counts the levels still allowed, including this one.
absl::Status TooDeep(absl::string_view field) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": nested too deeply"));
}

absl::Status WriteStruct(const Struct& value, absl::string_view field,
                         int depth, Writer& writer) {
  if (depth <= 0) return TooDeep(field);
  // Keys in sorted order: a protobuf map has none, and equal states must
  // serialize equally.
  std::vector<const google::protobuf::MapPair<std::string, Value>*> members;
  members.reserve(value.fields().size());
  for (const auto& member : value.fields()) members.push_back(&member);
  std::sort(members.begin(), members.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  writer.StartObject();
  for (const auto* member : members) {
    writer.Key(member->first.data(),
               static_cast<rapidjson::SizeType>(member->first.size()));
    absl::Status status = WriteValue(member->second, field, depth - 1, writer);
    if (!status.ok()) return status;
  }
  writer.EndObject();
  return absl::OkStatus();
}

absl::Status WriteList(const ListValue& value, absl::string_view field,
                       int depth, Writer& writer) {
  if (depth <= 0) return TooDeep(field);
  writer.StartArray();
  for (const Value& element : value.values()) {
    absl::Status status = WriteValue(element, field, depth - 1, writer);
    if (!status.ok()) return status;
  }
  writer.EndArray();
  return absl::OkStatus();
}

absl::Status WriteValue(const Value& value, absl::string_view field, int depth,
                        Writer& writer) {
  switch (value.kind_case()) {
    case Value::kNumberValue:
      if (!std::isfinite(value.number_value())) {
        return absl::InvalidArgumentError(absl::StrCat(
            field, ": contains NaN or Infinity, which JSON cannot represent"));
      }
      // Integral values print without a fraction, as JSON users expect.
      if (std::fabs(value.number_value()) < 9007199254740992.0 &&
          value.number_value() == std::trunc(value.number_value())) {
        writer.Int64(static_cast<int64_t>(value.number_value()));
      } else {
        writer.Double(value.number_value());
      }
      return absl::OkStatus();
    case Value::kStringValue:
      writer.String(
          value.string_value().data(),
          static_cast<rapidjson::SizeType>(value.string_value().size()));
      return absl::OkStatus();
    case Value::kBoolValue:
      writer.Bool(value.bool_value());
      return absl::OkStatus();
    case Value::kStructValue:
      return WriteStruct(value.struct_value(), field, depth, writer);
    case Value::kListValue:
      return WriteList(value.list_value(), field, depth, writer);
    case Value::kNullValue:
    case Value::KIND_NOT_SET:
      writer.Null();
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

void ReadValue(const rapidjson::Value& json, Value* out);

void ReadObject(const rapidjson::Value& json, Struct* out) {
  auto* fields = out->mutable_fields();
  for (const auto& member : json.GetObject()) {
    ReadValue(member.value,
              &(*fields)[std::string(member.name.GetString(),
                                     member.name.GetStringLength())]);
  }
}

void ReadValue(const rapidjson::Value& json, Value* out) {
  if (json.IsNull()) {
    out->set_null_value(google::protobuf::NULL_VALUE);
  } else if (json.IsBool()) {
    out->set_bool_value(json.GetBool());
  } else if (json.IsNumber()) {
    out->set_number_value(json.GetDouble());
  } else if (json.IsString()) {
    out->set_string_value(
        std::string(json.GetString(), json.GetStringLength()));
  } else if (json.IsObject()) {
    ReadObject(json, out->mutable_struct_value());
  } else {
    ListValue* list = out->mutable_list_value();
    for (const auto& element : json.GetArray())
      ReadValue(element, list->add_values());
  }
}

}  // namespace

absl::Status StructToJson(const Struct& value, absl::string_view field,
                          int max_depth, std::string* json) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  absl::Status status = WriteStruct(value, field, max_depth, writer);
  if (!status.ok()) return status;
  json->assign(buffer.GetString(), buffer.GetSize());
  return absl::OkStatus();
}

absl::Status JsonToStruct(absl::string_view json, Struct* out) {
  out->Clear();
  if (json.empty()) return absl::OkStatus();
  rapidjson::Document doc;
  // Exact numbers: RapidJSON's default conversion may be off by an ulp, and
  // a state read back must hold the numbers it was written with.
  if (ParseJsonExact(json, &doc).IsError() || !doc.IsObject()) {
    return absl::InternalError("stored state is not a JSON object");
  }
  ReadObject(doc, out);
  return absl::OkStatus();
}

}  // namespace presence
