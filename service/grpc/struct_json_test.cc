#include "service/grpc/struct_json.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace presence {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

TEST(StructJsonTest, RoundTripsEveryKindWithSortedKeys) {
  Struct state;
  auto& fields = *state.mutable_fields();
  fields["z"].set_number_value(3);
  fields["a"].set_string_value("x\"y");
  fields["m"].set_bool_value(true);
  fields["n"].set_null_value(google::protobuf::NULL_VALUE);
  fields["f"].set_number_value(2.5);
  Value* list = &fields["l"];
  list->mutable_list_value()->add_values()->set_number_value(-1);
  (*fields["o"].mutable_struct_value()->mutable_fields())["k"].set_string_value(
      "v");
  std::string json;
  ASSERT_TRUE(StructToJson(state, "state", 16, &json).ok());
  EXPECT_EQ(
      json,
      R"({"a":"x\"y","f":2.5,"l":[-1],"m":true,"n":null,"o":{"k":"v"},"z":3})");
  Struct back;
  ASSERT_TRUE(JsonToStruct(json, &back).ok());
  std::string again;
  ASSERT_TRUE(StructToJson(back, "state", 16, &again).ok());
  EXPECT_EQ(again, json);
}

TEST(StructJsonTest, RefusesNonFiniteNumbers) {
  Struct state;
  (*state.mutable_fields())["x"].set_number_value(std::nan(""));
  std::string json;
  absl::Status status = StructToJson(state, "states[\"lobby\"]", 16, &json);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "states[\"lobby\"]: contains NaN or Infinity, which JSON cannot "
            "represent");
  (*state.mutable_fields())["x"].set_number_value(
      std::numeric_limits<double>::infinity());
  EXPECT_FALSE(StructToJson(state, "state", 16, &json).ok());
}

TEST(StructJsonTest, BoundsTheWalk) {
  Struct state;
  Struct* level = &state;
  for (int i = 0; i < 5; ++i) {
    level = (*level->mutable_fields())["a"].mutable_struct_value();
  }
  std::string json;
  EXPECT_TRUE(StructToJson(state, "state", 6, &json).ok());
  EXPECT_EQ(StructToJson(state, "state", 5, &json).code(),
            absl::StatusCode::kInvalidArgument);
}

// Found by struct_json_fuzzer: RapidJSON's default (fast) number parsing
// read 1.0184310299969775e222 back as ...777e222.
TEST(StructJsonTest, NumbersReadBackExactly) {
  for (double value : {1.0184310299969775e222, 0.1, 1e-300, -2.5e-8,
                       9007199254740993.0, 1.7976931348623157e308}) {
    Struct state;
    (*state.mutable_fields())["n"].set_number_value(value);
    std::string json;
    ASSERT_TRUE(StructToJson(state, "state", 16, &json).ok());
    Struct back;
    ASSERT_TRUE(JsonToStruct(json, &back).ok());
    EXPECT_EQ(back.fields().at("n").number_value(), value) << json;
  }
}

TEST(StructJsonTest, EmptyTextIsAnEmptyStruct) {
  Struct out;
  (*out.mutable_fields())["stale"].set_bool_value(true);
  ASSERT_TRUE(JsonToStruct("", &out).ok());
  EXPECT_EQ(out.fields_size(), 0);
  EXPECT_EQ(JsonToStruct("[1]", &out).code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace presence
