#include "service/webhooks/webhook_signature.h"

#include <string>

#include "gtest/gtest.h"

namespace presence {
namespace {

// RFC 4231, test case 1.
TEST(HmacSha256HexTest, Rfc4231Case1) {
  EXPECT_EQ(HmacSha256Hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

// RFC 4231, test case 2: a key shorter than the output.
TEST(HmacSha256HexTest, Rfc4231Case2) {
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// RFC 4231, test case 6: a key longer than the block size is hashed first.
TEST(HmacSha256HexTest, Rfc4231Case6) {
  EXPECT_EQ(
      HmacSha256Hex(std::string(131, '\xaa'),
                    "Test Using Larger Than Block-Size Key - Hash Key First"),
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(HmacSha256HexTest, EmptyKeyAndMessage) {
  // Well-known value of HMAC-SHA256("", "").
  EXPECT_EQ(HmacSha256Hex("", ""),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(SignWebhookTest, SignsTimestampDotBody) {
  const std::string body = R"({"events":[]})";
  EXPECT_EQ(SignWebhook("Jefe", 1700000000, body),
            "t=1700000000,v1=" + HmacSha256Hex("Jefe", "1700000000." + body));
}

TEST(SignWebhookTest, TimestampChangesSignature) {
  EXPECT_NE(SignWebhook("k", 1, "body").substr(4),
            SignWebhook("k", 2, "body").substr(4));
}

}  // namespace
}  // namespace presence
