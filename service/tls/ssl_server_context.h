// SslServerContext: an OpenSSL server context built from the PEM files of
// TlsOptions, rebuilt when their contents change, for the listeners that
// terminate TLS themselves (metrics, HTTP). gRPC watches the same files
// itself (grpc_server_credentials.h).
//
//   auto tls = SslServerContext::Create(options);
//   if (!tls.ok()) return tls.status();  // Names the file that is wrong.
//   std::shared_ptr<SSL_CTX> context = (*tls)->Get();  // Per connection.
//   SSL* ssl = SSL_new(context.get());
//
// A new connection uses the context of the files as they were at most
// options.reload_interval ago; Reload() (SIGHUP) looks at once. Files that
// fail to load (e.g. a key that does not match the certificate, mid-way
// through a rotation) leave the previous context in use and are logged.
//
// Thread-safe.
#ifndef SERVICE_TLS_SSL_SERVER_CONTEXT_H_
#define SERVICE_TLS_SSL_SERVER_CONTEXT_H_

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "presence/base/mutex.h"
#include "service/tls/tls_options.h"

namespace presence {

// The contents of the PEM files.
struct TlsFiles {
  std::string cert_chain;
  std::string private_key;
  std::string client_ca;  // Empty without mutual TLS.

  bool operator==(const TlsFiles& other) const {
    return cert_chain == other.cert_chain && private_key == other.private_key &&
           client_ca == other.client_ca;
  }
};

// Reads the files of `options`; INVALID_ARGUMENT naming the one that cannot
// be read.
absl::StatusOr<TlsFiles> ReadTlsFiles(const TlsOptions& options);

// Returns an OpenSSL server context of `files` (TLS 1.2 or later; with a
// client CA, peers must present a certificate it signed), or
// INVALID_ARGUMENT saying which part does not load.
absl::StatusOr<std::shared_ptr<SSL_CTX>> NewSslServerContext(
    const TlsFiles& files);

class SslServerContext {
 public:
  // Loads the files; fails as ReadTlsFiles and NewSslServerContext do.
  static absl::StatusOr<std::unique_ptr<SslServerContext>> Create(
      const TlsOptions& options);

  // Returns the context for a new connection, first re-reading the files if
  // reload_interval has passed since they were last read.
  std::shared_ptr<SSL_CTX> Get() ABSL_LOCKS_EXCLUDED(mu_);

  // Re-reads the files now. Returns whether the context changed; on an
  // error the previous context stays in use.
  absl::StatusOr<bool> Reload() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  explicit SslServerContext(const TlsOptions& options) : options_(options) {}

  const TlsOptions options_;
  Mutex mu_;
  TlsFiles files_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<SSL_CTX> context_ ABSL_GUARDED_BY(mu_);
  absl::Time last_read_ ABSL_GUARDED_BY(mu_);
};

}  // namespace presence

#endif  // SERVICE_TLS_SSL_SERVER_CONTEXT_H_
