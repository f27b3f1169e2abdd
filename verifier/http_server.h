// HttpServer: the verifier's HTTP side on Boost.Beast.
//
// clang-format off
//   GET /healthz       200 while the process is alive.
//   GET /readyz        200 when synced and fresh, else 503 (the same source
//                      as gRPC health: VerifierCore::IsReady).
//   GET /metrics       Prometheus text exposition.
//   ANY /v1/authorize  forward-auth for nginx auth_request and Traefik
//                      ForwardAuth. Takes `Authorization: Bearer <token>`,
//                      `X-Deployment-Id` and `X-Operation`. Answers:
//                        200  allowed, with X-Token-Id
//                        401  malformed, unknown, revoked or expired token
//                        403  wrong Deployment, operation not permitted or
//                             unknown operation
//                        503  not ready
//                        400  X-Deployment-Id or X-Operation missing or too
//                             long
//                        401 (or 429, VerifierCore::SetThrottledHttpStatus)
//                             with Retry-After: the end client made too many
//                             failed checks (VerifierCore::SetThrottle; the
//                             end client comes from X-Forwarded-For when the
//                             peer is a trusted proxy)
// clang-format on
// Every decision response carries `X-Auth-Reason` (the tokens.v1.Reason name,
// or THROTTLED); statuses and headers are DenialFor's (verifier/denial.h), as
// for ext_authz.
//
// Served by common/http_server.h (HTTPS with TLS files, keep-alive, limits).
// The core is not owned and must outlive the server.
#ifndef VERIFIER_HTTP_SERVER_H_
#define VERIFIER_HTTP_SERVER_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/http_server.h"
#include "verifier/verifier_core.h"

namespace tokens {

// What the verifier answers to one request given as raw bytes: the HTTP
// status and the X-Auth-Reason and X-Token-Id headers (empty when none).
// `peer` is the client's address for throttling (empty = none). For fuzzing
// and tests.
struct RawHttpAnswer {
  int status = 0;
  std::string auth_reason;
  std::string token_id;
};
RawHttpAnswer AnswerRawHttpRequest(std::string_view raw, VerifierCore* core,
                                   std::string_view peer = {});

// The verifier's routes (above) as an HttpHandler.
HttpHandler VerifierHttpHandler(VerifierCore* core);

// Binds `address` and serves the verifier's routes (see HttpServer::Start).
absl::StatusOr<std::unique_ptr<HttpServer>> StartVerifierHttpServer(
    const std::string& address, VerifierCore* core,
    const HttpTlsFiles& tls = {});

}  // namespace tokens

#endif  // VERIFIER_HTTP_SERVER_H_
