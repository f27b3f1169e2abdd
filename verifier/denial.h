// Denial: what the two HTTP-speaking front ends, Envoy ext_authz
// (ext_authz_service.cc) and forward-auth (http_server.cc), answer for a
// check: the HTTP status, ext_authz's google.rpc code and the values of the
// headers both send. One table, so that the front ends cannot drift apart and
// a new reason cannot fall through to another reason's code.
//
// clang-format off
//   check                        HTTP  google.rpc code     reason header
//   allowed                      200   OK                  ALLOWED
//   malformed, unknown, revoked  401   UNAUTHENTICATED     the reason (*)
//     or expired token
//   wrong Deployment, operation  403   PERMISSION_DENIED   the reason
//     not permitted or unknown
//   not ready                    503   UNAVAILABLE         NOT_READY
//   throttled bad token          401   UNAUTHENTICATED     THROTTLED (*),
//                                or    RESOURCE_EXHAUSTED  with Retry-After
//                                429
//   no Deployment or operation   403   PERMISSION_DENIED   INVALID_REQUEST
//     (ext_authz; forward-auth
//     answers 400, no reason)
//   (*) and WWW-Authenticate: Bearer error="invalid_token", as every 401
// clang-format on
// The reason header is X-Auth-Reason on forward-auth and x-token-reason on
// ext_authz (whose allowed answer carries none); the header names are each
// front end's.
//
// Plain functions over constants; thread-safe.
#ifndef VERIFIER_DENIAL_H_
#define VERIFIER_DENIAL_H_

#include <string_view>

#include "absl/status/status.h"
#include "verifier/authorizer.h"

namespace tokens {

struct Denial {
  // Forward-auth's response status; ext_authz's denied_response status.
  int http_status = 200;
  // ext_authz's CheckResponse.status.code: absl::StatusCode has the values
  // of google.rpc.Code.
  absl::StatusCode code = absl::StatusCode::kOk;
  // The reason header's value: a tokens.v1.Reason name, THROTTLED or
  // INVALID_REQUEST. Points to a constant.
  std::string_view reason;
  // WWW-Authenticate (every 401); empty = not sent.
  std::string_view www_authenticate;
  // Retry-After, in seconds (a throttled check); empty = not sent.
  std::string_view retry_after;
};

// The answer to `decision` (allowed or not).
Denial DenialFor(const Decision& decision);

// DenialFor's HTTP status for a decision with `reason`.
int HttpStatusForDecision(CheckReason reason);

// A bad token refused because its end client made too many failed checks,
// answered with `http_status` (one that ValidateThrottledHttpStatus accepts).
Denial ThrottledDenial(int http_status);

// ext_authz's answer to a request without a valid Deployment or operation.
Denial InvalidRequestDenial();

// OK when `http_status` may answer a throttled check: 401 (nginx auth_request
// passes on only 2xx, 401 and 403) or 429 (Traefik). Else InvalidArgument
// "<flag>: want 401 or 429, got <status>".
absl::Status ValidateThrottledHttpStatus(std::string_view flag,
                                         int http_status);

}  // namespace tokens

#endif  // VERIFIER_DENIAL_H_
