// ParseJsonExact: parses JSON text into a rapidjson::Document with every
// number converted exactly (correctly rounded, by absl::SimpleAtod) instead
// of by RapidJSON's own conversion. RapidJSON 1.1's default conversion may
// be off by an ulp, and its full-precision one (kParseFullPrecisionFlag)
// misreads long numbers with a fraction: it hands the '.' to its big-integer
// code (an assertion in debug builds, a wrong value in release builds; found
// by service/grpc/struct_json_fuzzer). Numbers are read as text and
// converted here: integers that fit stay Int64/Uint64, others are doubles;
// a number that overflows a double is a parse error.
//
//   rapidjson::Document doc;
//   rapidjson::ParseResult parsed = ParseJsonExact(text, &doc);
//   if (parsed.IsError()) { /* parsed.Code(), parsed.Offset() */ }
#ifndef PRESENCE_BASE_EXACT_JSON_H_
#define PRESENCE_BASE_EXACT_JSON_H_

#include <cmath>
#include <cstdint>

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/error/error.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"

namespace presence {

// Converts `text`, one JSON number as RapidJSON's RawNumber event gives it
// (with kParseNumbersAsStringsFlag), and passes it on to `handler` (a SAX
// handler) as Int64 or Uint64 when it is an integer that fits, else as a
// correctly rounded Double. Returns false, stopping the parse, for a number
// beyond a double's range. For SAX handlers of their own (the C++ client's
// Json builder); ParseJsonExact below uses it for a Document.
template <typename Handler>
bool ConvertJsonNumber(absl::string_view text, Handler& handler) {
  const bool integral = text.find_first_of(".eE") == absl::string_view::npos;
  if (integral) {
    int64_t i;
    if (absl::SimpleAtoi(text, &i)) {
      return i < 0 ? handler.Int64(i)
                   : handler.Uint64(static_cast<uint64_t>(i));
    }
    uint64_t u;
    if (absl::SimpleAtoi(text, &u)) return handler.Uint64(u);
  }
  double d;
  if (!absl::SimpleAtod(text, &d) || !std::isfinite(d)) return false;
  return handler.Double(d);
}

namespace exact_json_internal {

// Forwards RapidJSON's SAX events to a Document, converting RawNumber.
class ExactNumbers {
 public:
  explicit ExactNumbers(rapidjson::Document& doc) : doc_(doc) {}

  bool Null() { return doc_.Null(); }
  bool Bool(bool b) { return doc_.Bool(b); }
  bool Int(int i) { return doc_.Int(i); }
  bool Uint(unsigned u) { return doc_.Uint(u); }
  bool Int64(int64_t i) { return doc_.Int64(i); }
  bool Uint64(uint64_t u) { return doc_.Uint64(u); }
  bool Double(double d) { return doc_.Double(d); }
  bool String(const char* s, rapidjson::SizeType n, bool copy) {
    return doc_.String(s, n, copy);
  }
  bool StartObject() { return doc_.StartObject(); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) {
    return doc_.Key(s, n, copy);
  }
  bool EndObject(rapidjson::SizeType n) { return doc_.EndObject(n); }
  bool StartArray() { return doc_.StartArray(); }
  bool EndArray(rapidjson::SizeType n) { return doc_.EndArray(n); }

  bool RawNumber(const char* s, rapidjson::SizeType n, bool /*copy*/) {
    return ConvertJsonNumber(absl::string_view(s, n), doc_);
  }

 private:
  rapidjson::Document& doc_;
};

}  // namespace exact_json_internal

// Returns the parse's result: an error for malformed text, and
// kParseErrorTermination for a number beyond a double's range. On an error
// `doc` is null.
inline rapidjson::ParseResult ParseJsonExact(absl::string_view text,
                                             rapidjson::Document* doc) {
  rapidjson::Reader reader;
  auto generate = [&](rapidjson::Document& target) {
    exact_json_internal::ExactNumbers handler(target);
    rapidjson::MemoryStream stream(text.data(), text.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream>
        input(stream);
    return !reader
                .Parse<rapidjson::kParseIterativeFlag |
                       rapidjson::kParseNumbersAsStringsFlag>(input, handler)
                .IsError();
  };
  doc->Populate(generate);
  if (reader.HasParseError()) doc->SetNull();
  return rapidjson::ParseResult(reader.GetParseErrorCode(),
                                reader.GetErrorOffset());
}

// What went wrong in a ParseJsonExact, in words, for an error message
// ("... not valid JSON (<this> at offset N)").
inline const char* ExactJsonErrorText(rapidjson::ParseErrorCode code) {
  return code == rapidjson::kParseErrorTermination
             ? "a number beyond a double's range"
             : rapidjson::GetParseError_En(code);
}

}  // namespace presence

#endif  // PRESENCE_BASE_EXACT_JSON_H_
