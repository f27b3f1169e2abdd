// The rule for plain-text listeners: without TLS a server may listen only on a
// loopback address unless the operator passed --insecure. Thread-safe (pure
// functions).
#ifndef COMMON_LISTEN_POLICY_H_
#define COMMON_LISTEN_POLICY_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace tokens {

// True for `localhost`, 127.0.0.0/8 and ::1 (with or without brackets).
bool IsLoopbackHost(std::string_view host);

// OK when `address` (HOST:PORT) is loopback or `insecure` is set; otherwise
// FailedPrecondition with a message that names `flag` and --insecure.
absl::Status CheckPlaintextListen(std::string_view flag,
                                  std::string_view address, bool insecure);

}  // namespace tokens

#endif  // COMMON_LISTEN_POLICY_H_
