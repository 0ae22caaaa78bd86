#include "service/tls/tls_options.h"

namespace presence {

absl::Status ValidateTlsOptions(const TlsOptions& options) {
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert_file and --tls_key_file go together");
  }
  if (!options.enabled() && !options.client_ca_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_client_ca_file needs --tls_cert_file and --tls_key_file");
  }
  if (!options.enabled() && options.metrics) {
    return absl::InvalidArgumentError(
        "--metrics_tls needs --tls_cert_file and --tls_key_file");
  }
  if (options.reload_interval < absl::Seconds(1)) {
    return absl::InvalidArgumentError("--reload_interval must be at least 1s");
  }
  return absl::OkStatus();
}

}  // namespace presence
