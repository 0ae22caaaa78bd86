#include "presence/base/exact_json.h"

#include <string>

#include "gtest/gtest.h"
#include "rapidjson/document.h"

namespace presence {
namespace {

TEST(ParseJsonExactTest, ReadsValuesAndKeepsIntegersIntegral) {
  rapidjson::Document doc;
  ASSERT_FALSE(ParseJsonExact(R"({"a":[1,-2,18446744073709551615,0.5,"s",)"
                              R"(true,null,{"b":1e3}]})",
                              &doc)
                   .IsError());
  const rapidjson::Value& a = doc["a"];
  EXPECT_TRUE(a[0].IsInt());
  EXPECT_EQ(a[1].GetInt64(), -2);
  EXPECT_EQ(a[2].GetUint64(), 18446744073709551615u);
  EXPECT_EQ(a[3].GetDouble(), 0.5);
  EXPECT_STREQ(a[4].GetString(), "s");
  EXPECT_TRUE(a[5].GetBool());
  EXPECT_TRUE(a[6].IsNull());
  EXPECT_EQ(a[7]["b"].GetDouble(), 1000.0);
}

TEST(ParseJsonExactTest, ConvertsLongFractionsExactly) {
  // A long fraction RapidJSON's full-precision path misread (found by the
  // struct_json fuzzer): its integer part alone is beyond 2^64.
  rapidjson::Document doc;
  ASSERT_FALSE(
      ParseJsonExact(
          "[20000000000000000000000000000000002.00000520000000000000000000]",
          &doc)
          .IsError());
  EXPECT_EQ(doc[0].GetDouble(), 2e34);
  // The closest double to 0.1 + one more digit than a double holds.
  ASSERT_FALSE(ParseJsonExact("[0.10000000000000000555]", &doc).IsError());
  EXPECT_EQ(doc[0].GetDouble(), 0.1);
  // 2^64 + 1 is no integer a Document holds: a double.
  ASSERT_FALSE(ParseJsonExact("[18446744073709551617]", &doc).IsError());
  EXPECT_TRUE(doc[0].IsDouble());
}

TEST(ParseJsonExactTest, RefusesMalformedTextAndHugeNumbers) {
  rapidjson::Document doc;
  rapidjson::ParseResult parsed = ParseJsonExact(R"({"a":})", &doc);
  EXPECT_EQ(parsed.Code(), rapidjson::kParseErrorValueInvalid);
  EXPECT_EQ(parsed.Offset(), 5u);
  EXPECT_TRUE(doc.IsNull());
  parsed = ParseJsonExact("[1e999]", &doc);
  EXPECT_TRUE(parsed.IsError());
  EXPECT_TRUE(doc.IsNull());
}

}  // namespace
}  // namespace presence
