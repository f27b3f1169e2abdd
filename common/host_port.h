// HOST:PORT addresses as the command lines take them (`127.0.0.1:9091`,
// `[::1]:0`, `localhost:50051`). Pure functions, thread-safe.
#ifndef COMMON_HOST_PORT_H_
#define COMMON_HOST_PORT_H_

#include <string>

#include "absl/status/statusor.h"

namespace tokens {

struct HostPort {
  std::string host;  // without IPv6 brackets
  int port = 0;      // 0 = pick a free one
};

// InvalidArgument when `address` is not HOST:PORT with a port in 0..65535.
absl::StatusOr<HostPort> ParseHostPort(const std::string& address);

// `host:port`, bracketing an IPv6 host.
std::string FormatHostPort(const std::string& host, int port);

}  // namespace tokens

#endif  // COMMON_HOST_PORT_H_
