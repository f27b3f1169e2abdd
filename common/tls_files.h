// TLS for gRPC from PEM files: server credentials (optionally requiring a
// client certificate signed by a CA, i.e. mutual TLS) and channel credentials
// (trust roots, optionally a client certificate). The files are read once,
// when the credentials are built; a changed file takes effect at the next
// start. Thread-safe (pure functions).
#ifndef COMMON_TLS_FILES_H_
#define COMMON_TLS_FILES_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tokens {

// A server's certificate and key. When client_ca_file is set, every client
// must present a certificate signed by that CA
// (GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY).
struct ServerTlsFiles {
  std::string cert_file;       // PEM certificate chain
  std::string key_file;        // PEM private key
  std::string client_ca_file;  // PEM CA bundle; empty = no client certificate
  bool enabled() const { return !cert_file.empty(); }
};

// What a client trusts and, for mutual TLS, the certificate it presents.
struct ClientTlsFiles {
  std::string ca_file;    // PEM trust roots; empty = the system's roots
  std::string cert_file;  // PEM client certificate chain (optional)
  std::string key_file;   // PEM key of cert_file
  bool enabled() const { return !ca_file.empty() || !cert_file.empty(); }
};

// InvalidArgument naming the flags (--tls-cert, --tls-key, --tls-client-ca)
// when only one of cert and key is given, or a client CA without a
// certificate.
absl::Status ValidateServerTls(const ServerTlsFiles& files);
// InvalidArgument when only one of cert and key is given.
absl::Status ValidateClientTls(const ClientTlsFiles& files);

// TLS credentials when files.enabled(), else insecure ones. Errors:
// InvalidArgument (see Validate*), NotFound/Internal naming the file that
// cannot be read.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFrom(
    const ServerTlsFiles& files);
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
ChannelCredentialsFrom(const ClientTlsFiles& files);

}  // namespace tokens

#endif  // COMMON_TLS_FILES_H_
