#include "service/webhooks/webhook_signature.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace presence {

std::string HmacSha256Hex(absl::string_view key, absl::string_view message) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  // HMAC() accepts a null key pointer only with length 0; an empty
  // string_view may have data() == nullptr, so point at a real byte.
  static const char kEmpty = 0;
  const char* key_data = key.empty() ? &kEmpty : key.data();
  if (HMAC(EVP_sha256(), key_data, static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(message.data()),
           message.size(), digest, &digest_size) == nullptr) {
    // Only on allocation failure inside OpenSSL; nothing sensible to send.
    std::abort();
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), digest_size));
}

std::string SignWebhook(absl::string_view secret, int64_t unix_seconds,
                        absl::string_view body) {
  const std::string timestamp = absl::StrCat(unix_seconds);
  return absl::StrCat(
      "t=", timestamp,
      ",v1=", HmacSha256Hex(secret, absl::StrCat(timestamp, ".", body)));
}

}  // namespace presence
