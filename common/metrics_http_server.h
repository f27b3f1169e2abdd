// MetricsHttpServer: a tiny HTTP/1.1 server on Boost.Beast for a process's
// Prometheus metrics (TokenService's --http-listen).
//
//   GET /metrics   200, Prometheus text exposition (format 0.0.4) from the
//                  render function, called once per request.
//   GET /healthz   200 "ok" while the process serves.
//   anything else  404 (405 for another method on a known path).
//
// Plain HTTP, meant for a loopback or pod-local address; it serves numbers,
// never a token or a key. Served by common/http_server.h (its keep-alive,
// limits and timeouts). Thread-safe: Stop may be called from any thread;
// `render` is called on the server's thread and must be thread-safe with
// respect to the rest of the process.
#ifndef COMMON_METRICS_HTTP_SERVER_H_
#define COMMON_METRICS_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/http_server.h"

namespace tokens {

class MetricsHttpServer {
 public:
  // Binds `address` (HOST:PORT, port 0 picks one) and starts serving.
  // InvalidArgument for a bad address, Unavailable when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& address, std::function<std::string()> render);
  ~MetricsHttpServer();  // Stops.
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Closes the listener and joins the thread. Idempotent.
  void Stop();
  int port() const;

 private:
  explicit MetricsHttpServer(std::unique_ptr<HttpServer> server);
  std::unique_ptr<HttpServer> server_;
};

}  // namespace tokens

#endif  // COMMON_METRICS_HTTP_SERVER_H_
