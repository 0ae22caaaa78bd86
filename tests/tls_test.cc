// TLS and mutual TLS: the real service (PresenceApp) in-process with
// certificates made at test time by openssl (service/tls/testing). TLS
// works and plaintext to the TLS port fails; mutual TLS refuses a client
// without a certificate (or with one another CA signed); a renewed
// certificate is served to new connections without a restart; the metrics
// port over HTTPS with client certificates; the C++ SDK over TLS with a
// token.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/presence_client.h"
#include "gmock/gmock.h"
#include "grpc/grpc.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "gtest/gtest.h"
#include "presence/v1/presence.grpc.pb.h"
#include "service/app/presence_app.h"
#include "service/auth/token.h"
#include "service/auth/token_secrets.h"
#include "service/testing/http_get.h"
#include "service/testing/test_server.h"
#include "service/tls/testing/test_pki.h"

namespace presence {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;

// A client's files: the CA that signed the server, and its own certificate.
struct ClientFiles {
  std::string ca = {};
  std::string cert = {};  // Empty: none.
  std::string key = {};
};

std::shared_ptr<grpc::ChannelCredentials> Credentials(
    const ClientFiles& files) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadTextFile(files.ca);
  if (!files.cert.empty()) {
    options.pem_cert_chain = ReadTextFile(files.cert);
    options.pem_private_key = ReadTextFile(files.key);
  }
  return grpc::SslCredentials(options);
}

// A channel with its own connection (not shared with earlier channels), so
// that it sees the server's certificate of now.
std::shared_ptr<grpc::Channel> NewChannel(
    const std::string& target,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, credentials, args);
}

// Calls health (open to everyone); sets `*serial` to the serial number of
// the server's certificate when the call succeeded over TLS.
grpc::Status Check(const std::shared_ptr<grpc::Channel>& channel,
                   int64_t* serial = nullptr) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  HealthCheckResponse response;
  grpc::Status status = Health::NewStub(channel)->Check(
      &context, HealthCheckRequest(), &response);
  if (status.ok() && serial != nullptr) {
    std::vector<grpc::string_ref> pem =
        context.auth_context()->FindPropertyValues("x509_pem_cert");
    *serial =
        pem.empty()
            ? -1
            : CertificateSerial(absl::string_view(pem[0].data(), pem[0].size()))
                  .value_or(-1);
  }
  return status;
}

// GET /metrics over TLS with OpenSSL, verifying the server against `ca`;
// returns whatever was answered ("" when the handshake or the read failed).
std::string HttpsGet(int port, const ClientFiles& files) {
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> context(
      SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  SSL_CTX_load_verify_locations(context.get(), files.ca.c_str(), nullptr);
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);
  if (!files.cert.empty()) {
    SSL_CTX_use_certificate_chain_file(context.get(), files.cert.c_str());
    SSL_CTX_use_PrivateKey_file(context.get(), files.key.c_str(),
                                SSL_FILETYPE_PEM);
  }
  const int fd = ConnectLoopback(port);
  std::string answer;
  std::unique_ptr<SSL, void (*)(SSL*)> ssl(SSL_new(context.get()), SSL_free);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), "127.0.0.1");
  if (fd >= 0 && SSL_set_fd(ssl.get(), fd) == 1 &&
      SSL_connect(ssl.get()) == 1) {
    const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    SSL_write(ssl.get(), request.data(), static_cast<int>(request.size()));
    char buffer[4096];
    int n;
    while ((n = SSL_read(ssl.get(), buffer, sizeof(buffer))) > 0) {
      answer.append(buffer, static_cast<size_t>(n));
    }
  }
  ERR_clear_error();
  if (fd >= 0) close(fd);
  return answer;
}

class TlsTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = TestDir("tls_test");
    absl::StatusOr<TestPki> pki = TestPki::Create(dir_, "1");
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_.emplace(*std::move(pki));
    cert_ = absl::StrCat(dir_, "/server.crt");
    key_ = absl::StrCat(dir_, "/server.key");
    ASSERT_TRUE(pki_->IssueServer(cert_, key_, 1001).ok());
    client_ = {pki_->ca_cert(), absl::StrCat(dir_, "/client.crt"),
               absl::StrCat(dir_, "/client.key")};
    ASSERT_TRUE(pki_->IssueClient(client_.cert, client_.key, 2001).ok());
  }

  // Starts the service with TLS (mutual with `mutual`).
  void Start(bool mutual, PresenceAppOptions options = PresenceAppOptions()) {
    options.limits = TestServer::TestLimits();
    options.grpc.listen_address = "127.0.0.1:0";
    options.grpc.shutdown_grace = absl::Milliseconds(300);
    options.expiry_interval = absl::ZeroDuration();
    options.tls.cert_file = cert_;
    options.tls.key_file = key_;
    if (mutual) options.tls.client_ca_file = pki_->ca_cert();
    options.tls.reload_interval = absl::Seconds(1);
    absl::StatusOr<std::unique_ptr<PresenceApp>> app =
        PresenceApp::Start(std::move(options));
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = *std::move(app);
  }

  const std::string& target() const { return app_->grpc_address(); }

  std::string dir_;
  std::optional<TestPki> pki_;
  std::string cert_;
  std::string key_;
  ClientFiles client_;
  std::unique_ptr<PresenceApp> app_;
};

TEST_F(TlsTest, TlsWorksAndPlaintextFails) {
  Start(/*mutual=*/false);
  int64_t serial = 0;
  grpc::Status status =
      Check(NewChannel(target(), Credentials({pki_->ca_cert()})), &serial);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(serial, 1001);

  EXPECT_EQ(Check(NewChannel(target(), grpc::InsecureChannelCredentials()))
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, ServerSignedByAnotherCaIsRefused) {
  Start(/*mutual=*/false);
  const std::string other_dir = TestDir("tls_test_other");
  absl::StatusOr<TestPki> other = TestPki::Create(other_dir, "2");
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(
      Check(NewChannel(target(), Credentials({other->ca_cert()}))).error_code(),
      grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, MutualTlsNeedsAClientCertificateTheCaSigned) {
  Start(/*mutual=*/true);
  EXPECT_TRUE(Check(NewChannel(target(), Credentials(client_))).ok());
  EXPECT_EQ(
      Check(NewChannel(target(), Credentials({pki_->ca_cert()}))).error_code(),
      grpc::StatusCode::UNAVAILABLE);

  const std::string other_dir = TestDir("tls_test_other");
  absl::StatusOr<TestPki> other = TestPki::Create(other_dir, "2");
  ASSERT_TRUE(other.ok()) << other.status();
  ClientFiles stranger = {pki_->ca_cert(), absl::StrCat(other_dir, "/c.crt"),
                          absl::StrCat(other_dir, "/c.key")};
  ASSERT_TRUE(other->IssueClient(stranger.cert, stranger.key, 3001).ok());
  EXPECT_EQ(Check(NewChannel(target(), Credentials(stranger))).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, RenewedCertificateIsServedWithoutARestart) {
  Start(/*mutual=*/false);
  int64_t serial = 0;
  ASSERT_TRUE(
      Check(NewChannel(target(), Credentials({pki_->ca_cert()})), &serial)
          .ok());
  ASSERT_EQ(serial, 1001);

  // What cert-manager does: the files are replaced in place.
  ASSERT_TRUE(pki_->IssueServer(cert_, key_, 1002, /*reuse_key=*/true).ok());
  // gRPC's watcher looks every reload_interval (1 s here); new connections
  // get the new certificate from then on. The wait is bounded, not timed.
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (serial != 1002 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(200));
    ASSERT_TRUE(
        Check(NewChannel(target(), Credentials({pki_->ca_cert()})), &serial)
            .ok());
  }
  EXPECT_EQ(serial, 1002);
}

TEST_F(TlsTest, MetricsOverHttpsWithClientCertificates) {
  PresenceAppOptions options;
  options.metrics_address = "127.0.0.1:0";
  options.tls.metrics = true;
  Start(/*mutual=*/true, std::move(options));
  const int port = app_->metrics_port();
  const std::string answer = HttpsGet(port, client_);
  EXPECT_THAT(answer, HasSubstr("HTTP/1.1 200 OK"));
  EXPECT_THAT(answer, HasSubstr("presence_uptime_seconds"));
  EXPECT_THAT(HttpsGet(port, {pki_->ca_cert()}),
              testing::Not(HasSubstr("200 OK")));
  EXPECT_EQ(HttpGet(port, "/metrics"), "");
  // Still serving after the refusals.
  EXPECT_THAT(HttpsGet(port, client_), HasSubstr("HTTP/1.1 200 OK"));
  // SIGHUP's reload: the renewed certificate, at once.
  ASSERT_TRUE(pki_->IssueServer(cert_, key_, 1003, /*reuse_key=*/true).ok());
  EXPECT_TRUE(app_->Reload().ok());
  EXPECT_THAT(HttpsGet(port, client_), HasSubstr("HTTP/1.1 200 OK"));
}

TEST_F(TlsTest, ClientSdkOverMutualTlsWithAToken) {
  const std::string secrets = absl::StrCat(dir_, "/secrets");
  constexpr char kSecret[] = "sdk-secret-0123456789-0123456789-0123456789";
  std::ofstream(secrets) << kSecret << "\n";
  PresenceAppOptions options;
  options.auth.mode = auth::AuthMode::kToken;
  options.auth.secret_file = secrets;
  Start(/*mutual=*/true, std::move(options));

  auth::Claims claims;
  claims.user_id = "alice";
  claims.channels["lobby"] = auth::kRead | auth::kWrite;
  absl::StatusOr<auth::MintedToken> token =
      auth::TokenSecrets::FromText(kSecret, "test")
          ->Mint(claims, absl::Now(), absl::Hours(1));
  ASSERT_TRUE(token.ok()) << token.status();

  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      client::TlsCredentialsFromFiles(client_.ca, client_.cert, client_.key);
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  client::PresenceClient alice({.target = target(),
                                .user_id = "alice",
                                .credentials = *credentials,
                                .auth_token = token->token});
  absl::StatusOr<client::HeartbeatResult> beat =
      alice.heartbeat().channels({"lobby"}).execute();
  ASSERT_TRUE(beat.ok()) << beat.status();
  absl::StatusOr<std::unique_ptr<client::EventStream>> watch =
      alice.watch().channels({"lobby"}).open();
  ASSERT_TRUE(watch.ok()) << watch.status();
  (*watch)->Cancel();
  absl::StatusOr<client::HereNowResult> here =
      alice.here_now().channels({"hall"}).execute();
  EXPECT_EQ(here.status().code(), absl::StatusCode::kPermissionDenied);

  client::PresenceClient no_token(
      {.target = target(), .credentials = *credentials});
  EXPECT_EQ(no_token.here_now().channels({"lobby"}).execute().status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_FALSE(client::TlsCredentialsFromFiles(client_.ca, client_.cert).ok());
  EXPECT_FALSE(client::TlsCredentialsFromFiles("/nonexistent").ok());
}

}  // namespace
}  // namespace presence
