// The PubNub HTTP API with tokens and TLS: the real service (PresenceApp)
// in-process with --auth=token and --http_address, raw HTTP requests as
// PubNub's SDKs send them (the token in the `auth` query parameter), and
// the Access Manager's 403 body naming the channel or group; then HTTPS
// with the --tls_* files.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "presence/clock.h"
#include "service/app/presence_app.h"
#include "service/auth/token.h"
#include "service/auth/token_secrets.h"
#include "service/testing/http_get.h"
#include "service/testing/test_server.h"
#include "service/tls/testing/test_pki.h"

namespace presence {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kSecret[] = "pubnub-secret-0123456789-0123456789-0123456";

// Sends `request` to 127.0.0.1:`port`, over TLS verified against `ca` when
// it is not empty; returns the whole answer ("" when nothing came back).
std::string Exchange(int port, const std::string& request,
                     const std::string& ca = "") {
  if (ca.empty()) return HttpExchange(port, request);
  const int fd = ConnectLoopback(port);
  if (fd < 0) return "";
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> context(
      SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  SSL_CTX_load_verify_locations(context.get(), ca.c_str(), nullptr);
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);
  std::unique_ptr<SSL, void (*)(SSL*)> ssl(SSL_new(context.get()), SSL_free);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), "127.0.0.1");
  std::string answer;
  if (SSL_set_fd(ssl.get(), fd) == 1 && SSL_connect(ssl.get()) == 1) {
    SSL_write(ssl.get(), request.data(), static_cast<int>(request.size()));
    char buffer[4096];
    int n;
    while ((n = SSL_read(ssl.get(), buffer, sizeof(buffer))) > 0) {
      answer.append(buffer, static_cast<size_t>(n));
    }
  }
  ERR_clear_error();
  close(fd);
  return answer;
}

// A GET of `target` that closes the connection after the answer.
std::string Get(const std::string& target) {
  return absl::StrCat("GET ", target,
                      " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}

class PubNubAuthTest : public testing::Test {
 protected:
  void SetUp() override {
    const std::string dir = TestDir("pubnub_auth_test");
    const std::string secrets = absl::StrCat(dir, "/secrets");
    std::ofstream(secrets) << kSecret << "\n";
    PresenceAppOptions options;
    options.limits = TestServer::TestLimits();
    options.grpc.listen_address = "127.0.0.1:0";
    options.grpc.shutdown_grace = absl::Milliseconds(300);
    options.pubnub.http.address = "127.0.0.1:0";
    options.expiry_interval = absl::ZeroDuration();
    options.clock = &clock_;
    options.auth.mode = auth::AuthMode::kToken;
    options.auth.secret_file = secrets;
    absl::StatusOr<std::unique_ptr<PresenceApp>> app =
        PresenceApp::Start(std::move(options));
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = *std::move(app);
  }

  std::string Mint(auth::Claims claims, absl::Duration ttl = absl::Hours(1)) {
    return auth::TokenSecrets::FromText(kSecret, "test")
        ->Mint(std::move(claims), clock_.Now(), ttl)
        ->token;
  }

  // GET `target` (with `token` as PubNub's auth parameter unless empty).
  std::string Call(std::string target, const std::string& token = "") {
    if (!token.empty()) {
      absl::StrAppend(&target,
                      target.find('?') == std::string::npos ? "?" : "&",
                      "auth=", token);
    }
    return Exchange(app_->http_port(), Get(target));
  }

  SimulatedClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  std::unique_ptr<PresenceApp> app_;
};

TEST_F(PubNubAuthTest, TheAuthParameterCarriesTheToken) {
  auth::Claims claims;
  claims.user_id = "alice";
  claims.channels["lobby"] = auth::kWrite;
  const std::string alice = Mint(claims);
  const std::string heartbeat =
      "/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice";

  std::string answer = Call(heartbeat);
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 403"));
  EXPECT_THAT(answer, HasSubstr(R"({"status":403,"error":true,)"
                                R"("service":"Access Manager",)"
                                R"("message":"Forbidden: this call needs a )"
                                R"(token)"));
  EXPECT_THAT(Call(heartbeat, "pv1.garbage.x"), HasSubstr("malformed token"));
  EXPECT_THAT(Call(heartbeat, alice), StartsWith("HTTP/1.1 200"));

  answer =
      Call("/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=bob", alice);
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 403"));
  EXPECT_THAT(answer, HasSubstr(R"(cannot act as user \"bob\")"));

  // Reading needs read: the payload names the channel, as PubNub's does.
  answer = Call("/v2/presence/sub-key/demo/channel/lobby", alice);
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 403"));
  EXPECT_THAT(answer,
              HasSubstr(R"(Forbidden: the token has no \"read\" permission )"
                        R"(on channel \"lobby\"","payload":{"channels":)"
                        R"(["lobby"]}})"));
  auth::Claims reader;
  reader.channel_prefixes["lob"] = auth::kRead;
  answer = Call("/v2/presence/sub-key/demo/channel/lobby", Mint(reader));
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(answer, HasSubstr(R"("occupancy":1)"));

  // The clock that checks gRPC's tokens checks these too.
  clock_.Advance(absl::Hours(1));
  EXPECT_THAT(Call(heartbeat, alice), HasSubstr("Forbidden: token expired"));
  // Time needs no token.
  EXPECT_THAT(Call("/time/0"), StartsWith("HTTP/1.1 200"));
}

TEST_F(PubNubAuthTest, SubscribeAndTheChannelRegistry) {
  auth::Claims claims;
  claims.user_id = "alice";
  claims.channels["lobby"] = auth::kRead | auth::kWrite;
  const std::string alice = Mint(claims);
  // Presence events of lobby: read on lobby; being in hall: write on hall.
  EXPECT_THAT(Call("/v2/subscribe/demo/lobby-pnpres/0?uuid=alice&tt=0", alice),
              StartsWith("HTTP/1.1 200"));
  std::string answer =
      Call("/v2/subscribe/demo/lobby-pnpres,hall/0?uuid=alice&tt=0", alice);
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 403"));
  EXPECT_THAT(answer, HasSubstr(R"(no \"write\" permission on channel )"
                                R"(\"hall\"")"));
  EXPECT_THAT(Call("/v2/subscribe/demo/hall-pnpres/0?uuid=alice&tt=0", alice),
              HasSubstr(R"("payload":{"channels":["hall"]})"));

  answer = Call(
      "/v1/channel-registration/sub-key/demo/channel-group/friends?add=lobby",
      alice);
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 403"));
  EXPECT_THAT(answer, HasSubstr(R"("payload":{"channel-groups":["friends"]})"));
  auth::Claims manager;
  manager.groups["friends"] = auth::kManage;
  manager.channels["lobby"] = auth::kManage;
  EXPECT_THAT(Call("/v1/channel-registration/sub-key/demo/channel-group/friends"
                   "?add=lobby",
                   Mint(manager)),
              StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(Call("/v1/channel-registration/sub-key/demo/channel-group",
                   Mint(manager)),
              HasSubstr("ListGroups (it names every group) needs a token with "
                        "presence_admin"));
}

TEST(PubNubTlsTest, TheHttpPortServesHttpsWithTheTlsFiles) {
  const std::string dir = TestDir("pubnub_tls_test");
  absl::StatusOr<TestPki> pki = TestPki::Create(dir);
  ASSERT_TRUE(pki.ok()) << pki.status();
  const std::string cert = absl::StrCat(dir, "/server.crt");
  const std::string key = absl::StrCat(dir, "/server.key");
  ASSERT_TRUE(pki->IssueServer(cert, key, 5001).ok());
  PresenceAppOptions options;
  options.grpc.listen_address = "127.0.0.1:0";
  options.grpc.shutdown_grace = absl::Milliseconds(300);
  options.pubnub.http.address = "127.0.0.1:0";
  options.expiry_interval = absl::ZeroDuration();
  options.tls.cert_file = cert;
  options.tls.key_file = key;
  absl::StatusOr<std::unique_ptr<PresenceApp>> app =
      PresenceApp::Start(std::move(options));
  ASSERT_TRUE(app.ok()) << app.status();
  const int port = (*app)->http_port();

  std::string answer = Exchange(
      port, Get("/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice"),
      pki->ca_cert());
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(Exchange(port, Get("/v2/presence/sub-key/demo/channel/lobby"),
                       pki->ca_cert()),
              HasSubstr(R"("occupancy":1)"));
  // Plaintext to the TLS port gets no HTTP answer.
  EXPECT_THAT(Exchange(port, Get("/time/0")),
              testing::Not(HasSubstr("HTTP/1.1 200")));
  // A renewed certificate is served at once after a reload (SIGHUP).
  ASSERT_TRUE(pki->IssueServer(cert, key, 5002, /*reuse_key=*/true).ok());
  EXPECT_TRUE((*app)->Reload().ok());
  EXPECT_THAT(Exchange(port, Get("/time/0"), pki->ca_cert()),
              StartsWith("HTTP/1.1 200"));
}

}  // namespace
}  // namespace presence
