// Bearer credentials (RFC 6750) from an `Authorization` header value, as
// every front end reads them: TokenService's caller keys, the verifier's gRPC
// Check metadata, HTTP forward-auth and Envoy ext_authz.
#ifndef COMMON_BEARER_H_
#define COMMON_BEARER_H_

#include <string_view>

namespace tokens {

// The credential of `Bearer <credential>`: the scheme is matched
// case-insensitively (RFC 7235 section 2.1), blanks around the value and
// between scheme and credential are skipped. Empty when the value has another
// shape (no scheme, another scheme, no credential).
std::string_view BearerCredential(std::string_view header_value);

}  // namespace tokens

#endif  // COMMON_BEARER_H_
