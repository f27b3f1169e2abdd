// Connecting to TokenService and the verifier: a channel that is known to be
// connected (or a one-line Unavailable naming the address), per-call contexts
// with a deadline and the caller's key, and the one place where grpc::Status
// becomes absl::Status. Thread-compatible.
#ifndef CLI_CLIENT_H_
#define CLI_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/tls_files.h"

namespace tokens::cli {

// Opens a channel to `address` (TLS when `tls` is enabled, else plain text)
// and waits until it is connected. Fails fast: Unavailable ("cannot reach
// <what> at <address>") as soon as the first connection attempt (or TLS
// handshake) fails, or when `timeout` passes; InvalidArgument or Internal
// when a TLS file cannot be used.
absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(
    const std::string& what, const std::string& address, absl::Duration timeout,
    const ClientTlsFiles& tls = {});

// A context with a deadline `timeout` from now and, when `bearer` is
// non-empty, `authorization: Bearer <bearer>` metadata.
std::unique_ptr<grpc::ClientContext> NewContext(absl::Duration timeout,
                                                const std::string& bearer);

// The same code and message; for DEADLINE_EXCEEDED and UNAVAILABLE the
// message also names `what` and `address`.
absl::Status FromGrpc(const grpc::Status& status, const std::string& what,
                      const std::string& address);

}  // namespace tokens::cli

#endif  // CLI_CLIENT_H_
