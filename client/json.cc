#include "client/json.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "presence/base/exact_json.h"
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace presence::client {
namespace {

constexpr const char* kTypeNames[] = {"null",   "bool",  "number",
                                      "string", "array", "object"};

// Builds a Json from RapidJSON's SAX events. Containers being filled are kept
// on an explicit stack, so that with the iterative reader no nesting depth
// recurses on the machine stack.
class TreeBuilder
    : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, TreeBuilder> {
 public:
  bool Null() { return Add(Json()); }
  bool Bool(bool value) { return Add(Json(value)); }
  bool Int(int value) { return Add(Json(value)); }
  bool Uint(unsigned value) { return Add(Json(value)); }
  bool Int64(int64_t value) { return Add(Json(value)); }
  bool Uint64(uint64_t value) { return Add(Json(value)); }
  bool Double(double value) { return Add(Json(value)); }
  // Numbers arrive as text (kParseNumbersAsStringsFlag) and are converted
  // exactly: RapidJSON's own conversion may be an ulp off, and its
  // full-precision one misreads long fractions.
  bool RawNumber(const char* text, rapidjson::SizeType size, bool /*copy*/) {
    if (ConvertJsonNumber(absl::string_view(text, size), *this)) return true;
    out_of_range_ = true;
    return false;
  }
  bool String(const char* text, rapidjson::SizeType size, bool /*copy*/) {
    return Add(Json(std::string(text, size)));
  }
  bool Key(const char* text, rapidjson::SizeType size, bool /*copy*/) {
    keys_.back().assign(text, size);
    return true;
  }
  bool StartObject() { return Open(Json::Object()); }
  bool EndObject(rapidjson::SizeType /*members*/) { return Close(); }
  bool StartArray() { return Open(Json::Array()); }
  bool EndArray(rapidjson::SizeType /*elements*/) { return Close(); }

  // Whether parsing stopped because the input nests too deeply, or at a
  // number beyond a double's range.
  bool too_deep() const { return too_deep_; }
  bool out_of_range() const { return out_of_range_; }
  Json TakeRoot() { return std::move(root_); }

 private:
  bool Open(Json container) {
    if (open_.size() >= Json::kMaxParseDepth) {
      too_deep_ = true;
      return false;
    }
    open_.push_back(std::move(container));
    keys_.emplace_back();
    return true;
  }

  bool Close() {
    Json done = std::move(open_.back());
    open_.pop_back();
    keys_.pop_back();
    return Add(std::move(done));
  }

  bool Add(Json value) {
    if (open_.empty()) {
      root_ = std::move(value);
    } else if (open_.back().is_array()) {
      open_.back().as_array().push_back(std::move(value));
    } else {
      open_.back().as_object().insert_or_assign(keys_.back(), std::move(value));
    }
    return true;
  }

  // The arrays and objects being filled, outermost first, and for each the
  // name of the member whose value comes next (objects only).
  std::vector<Json> open_;
  std::vector<std::string> keys_;
  Json root_;
  bool too_deep_ = false;
  bool out_of_range_ = false;
};

void Write(const Json& json, rapidjson::Writer<rapidjson::StringBuffer>& out) {
  switch (json.type()) {
    case Json::Type::kNull:
      out.Null();
      return;
    case Json::Type::kBool:
      out.Bool(json.as_bool());
      return;
    case Json::Type::kNumber: {
      // Doubles hold every integer below 2^53 exactly.
      constexpr double kExactIntegerLimit = 9007199254740992.0;
      const double number = json.as_number();
      if (!std::isfinite(number)) {
        out.Null();
      } else if (std::trunc(number) == number &&
                 std::fabs(number) < kExactIntegerLimit) {
        out.Int64(static_cast<int64_t>(number));
      } else {
        out.Double(number);
      }
      return;
    }
    case Json::Type::kString:
      out.String(json.as_string().data(),
                 static_cast<rapidjson::SizeType>(json.as_string().size()));
      return;
    case Json::Type::kArray:
      out.StartArray();
      for (const Json& element : json.as_array()) Write(element, out);
      out.EndArray();
      return;
    case Json::Type::kObject:
      out.StartObject();
      for (const auto& [name, member] : json.as_object()) {
        out.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
        Write(member, out);
      }
      out.EndObject();
      return;
  }
}

absl::Status ParseError(size_t offset, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid JSON at offset ", offset, ": ", what));
}

}  // namespace

absl::StatusOr<Json> Json::Parse(absl::string_view text) {
  // RapidJSON's streams treat NUL as the end of input, and valid JSON text
  // never contains one (strings escape it as \u0000).
  if (size_t nul = text.find('\0'); nul != absl::string_view::npos) {
    return ParseError(nul, "NUL byte");
  }
  constexpr unsigned kFlags = rapidjson::kParseIterativeFlag |
                              rapidjson::kParseValidateEncodingFlag |
                              rapidjson::kParseNumbersAsStringsFlag;
  rapidjson::MemoryStream stream(text.data(), text.size());
  TreeBuilder builder;
  rapidjson::Reader reader;
  rapidjson::ParseResult result = reader.Parse<kFlags>(stream, builder);
  if (builder.too_deep()) {
    return ParseError(result.Offset(), absl::StrCat("nested deeper than ",
                                                    kMaxParseDepth, " levels"));
  }
  if (builder.out_of_range()) {
    return ParseError(result.Offset(), "number beyond a double's range");
  }
  if (result.IsError()) {
    return ParseError(result.Offset(),
                      rapidjson::GetParseError_En(result.Code()));
  }
  return builder.TakeRoot();
}

std::string Json::Dump() const {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  Write(*this, writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

Json& Json::operator[](const std::string& key) {
  if (is_null()) value_ = Object();
  return as_object()[key];
}

const Json* Json::find(const std::string& key) const {
  const Object* object = std::get_if<Object>(&value_);
  if (object == nullptr) return nullptr;
  auto it = object->find(key);
  return it == object->end() ? nullptr : &it->second;
}

Json* Json::find(const std::string& key) {
  return const_cast<Json*>(static_cast<const Json&>(*this).find(key));
}

void Json::DieOfTypeMismatch(Type wanted) const {
  std::fprintf(stderr, "presence::client::Json: value is %s, not %s\n",
               kTypeNames[static_cast<int>(type())],
               kTypeNames[static_cast<int>(wanted)]);
  std::abort();
}

}  // namespace presence::client
