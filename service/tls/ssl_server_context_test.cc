#include "service/tls/ssl_server_context.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/tls/testing/test_pki.h"
#include "service/tls/tls_options.h"

namespace presence {
namespace {

using ::testing::HasSubstr;

class SslServerContextTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = TestDir("ssl_server_context_test");
    absl::StatusOr<TestPki> pki = TestPki::Create(dir_);
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_.emplace(*std::move(pki));
    options_.cert_file = absl::StrCat(dir_, "/server.crt");
    options_.key_file = absl::StrCat(dir_, "/server.key");
    ASSERT_TRUE(
        pki_->IssueServer(options_.cert_file, options_.key_file, 7).ok());
  }

  std::string dir_;
  std::optional<TestPki> pki_;
  TlsOptions options_;
};

TEST_F(SslServerContextTest, LoadsAndFollowsTheFiles) {
  absl::StatusOr<std::unique_ptr<SslServerContext>> tls =
      SslServerContext::Create(options_);
  ASSERT_TRUE(tls.ok()) << tls.status();
  std::shared_ptr<SSL_CTX> first = (*tls)->Get();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(ASN1_INTEGER_get(
                X509_get_serialNumber(SSL_CTX_get0_certificate(first.get()))),
            7);
  EXPECT_FALSE(*(*tls)->Reload());  // Unchanged.

  ASSERT_TRUE(
      pki_->IssueServer(options_.cert_file, options_.key_file, 8, true).ok());
  EXPECT_TRUE(*(*tls)->Reload());
  std::shared_ptr<SSL_CTX> second = (*tls)->Get();
  EXPECT_EQ(ASN1_INTEGER_get(
                X509_get_serialNumber(SSL_CTX_get0_certificate(second.get()))),
            8);

  // A key that does not match (mid-rotation) keeps the context in use.
  ASSERT_TRUE(
      pki_->IssueServer(absl::StrCat(dir_, "/other.crt"), options_.key_file, 9)
          .ok());
  absl::StatusOr<bool> mismatch = (*tls)->Reload();
  EXPECT_THAT(mismatch.status().message(), HasSubstr("the key does not match"));
  EXPECT_EQ((*tls)->Get(), second);
}

TEST_F(SslServerContextTest, ClientCaRequiresClientCertificates) {
  options_.client_ca_file = pki_->ca_cert();
  absl::StatusOr<std::unique_ptr<SslServerContext>> tls =
      SslServerContext::Create(options_);
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_EQ(SSL_CTX_get_verify_mode((*tls)->Get().get()),
            SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
}

TEST_F(SslServerContextTest, BadFilesNameTheFlag) {
  TlsOptions missing = options_;
  missing.key_file = absl::StrCat(dir_, "/nonexistent.key");
  EXPECT_THAT(SslServerContext::Create(missing).status().message(),
              HasSubstr("--tls_key_file: cannot read"));
  TlsOptions swapped = options_;
  swapped.cert_file = options_.key_file;
  EXPECT_THAT(SslServerContext::Create(swapped).status().message(),
              HasSubstr("--tls_cert_file: no PEM certificate"));
  TlsOptions bad_ca = options_;
  bad_ca.client_ca_file = options_.key_file;
  EXPECT_THAT(SslServerContext::Create(bad_ca).status().message(),
              HasSubstr("--tls_client_ca_file: no PEM certificate"));
}

TEST(TlsOptionsTest, Validation) {
  TlsOptions options;
  EXPECT_TRUE(ValidateTlsOptions(options).ok());
  options.cert_file = "c";
  EXPECT_THAT(ValidateTlsOptions(options).message(),
              HasSubstr("--tls_cert_file and --tls_key_file go together"));
  options.key_file = "k";
  EXPECT_TRUE(ValidateTlsOptions(options).ok());
  options.reload_interval = absl::Milliseconds(500);
  EXPECT_THAT(ValidateTlsOptions(options).message(),
              HasSubstr("--reload_interval"));
  TlsOptions ca_only;
  ca_only.client_ca_file = "ca";
  EXPECT_THAT(ValidateTlsOptions(ca_only).message(),
              HasSubstr("--tls_client_ca_file needs --tls_cert_file"));
  TlsOptions metrics_only;
  metrics_only.metrics = true;
  EXPECT_THAT(ValidateTlsOptions(metrics_only).message(),
              HasSubstr("--metrics_tls needs"));
}

}  // namespace
}  // namespace presence
