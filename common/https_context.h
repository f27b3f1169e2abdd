// The TLS context of an HTTPS endpoint (common/http_server.h): TLS 1.2 or
// later, the certificate chain and key from PEM files. Thread-safe (a pure
// function; the returned context is shared read-only by every connection).
#ifndef COMMON_HTTPS_CONTEXT_H_
#define COMMON_HTTPS_CONTEXT_H_

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace tokens {

// Errors: InvalidArgument naming the file that cannot be loaded or a key that
// does not match the certificate.
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> MakeHttpsContext(
    const std::string& cert_file, const std::string& key_file);

}  // namespace tokens

#endif  // COMMON_HTTPS_CONTEXT_H_
