// A JSON value, for presence state and anything else the client exchanges as
// free-form JSON.
//
// A `Json` is null, a bool, a number (a double), a string, an array or an
// object. Values convert implicitly from the matching C++ types, so state
// reads like the JSON it stands for:
//
//   Json state = Json::object({{"mood", "happy"}, {"age", 30}});
//   state["tags"] = Json::array({"admin", 7});
//   if (const Json* mood = state.find("mood"); mood && mood->is_string()) {
//     Greet(mood->as_string());
//   }
//   std::string text = state.Dump();  // {"age":30,"mood":"happy",...}
//   absl::StatusOr<Json> parsed = Json::Parse(text);
//
// Object members are kept sorted by name, so `Dump()` is deterministic.
// Numbers are doubles: integers beyond 2^53 lose precision.
//
// Thread safety: `Json` is a value type like `std::map`. Const methods may be
// called concurrently; a value that some thread modifies must not be accessed
// by another thread without synchronization.

#ifndef PRESENCE_CLIENT_JSON_H_
#define PRESENCE_CLIENT_JSON_H_

#include <cstddef>
#include <initializer_list>
#include <map>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace presence::client {

class Json {
 public:
  using Array = std::vector<Json>;
  using Object = std::map<std::string, Json>;

  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  // `Parse` refuses input nested deeper than this (arrays and objects count
  // one level each), so that no later recursive walk can overflow the stack.
  static constexpr int kMaxParseDepth = 512;

  // Null.
  Json() = default;
  Json(std::nullptr_t) {}              // NOLINT(google-explicit-constructor)
  Json(bool value) : value_(value) {}  // NOLINT(google-explicit-constructor)
  // Any integer type except bool; stored as a double.
  template <typename T,
            std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>,
                             int> = 0>
  Json(T value)  // NOLINT(google-explicit-constructor)
      : value_(static_cast<double>(value)) {}
  Json(double value) : value_(value) {}  // NOLINT(google-explicit-constructor)
  Json(const char* value)                // NOLINT(google-explicit-constructor)
      : value_(std::string(value)) {}
  Json(std::string value)  // NOLINT(google-explicit-constructor)
      : value_(std::move(value)) {}
  Json(absl::string_view value)  // NOLINT(google-explicit-constructor)
      : value_(std::string(value)) {}
  Json(Array value)  // NOLINT(google-explicit-constructor)
      : value_(std::move(value)) {}
  Json(Object value)  // NOLINT(google-explicit-constructor)
      : value_(std::move(value)) {}
  // Other pointers would silently become bools.
  Json(const void*) = delete;

  // Returns an array of `values`: `Json::array({1, "two", nullptr})`.
  static Json array(std::initializer_list<Json> values) {
    return Json(Array(values));
  }
  // Returns an object of `members`: `Json::object({{"age", 30}})`. When a name
  // repeats, the first member with that name wins.
  static Json object(std::initializer_list<Object::value_type> members) {
    return Json(Object(members));
  }

  // Returns the value that `text` (one JSON value, RFC 8259) denotes, or
  // INVALID_ARGUMENT naming the byte offset of the first error. Refuses what
  // strict JSON refuses (NaN, Infinity, comments, trailing commas, invalid
  // UTF-8, numbers out of double range) and nesting deeper than
  // kMaxParseDepth. When an object repeats a name, the last member wins.
  static absl::StatusOr<Json> Parse(absl::string_view text);

  // Returns compact JSON text. Object members are sorted by name; integral
  // numbers below 2^53 print without a fraction; NaN and infinities, which
  // JSON cannot represent, print as null.
  std::string Dump() const;

  Type type() const { return static_cast<Type>(value_.index()); }
  bool is_null() const { return type() == Type::kNull; }
  bool is_bool() const { return type() == Type::kBool; }
  bool is_number() const { return type() == Type::kNumber; }
  bool is_string() const { return type() == Type::kString; }
  bool is_array() const { return type() == Type::kArray; }
  bool is_object() const { return type() == Type::kObject; }

  // Accessors. Each requires the matching type (`as_string()` requires
  // `is_string()`, ...); a mismatch is a programming error and aborts.
  bool as_bool() const { return Get<bool>(); }
  double as_number() const { return Get<double>(); }
  const std::string& as_string() const { return Get<std::string>(); }
  std::string& as_string() { return Get<std::string>(); }
  const Array& as_array() const { return Get<Array>(); }
  Array& as_array() { return Get<Array>(); }
  const Object& as_object() const { return Get<Object>(); }
  Object& as_object() { return Get<Object>(); }

  // Returns the member named `key`, inserting null if there is none. A null
  // value first becomes an empty object. Requires `is_object() || is_null()`.
  Json& operator[](const std::string& key);

  // Returns the member named `key`, or nullptr if there is none or this is
  // not an object.
  const Json* find(const std::string& key) const;
  Json* find(const std::string& key);

  // Values are equal when they have the same type and equal contents.
  // Numbers compare as doubles, so NaN is not equal to itself.
  friend bool operator==(const Json& a, const Json& b) {
    return a.value_ == b.value_;
  }
  friend bool operator!=(const Json& a, const Json& b) { return !(a == b); }

  // Writes `Dump()`, so GoogleTest prints readable values.
  friend std::ostream& operator<<(std::ostream& os, const Json& json) {
    return os << json.Dump();
  }

 private:
  // Alternatives are in the order of Type.
  using Value =
      std::variant<std::nullptr_t, bool, double, std::string, Array, Object>;

  template <typename T>
  const T& Get() const {
    const T* value = std::get_if<T>(&value_);
    if (value == nullptr) {
      // Only reached on misuse, so building a T to learn its Type is fine.
      DieOfTypeMismatch(
          static_cast<Type>(Value(std::in_place_type<T>).index()));
    }
    return *value;
  }
  template <typename T>
  T& Get() {
    return const_cast<T&>(static_cast<const Json&>(*this).Get<T>());
  }
  [[noreturn]] void DieOfTypeMismatch(Type wanted) const;

  Value value_;
};

}  // namespace presence::client

#endif  // PRESENCE_CLIENT_JSON_H_
