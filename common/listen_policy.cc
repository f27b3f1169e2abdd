#include "common/listen_policy.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/host_port.h"

namespace tokens {

bool IsLoopbackHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host == "localhost" || host == "::1" || host.substr(0, 4) == "127.";
}

absl::Status CheckPlaintextListen(std::string_view flag,
                                  std::string_view address, bool insecure) {
  absl::StatusOr<HostPort> parsed = ParseHostPort(std::string(address));
  // A malformed address is refused later, naming the flag, when it is bound.
  const std::string host = parsed.ok() ? parsed->host : std::string(address);
  if (insecure || IsLoopbackHost(host)) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "refusing to listen on ", std::string(address), " (", std::string(flag),
      ") without TLS: plain text is allowed only on loopback addresses; pass "
      "--insecure to accept plain text on this address"));
}

}  // namespace tokens
