// Certificates generated at test time with the `openssl` command-line tool: a
// CA, a server certificate for localhost / 127.0.0.1 (subjectAltName), a
// client certificate signed by the same CA, and a client certificate from an
// unrelated CA. Every key is ECDSA P-256; all files are PEM. Test-only.
#ifndef TESTS_TESTING_TEST_CERTS_H_
#define TESTS_TESTING_TEST_CERTS_H_

#include <string>

#include "absl/status/statusor.h"

namespace tokens::testing {

struct TestCerts {
  std::string ca_cert;
  std::string server_cert;
  std::string server_key;
  std::string client_cert;
  std::string client_key;
  // Signed by another CA: a server requiring ca_cert must refuse it.
  std::string rogue_client_cert;
  std::string rogue_client_key;
};

// Writes the files under `dir` (created if missing) and returns their paths.
// Errors: Internal with openssl's stderr when a command fails.
absl::StatusOr<TestCerts> MakeTestCerts(const std::string& dir);

}  // namespace tokens::testing

#endif  // TESTS_TESTING_TEST_CERTS_H_
