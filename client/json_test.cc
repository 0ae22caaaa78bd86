#include "client/json.h"

#include <cmath>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace presence::client {
namespace {

using ::testing::HasSubstr;

TEST(JsonTest, ConstructsEachType) {
  EXPECT_TRUE(Json().is_null());
  EXPECT_TRUE(Json(nullptr).is_null());
  EXPECT_TRUE(Json(true).as_bool());
  EXPECT_EQ(Json(42).as_number(), 42.0);
  EXPECT_EQ(Json(int64_t{-7}).as_number(), -7.0);
  EXPECT_EQ(Json(2.5).as_number(), 2.5);
  EXPECT_EQ(Json("text").as_string(), "text");
  EXPECT_EQ(Json(std::string("text")).as_string(), "text");
  EXPECT_EQ(Json(absl::string_view("text")).as_string(), "text");
  EXPECT_TRUE(Json(Json::Array{}).is_array());
  EXPECT_TRUE(Json(Json::Object{}).is_object());
  EXPECT_EQ(Json(Json::Object{}).type(), Json::Type::kObject);
}

TEST(JsonTest, BuildsNestedValuesFromInitializerLists) {
  Json state = Json::object({{"mood", "happy"},
                             {"age", 30},
                             {"tags", Json::array({1, "two", nullptr})}});
  ASSERT_TRUE(state.is_object());
  EXPECT_EQ(state.as_object().size(), 3u);
  EXPECT_EQ(state["mood"], Json("happy"));
  EXPECT_EQ(state["tags"].as_array().size(), 3u);
  EXPECT_TRUE(state["tags"].as_array()[2].is_null());
  EXPECT_EQ(state.Dump(), R"({"age":30,"mood":"happy","tags":[1,"two",null]})");
}

TEST(JsonTest, SubscriptInsertsAndTurnsNullIntoObject) {
  Json json;
  json["a"]["b"] = 1;
  EXPECT_EQ(json, Json::object({{"a", Json::object({{"b", 1}})}}));
  json["a"]["b"] = "replaced";
  EXPECT_EQ(json.Dump(), R"({"a":{"b":"replaced"}})");
}

TEST(JsonTest, FindReturnsMemberOrNull) {
  Json json = Json::object({{"mood", "happy"}});
  ASSERT_NE(json.find("mood"), nullptr);
  EXPECT_EQ(json.find("mood")->as_string(), "happy");
  EXPECT_EQ(json.find("missing"), nullptr);
  EXPECT_EQ(Json("not an object").find("mood"), nullptr);
  *json.find("mood") = "sad";
  EXPECT_EQ(json["mood"], Json("sad"));
}

TEST(JsonTest, EqualityComparesTypeAndContents) {
  EXPECT_EQ(Json(1), Json(1.0));
  EXPECT_NE(Json(1), Json("1"));
  EXPECT_NE(Json(), Json(false));
  EXPECT_NE(Json::array({1}), Json::array({1, 2}));
  EXPECT_EQ(Json::object({{"a", Json::array({true})}}),
            Json::object({{"a", Json::array({true})}}));
}

TEST(JsonTest, DumpsNumbersAndEscapesStrings) {
  EXPECT_EQ(Json(3).Dump(), "3");
  EXPECT_EQ(Json(-0.5).Dump(), "-0.5");
  EXPECT_EQ(Json(1e300).Dump(), "1e300");
  EXPECT_EQ(Json(std::nan("")).Dump(), "null");
  EXPECT_EQ(Json(std::numeric_limits<double>::infinity()).Dump(), "null");
  EXPECT_EQ(Json(std::string("q\"\\\n\x01\0z", 7)).Dump(),
            R"("q\"\\\n\u0001\u0000z")");
  EXPECT_EQ(Json("h\xC3\xA9").Dump(), "\"h\xC3\xA9\"");
  EXPECT_EQ(Json().Dump(), "null");
  EXPECT_EQ(Json::array({}).Dump(), "[]");
  EXPECT_EQ(Json::object({}).Dump(), "{}");
}

TEST(JsonTest, ParseRoundTripsDump) {
  const std::string text =
      R"({"a":[1,2.5,-3e-7,true,false,null,"x\u00e9\ud83d\ude00"],"b":{}})";
  absl::StatusOr<Json> json = Json::Parse(text);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(json->find("a")->as_array()[6].as_string(),
            "x\xC3\xA9\xF0\x9F\x98\x80");
  absl::StatusOr<Json> again = Json::Parse(json->Dump());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *json);
}

TEST(JsonTest, ParseAcceptsScalarsAndWhitespace) {
  EXPECT_EQ(*Json::Parse(" \n42\t"), Json(42));
  EXPECT_EQ(*Json::Parse("\"s\""), Json("s"));
  EXPECT_EQ(*Json::Parse("null"), Json());
  EXPECT_EQ(*Json::Parse("18446744073709551615"), Json(18446744073709551615.0));
}

TEST(JsonTest, ParseConvertsNumbersExactly) {
  // Correctly rounded however long the fraction: RapidJSON's full-precision
  // conversion misread long fractions, its default one may be an ulp off.
  EXPECT_EQ(
      Json::Parse("0.1000000000000000055511151231257827021181583404541015625")
          ->as_number(),
      0.1);
  EXPECT_EQ(Json::Parse("[0.10000000000000000555]")->as_array()[0].as_number(),
            0.1);
  EXPECT_EQ(Json::Parse("2.2250738585072011e-308")->as_number(),
            2.2250738585072011e-308);
  EXPECT_EQ(Json::Parse("-9007199254740993")->as_number(), -9007199254740992.0);
  absl::StatusOr<Json> huge = Json::Parse("[1, 1e400]");
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(huge.status().message(), HasSubstr("offset 4"));
  // Within RapidJSON's exponent check, beyond a double: refused here.
  absl::StatusOr<Json> above = Json::Parse("[1.8e308]");
  EXPECT_EQ(above.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(above.status().message(), HasSubstr("beyond a double's range"));
}

TEST(JsonTest, ParseKeepsLastOfRepeatedNames) {
  EXPECT_EQ(*Json::Parse(R"({"a":1,"a":2})"), Json::object({{"a", 2}}));
}

TEST(JsonTest, ParseRefusesInvalidJson) {
  for (absl::string_view text :
       {"", "   ", "{", "[1,]", R"({"a":1,})", "NaN", "-Infinity", "Infinity",
        "1e400", "01", "'x'", "{a:1}", "[1] 2", "// c\n1", "\"\xC3\"",
        "\"\xFF\"", "\"tab\there\"", "tru"}) {
    absl::StatusOr<Json> json = Json::Parse(text);
    EXPECT_EQ(json.status().code(), absl::StatusCode::kInvalidArgument)
        << "input: " << text;
  }
}

TEST(JsonTest, ParseNamesTheOffset) {
  absl::StatusOr<Json> json = Json::Parse("[1, x]");
  EXPECT_THAT(json.status().message(), HasSubstr("offset 4"));
}

TEST(JsonTest, ParseRefusesNulByte) {
  absl::StatusOr<Json> json = Json::Parse(absl::string_view("{}\0garbage", 10));
  EXPECT_EQ(json.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(json.status().message(), HasSubstr("offset 2"));
}

TEST(JsonTest, ParseLimitsDepthWithoutOverflowingTheStack) {
  const int kOk = Json::kMaxParseDepth;
  std::string ok = std::string(kOk, '[') + std::string(kOk, ']');
  EXPECT_TRUE(Json::Parse(ok).ok());

  const int kHuge = 1000000;
  std::string huge = std::string(kHuge, '[') + std::string(kHuge, ']');
  absl::StatusOr<Json> json = Json::Parse(huge);
  EXPECT_EQ(json.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(json.status().message(), HasSubstr("nested deeper"));

  std::string objects;
  for (int i = 0; i <= kOk; ++i) objects += R"({"a":)";
  objects += "1" + std::string(kOk + 1, '}');
  EXPECT_THAT(Json::Parse(objects).status().message(),
              HasSubstr("nested deeper"));
}

TEST(JsonDeathTest, AccessorOfWrongTypeAborts) {
  EXPECT_DEATH(Json(1).as_string(), "value is number, not string");
}

}  // namespace
}  // namespace presence::client
