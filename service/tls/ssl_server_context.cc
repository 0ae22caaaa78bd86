#include "service/tls/ssl_server_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "service/logging/logging.h"

namespace presence {
namespace {

absl::StatusOr<std::string> ReadFile(absl::string_view flag,
                                     const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": cannot read ", path));
  }
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// OpenSSL's queued errors, oldest first, as text (and clears the queue).
std::string OpenSslErrors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    absl::StrAppend(&text, text.empty() ? "" : "; ", buffer);
  }
  return text.empty() ? "no detail" : text;
}

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

BioPtr MemoryBio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

absl::Status LoadError(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", OpenSslErrors()));
}

}  // namespace

absl::StatusOr<TlsFiles> ReadTlsFiles(const TlsOptions& options) {
  TlsFiles files;
  absl::StatusOr<std::string> text =
      ReadFile("tls_cert_file", options.cert_file);
  if (!text.ok()) return text.status();
  files.cert_chain = *std::move(text);
  text = ReadFile("tls_key_file", options.key_file);
  if (!text.ok()) return text.status();
  files.private_key = *std::move(text);
  if (!options.client_ca_file.empty()) {
    text = ReadFile("tls_client_ca_file", options.client_ca_file);
    if (!text.ok()) return text.status();
    files.client_ca = *std::move(text);
  }
  return files;
}

absl::StatusOr<std::shared_ptr<SSL_CTX>> NewSslServerContext(
    const TlsFiles& files) {
  ERR_clear_error();
  std::shared_ptr<SSL_CTX> context(SSL_CTX_new(TLS_server_method()),
                                   SSL_CTX_free);
  if (context == nullptr) return LoadError("cannot create a TLS context");
  SSL_CTX* ctx = context.get();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);

  BioPtr chain = MemoryBio(files.cert_chain);
  X509* leaf = PEM_read_bio_X509_AUX(chain.get(), nullptr, nullptr, nullptr);
  if (leaf == nullptr) {
    return LoadError("--tls_cert_file: no PEM certificate");
  }
  const int used = SSL_CTX_use_certificate(ctx, leaf);
  X509_free(leaf);
  if (used != 1) return LoadError("--tls_cert_file: certificate refused");
  // The rest of the file is the chain, up to (not including) the root.
  while (X509* intermediate =
             PEM_read_bio_X509(chain.get(), nullptr, nullptr, nullptr)) {
    if (SSL_CTX_add0_chain_cert(ctx, intermediate) != 1) {
      X509_free(intermediate);
      return LoadError("--tls_cert_file: chain certificate refused");
    }
  }
  ERR_clear_error();  // The end of the file reads as an error.

  BioPtr key_bio = MemoryBio(files.private_key);
  EVP_PKEY* key =
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) return LoadError("--tls_key_file: no PEM private key");
  const int key_used = SSL_CTX_use_PrivateKey(ctx, key);
  EVP_PKEY_free(key);
  if (key_used != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return LoadError(
        "--tls_key_file: the key does not match --tls_cert_file's "
        "certificate");
  }

  if (!files.client_ca.empty()) {
    BioPtr ca_bio = MemoryBio(files.client_ca);
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    int count = 0;
    while (X509* ca =
               PEM_read_bio_X509(ca_bio.get(), nullptr, nullptr, nullptr)) {
      const bool added = X509_STORE_add_cert(store, ca) == 1 &&
                         SSL_CTX_add_client_CA(ctx, ca) == 1;
      X509_free(ca);
      if (!added) return LoadError("--tls_client_ca_file: CA refused");
      ++count;
    }
    ERR_clear_error();
    if (count == 0) {
      return absl::InvalidArgumentError(
          "--tls_client_ca_file: no PEM certificate");
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       nullptr);
  }
  return context;
}

absl::StatusOr<std::unique_ptr<SslServerContext>> SslServerContext::Create(
    const TlsOptions& options) {
  std::unique_ptr<SslServerContext> tls(new SslServerContext(options));
  absl::StatusOr<bool> loaded = tls->Reload();
  if (!loaded.ok()) return loaded.status();
  return tls;
}

std::shared_ptr<SSL_CTX> SslServerContext::Get() {
  bool due;
  {
    MutexLock lock(&mu_);
    due = absl::Now() - last_read_ >= options_.reload_interval;
  }
  if (due) {
    absl::StatusOr<bool> reloaded = Reload();
    if (!reloaded.ok()) {
      LogWarning(
          absl::StrCat("TLS files not reloaded; the previous "
                       "certificate stays in use: ",
                       reloaded.status().message()));
    } else if (*reloaded) {
      LogInfo("TLS certificate files changed; new connections use them");
    }
  }
  MutexLock lock(&mu_);
  return context_;
}

absl::StatusOr<bool> SslServerContext::Reload() {
  absl::StatusOr<TlsFiles> files = ReadTlsFiles(options_);
  {
    MutexLock lock(&mu_);
    last_read_ = absl::Now();
    if (files.ok() && context_ != nullptr && *files == files_) return false;
  }
  if (!files.ok()) return files.status();
  absl::StatusOr<std::shared_ptr<SSL_CTX>> context =
      NewSslServerContext(*files);
  if (!context.ok()) return context.status();
  MutexLock lock(&mu_);
  files_ = *std::move(files);
  context_ = *std::move(context);
  return true;
}

}  // namespace presence
