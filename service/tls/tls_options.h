// TlsOptions: the certificate files of the server's TLS listeners
// (--tls_cert_file, --tls_key_file, --tls_client_ca_file).
#ifndef SERVICE_TLS_TLS_OPTIONS_H_
#define SERVICE_TLS_TLS_OPTIONS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace presence {

struct TlsOptions {
  // PEM files of the server's certificate chain (leaf first) and its
  // private key. Both empty: plaintext.
  std::string cert_file;
  std::string key_file;
  // PEM file of the CAs that sign client certificates. Set: mutual TLS,
  // every client must present a certificate one of them signed.
  std::string client_ca_file;
  // How often the files are checked for changes (they are re-read when
  // their contents change, so cert-manager rotations need no restart).
  // Whole seconds, at least one.
  absl::Duration reload_interval = absl::Seconds(10);
  // Whether the metrics port serves HTTPS with the same files (and, with a
  // client CA, requires client certificates) instead of plain HTTP.
  bool metrics = false;

  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

// Returns OK, or INVALID_ARGUMENT naming the flag that is wrong: a
// certificate without a key (or the reverse), a client CA or metrics TLS
// without a certificate, a reload interval under one second.
absl::Status ValidateTlsOptions(const TlsOptions& options);

}  // namespace presence

#endif  // SERVICE_TLS_TLS_OPTIONS_H_
