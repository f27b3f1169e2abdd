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
//                        401  malformed, unknown or expired token
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
// or THROTTLED).
//
// With TLS files it serves HTTPS only (TLS 1.2+; the handshake shares the idle
// timeout). One thread runs an io_context with asynchronous accept and one
// session per connection (keep-alive supported). Request headers are limited to
// kMaxHeaderBytes (431 beyond) and bodies to kMaxBodyBytes (413 beyond); a
// malformed request gets 400 and the connection closes.
//
// Thread-safe: Stop may be called from any thread. The core is not owned and
// must outlive the server.
#ifndef VERIFIER_HTTP_SERVER_H_
#define VERIFIER_HTTP_SERVER_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "verifier/verifier_core.h"

namespace tokens {

// What the server answers to one request given as raw bytes: the HTTP status
// and the X-Auth-Reason header (empty when none). Parses with the same limits
// and rules as a live connection (431, 413, 400 as above); input that ends
// before the request is complete gets 400. For fuzzing and tests.
struct RawHttpAnswer {
  int status = 0;
  std::string auth_reason;
  std::string token_id;
};
// `peer` is the client's address for throttling (empty = none).
RawHttpAnswer AnswerRawHttpRequest(std::string_view raw, VerifierCore* core,
                                   std::string_view peer = {});

// PEM files for HTTPS; both empty = plain HTTP.
struct HttpTlsFiles {
  std::string cert_file;
  std::string key_file;
};

class HttpServer {
 public:
  static constexpr size_t kMaxHeaderBytes = 8 * 1024;
  static constexpr size_t kMaxBodyBytes = 16 * 1024;

  // Binds `address` (HOST:PORT; port 0 picks a free one) and starts serving,
  // over TLS when `tls` names a certificate. Returns InvalidArgument for a
  // bad address or TLS file, Unavailable when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const std::string& address, VerifierCore* core,
      const HttpTlsFiles& tls = {});

  ~HttpServer();  // Stops.
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port.
  int port() const;

  // Closes the listener, stops serving and joins the thread. Idempotent. Open
  // connections are closed when the server is destroyed.
  void Stop();

 private:
  class Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tokens

#endif  // VERIFIER_HTTP_SERVER_H_
