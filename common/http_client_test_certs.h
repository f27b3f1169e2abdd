// Certificates for the HTTPS tests of the HTTP client and the notifier, made
// with OpenSSL's API at test time (no openssl binary, nothing checked in): a
// CA, a server certificate it signs for localhost and 127.0.0.1, and an
// unrelated CA that signs nothing the server presents. ECDSA P-256, PEM files.
// Test-only.
#ifndef COMMON_HTTP_CLIENT_TEST_CERTS_H_
#define COMMON_HTTP_CLIENT_TEST_CERTS_H_

#include <string>

#include "absl/status/statusor.h"

namespace tokens::testing {

struct WebhookTestCerts {
  std::string ca_cert;      // trusts server_cert
  std::string server_cert;  // subjectAltName DNS:localhost, IP:127.0.0.1
  std::string server_key;
  std::string other_ca_cert;  // a CA that did not sign server_cert
  // A self-signed certificate for DNS:elsewhere.example only (right CA, wrong
  // name), with its key: use it as both CA file and server certificate.
  std::string wrong_name_cert;
  std::string wrong_name_key;
};

// Writes the files under `dir` (which must exist). Internal on an OpenSSL
// failure.
absl::StatusOr<WebhookTestCerts> MakeWebhookTestCerts(const std::string& dir);

}  // namespace tokens::testing

#endif  // COMMON_HTTP_CLIENT_TEST_CERTS_H_
