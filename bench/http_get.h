// HttpGet: one synchronous HTTP/1.1 GET for the benchmarks (a service's
// /metrics page), on Boost.Beast. Plain HTTP, one request per connection
// (`Connection: close`), the whole exchange within a deadline. Thread-safe:
// each call runs on its own io_context on the calling thread.
#ifndef BENCH_HTTP_GET_H_
#define BENCH_HTTP_GET_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tokens {

// GETs `target` (path and query) from host:port and returns the body of a 200
// answer; resolving, connecting, sending and reading all end within `timeout`
// from the call. Unavailable for a name that does not resolve, a refused or
// broken connection, a malformed response or another status than 200;
// DeadlineExceeded when the timeout passes first.
absl::StatusOr<std::string> HttpGet(const std::string& host, int port,
                                    const std::string& target,
                                    absl::Duration timeout);

// The same for a HOST:PORT `address` as the command lines take it
// (common/host_port.h); InvalidArgument when it is not one.
absl::StatusOr<std::string> HttpGet(const std::string& address,
                                    const std::string& target,
                                    absl::Duration timeout);

}  // namespace tokens

#endif  // BENCH_HTTP_GET_H_
