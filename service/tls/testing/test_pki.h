// TestPki: a throwaway certificate authority, made at test time with the
// openssl command line, that issues server certificates (for 127.0.0.1 and
// localhost) and client certificates.
//
//   absl::StatusOr<TestPki> pki = TestPki::Create(TestDir("pki"));
//   ASSERT_TRUE(pki->IssueServer("server.crt", "server.key", 1001).ok());
//   absl::StatusOr<int64_t> serial = CertificateSerial(pem_text);
//
// Not thread-safe; for tests only.
#ifndef SERVICE_TLS_TESTING_TEST_PKI_H_
#define SERVICE_TLS_TESTING_TEST_PKI_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace presence {

class TestPki {
 public:
  // Makes a CA ("presence test CA <name>") in `dir`, which must exist.
  static absl::StatusOr<TestPki> Create(const std::string& dir,
                                        absl::string_view name = "1");

  // Issues a certificate with `serial` for a server at 127.0.0.1 or
  // localhost, and writes it and its key to `cert_path` and `key_path`,
  // each replaced atomically (written beside, then renamed). With
  // `reuse_key`, the key already at `key_path` is certified again and left
  // as it is (a certificate renewal in one atomic file replacement).
  absl::Status IssueServer(const std::string& cert_path,
                           const std::string& key_path, int serial,
                           bool reuse_key = false) const;

  // Issues a client certificate (for mutual TLS) the same way.
  absl::Status IssueClient(const std::string& cert_path,
                           const std::string& key_path, int serial) const;

  // The CA's certificate (PEM file).
  const std::string& ca_cert() const { return ca_cert_; }

 private:
  TestPki(std::string dir, std::string config)
      : dir_(std::move(dir)), config_(std::move(config)) {}

  absl::Status Issue(absl::string_view extensions, const std::string& cert_path,
                     const std::string& key_path, int serial,
                     bool reuse_key) const;

  std::string dir_;
  std::string config_;  // The openssl configuration file.
  std::string ca_cert_;
  std::string ca_key_;
};

// Returns the serial number of the first certificate of PEM text.
absl::StatusOr<int64_t> CertificateSerial(absl::string_view pem);

// Returns a fresh directory under $TEST_TMPDIR (or /tmp) named `name`.
std::string TestDir(absl::string_view name);

// Returns the contents of `path`, or "" when it cannot be read.
std::string ReadTextFile(const std::string& path);

}  // namespace presence

#endif  // SERVICE_TLS_TESTING_TEST_PKI_H_
