// The gRPC listener's TLS credentials from TlsOptions: gRPC's
// FileWatcherCertificateProvider re-reads the certificate, key and client
// CA files every options.reload_interval, so a rotated certificate (e.g. by
// cert-manager) serves new connections without a restart.
#ifndef SERVICE_TLS_GRPC_SERVER_CREDENTIALS_H_
#define SERVICE_TLS_GRPC_SERVER_CREDENTIALS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "grpcpp/security/server_credentials.h"
#include "service/tls/tls_options.h"

namespace presence {

// Returns TLS credentials (mutual TLS with options.client_ca_file: a client
// without a certificate that CA signed is refused during the handshake), or
// INVALID_ARGUMENT naming the file that does not load. The files are loaded
// once here so that mistakes fail the start, not every handshake.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcServerCredentials(
    const TlsOptions& options);

}  // namespace presence

#endif  // SERVICE_TLS_GRPC_SERVER_CREDENTIALS_H_
