#include "client/json_struct.h"

#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "client/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace presence::client {
namespace {

using ::testing::HasSubstr;

TEST(JsonStructTest, RoundTripsEveryType) {
  Json json = Json::object({{"null", nullptr},
                            {"bool", true},
                            {"number", -2.5},
                            {"string", "s"},
                            {"array", Json::array({1, Json::array({}), "x"})},
                            {"object", Json::object({{"inner", false}})}});
  absl::StatusOr<google::protobuf::Struct> proto = ToStruct(json);
  ASSERT_TRUE(proto.ok()) << proto.status();
  EXPECT_EQ(proto->fields().at("number").number_value(), -2.5);
  EXPECT_EQ(proto->fields().at("null").kind_case(),
            google::protobuf::Value::kNullValue);
  EXPECT_EQ(proto->fields().at("array").list_value().values_size(), 3);
  EXPECT_EQ(FromStruct(*proto), json);
}

TEST(JsonStructTest, EmptyStructIsEmptyObject) {
  EXPECT_EQ(FromStruct(google::protobuf::Struct()), Json::object({}));
  EXPECT_EQ(ToStruct(Json::object({}))->fields_size(), 0);
}

TEST(JsonStructTest, ValueWithoutKindIsNull) {
  EXPECT_TRUE(FromValue(google::protobuf::Value()).is_null());
}

TEST(JsonStructTest, RefusesNonObjects) {
  for (const Json& json : {Json(), Json(1), Json("s"), Json::array({})}) {
    absl::StatusOr<google::protobuf::Struct> proto = ToStruct(json);
    EXPECT_EQ(proto.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(proto.status().message(), HasSubstr("must be a JSON object"));
  }
}

TEST(JsonStructTest, RefusesNonFiniteNumbersNamingWhere) {
  Json json = Json::object(
      {{"a/b", Json::array({1, Json::object({{"x", std::nan("")}})})}});
  absl::StatusOr<google::protobuf::Struct> proto = ToStruct(json);
  EXPECT_EQ(proto.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(proto.status().message(), HasSubstr("\"/a~1b/1/x\""));

  EXPECT_EQ(
      ToValue(Json(std::numeric_limits<double>::infinity())).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(JsonStructTest, ValueRoundTripsScalars) {
  for (const Json& json : {Json(), Json(false), Json(7), Json("s")}) {
    absl::StatusOr<google::protobuf::Value> proto = ToValue(json);
    ASSERT_TRUE(proto.ok()) << proto.status();
    EXPECT_EQ(FromValue(*proto), json);
  }
}

}  // namespace
}  // namespace presence::client
