#include "service/tls/grpc_server_credentials.h"

#include <string>

#include "absl/time/time.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "service/tls/ssl_server_context.h"

namespace presence {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcServerCredentials(
    const TlsOptions& options) {
  if (absl::Status status = ValidateTlsOptions(options); !status.ok()) {
    return status;
  }
  // gRPC's provider logs and retries files that do not load; refusing them
  // here makes a typo fail the start instead of every handshake.
  absl::StatusOr<TlsFiles> files = ReadTlsFiles(options);
  if (!files.ok()) return files.status();
  if (absl::Status status = NewSslServerContext(*files).status();
      !status.ok()) {
    return status;
  }
  const auto interval =
      static_cast<unsigned int>(absl::ToInt64Seconds(options.reload_interval));
  auto provider =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          options.key_file, options.cert_file, options.client_ca_file,
          interval);
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  if (!options.client_ca_file.empty()) {
    tls.watch_root_certs();
    tls.set_cert_request_type(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(tls);
}

}  // namespace presence
