// TrustedProxies: which direct peers are proxies (nginx, Traefik, Envoy, the
// sidecar's own app) whose word about the end client is believed, and who the
// end client of a check is. The failed-check throttle charges the end client,
// so one client's bad tokens never slow another behind the same proxy.
//
//   direct peer not trusted      the peer is the end client
//   direct peer trusted          the rightmost address of the forwarded list
//                                that is not itself trusted (X-Forwarded-For
//                                is appended to by each hop, so the addresses
//                                right of it were written by trusted proxies)
//   trusted, names none          no end client: not throttled
//
// The forwarded list is `X-Forwarded-For` (forward-auth), `x-forwarded-for`
// metadata (gRPC Check) or Envoy's attributes.source.address (ext_authz).
// Immutable after Parse; thread-safe.
#ifndef VERIFIER_TRUSTED_PROXIES_H_
#define VERIFIER_TRUSTED_PROXIES_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tokens {

// The default of --trusted-proxies: loopback, where a sidecar's own app and a
// proxy in the same pod connect from.
inline constexpr char kDefaultTrustedProxies[] = "127.0.0.0/8,::1/128";

class TrustedProxies {
 public:
  // A comma-separated list of CIDRs or single addresses ("10.0.0.0/8,::1");
  // empty trusts nobody. InvalidArgument naming --trusted-proxies and the
  // entry otherwise.
  static absl::StatusOr<TrustedProxies> Parse(std::string_view cidrs);

  // Whether `address` (an IPv4 or IPv6 literal, IPv4-mapped IPv6 counts as
  // IPv4) is in one of the ranges. False for anything that is not an address.
  bool Contains(std::string_view address) const;

  // The end client (see above) of a check whose direct peer is `peer_host`
  // (an address without port) and whose proxy said `forwarded`: a
  // comma-separated list of addresses, possibly with ports or brackets.
  // Empty: not throttled.
  std::string EndClient(std::string_view peer_host,
                        std::string_view forwarded) const;

 private:
  struct Range {
    std::array<uint8_t, 16> prefix{};  // IPv4 as IPv4-mapped IPv6
    int bits = 0;                      // of the 128
    bool v4 = false;                   // matches IPv4 addresses only
  };
  std::vector<Range> ranges_;
};

// The address in one X-Forwarded-For entry: blanks trimmed, `[v6]:port`,
// `v4:port` and `"..."` quoting removed. Empty when it is no IP address
// (e.g. "unknown" or an obfuscated name).
std::string ForwardedAddress(std::string_view entry);

}  // namespace tokens

#endif  // VERIFIER_TRUSTED_PROXIES_H_
