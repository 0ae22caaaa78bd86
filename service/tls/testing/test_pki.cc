#include "service/tls/testing/test_pki.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"

namespace presence {
namespace {

// Extensions of the three kinds of certificate.
constexpr char kConfig[] = R"([req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
[client_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
)";

// Runs a shell command; its output goes to `log`, shown on failure.
absl::Status Run(const std::string& command, const std::string& log) {
  const std::string line = absl::StrCat(command, " >>", log, " 2>&1");
  if (std::system(line.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("failed: ", command, "\n", ReadTextFile(log)));
  }
  return absl::OkStatus();
}

std::string Quote(absl::string_view text) {
  return absl::StrCat("'", text, "'");
}

}  // namespace

std::string ReadTextFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

std::string TestDir(absl::string_view name) {
  const char* root = std::getenv("TEST_TMPDIR");
  const std::string dir = absl::StrCat(root ? root : "/tmp", "/", name);
  // A leftover of an earlier run (outside Bazel) is removed first.
  if (std::system(absl::StrCat("rm -rf ", Quote(dir)).c_str()) != 0 ||
      mkdir(dir.c_str(), 0700) != 0) {
    std::fprintf(stderr, "cannot make the directory %s\n", dir.c_str());
    std::abort();
  }
  return dir;
}

absl::StatusOr<TestPki> TestPki::Create(const std::string& dir,
                                        absl::string_view name) {
  TestPki pki(dir, absl::StrCat(dir, "/openssl.cnf"));
  std::ofstream(pki.config_) << kConfig;
  pki.ca_cert_ = absl::StrCat(dir, "/ca-", name, ".crt");
  pki.ca_key_ = absl::StrCat(dir, "/ca-", name, ".key");
  absl::Status status =
      Run(absl::StrCat("openssl req -x509 -config ", Quote(pki.config_),
                       " -extensions ca_ext -newkey ec -pkeyopt "
                       "ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "
                       "'/CN=presence test CA ",
                       name, "' -keyout ", Quote(pki.ca_key_), " -out ",
                       Quote(pki.ca_cert_)),
          absl::StrCat(dir, "/openssl.log"));
  if (!status.ok()) return status;
  return pki;
}

absl::Status TestPki::Issue(absl::string_view extensions,
                            const std::string& cert_path,
                            const std::string& key_path, int serial,
                            bool reuse_key) const {
  const std::string log = absl::StrCat(dir_, "/openssl.log");
  const std::string base = absl::StrCat(dir_, "/issue-", serial);
  const std::string key = reuse_key ? key_path : absl::StrCat(base, ".key");
  const std::string csr = absl::StrCat(base, ".csr");
  const std::string cert = absl::StrCat(base, ".crt");
  const std::string subject =
      absl::StrCat("'/CN=", extensions == "server_ext" ? "localhost" : "client",
                   " ", serial, "'");
  absl::Status status =
      reuse_key ? Run(absl::StrCat("openssl req -new -config ", Quote(config_),
                                   " -key ", Quote(key), " -subj ", subject,
                                   " -out ", Quote(csr)),
                      log)
                : Run(absl::StrCat("openssl req -new -config ", Quote(config_),
                                   " -newkey ec -pkeyopt "
                                   "ec_paramgen_curve:prime256v1 -nodes -subj ",
                                   subject, " -keyout ", Quote(key), " -out ",
                                   Quote(csr)),
                      log);
  if (!status.ok()) return status;
  status = Run(
      absl::StrCat("openssl x509 -req -in ", Quote(csr), " -CA ",
                   Quote(ca_cert_), " -CAkey ", Quote(ca_key_), " -set_serial ",
                   serial, " -days 2 -extfile ", Quote(config_),
                   " -extensions ", extensions, " -out ", Quote(cert)),
      log);
  if (!status.ok()) return status;
  if (!reuse_key && std::rename(key.c_str(), key_path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename to ", key_path));
  }
  if (std::rename(cert.c_str(), cert_path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename to ", cert_path));
  }
  return absl::OkStatus();
}

absl::Status TestPki::IssueServer(const std::string& cert_path,
                                  const std::string& key_path, int serial,
                                  bool reuse_key) const {
  return Issue("server_ext", cert_path, key_path, serial, reuse_key);
}

absl::Status TestPki::IssueClient(const std::string& cert_path,
                                  const std::string& key_path,
                                  int serial) const {
  return Issue("client_ext", cert_path, key_path, serial, false);
}

absl::StatusOr<int64_t> CertificateSerial(absl::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (cert == nullptr) return absl::InvalidArgumentError("no certificate");
  const int64_t serial = ASN1_INTEGER_get(X509_get_serialNumber(cert));
  X509_free(cert);
  return serial;
}

}  // namespace presence
