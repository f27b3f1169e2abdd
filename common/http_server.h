// HttpServer: the one HTTP/1.1 server of the project, on Boost.Beast. A
// handler answers each request; the server does the rest: asynchronous accept
// on one thread, one session per connection with keep-alive, HTTPS (TLS 1.2+)
// when given a certificate, and the limits every endpoint shares.
//
// Limits: request headers up to kMaxHeaderBytes (431 beyond), bodies up to
// kMaxBodyBytes (413 beyond); a malformed request gets 400 and the connection
// closes (after draining what the client still sends, so the answer is not
// lost to a reset); an idle or too slow connection is dropped after 30 s. A
// HEAD request gets the GET answer's headers without the body.
//
// Used by the verifier (health, readiness, metrics, forward-auth:
// verifier/http_server.h) and by TokenService's /metrics
// (common/metrics_http_server.h). Thread-safe: Stop may be called from any
// thread; the handler runs on the server's thread.
#ifndef COMMON_HTTP_SERVER_H_
#define COMMON_HTTP_SERVER_H_

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tokens {

using HttpRequest =
    boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse =
    boost::beast::http::response<boost::beast::http::string_body>;

// Answers one request from `peer` (the client's IP address, without port).
using HttpHandler =
    std::function<HttpResponse(const HttpRequest&, std::string_view peer)>;

// PEM files for HTTPS; both empty = plain HTTP.
struct HttpTlsFiles {
  std::string cert_file;
  std::string key_file;
};

// A plain-text response with the headers every endpoint sends (Server,
// Content-Type text/plain, Cache-Control no-store).
HttpResponse MakeHttpResponse(boost::beast::http::status status,
                              unsigned version, std::string body);
// The same with `server` as the Server header.
HttpResponse MakeHttpResponse(boost::beast::http::status status,
                              unsigned version, std::string body,
                              std::string_view server);

// What the server answers to one request given as raw bytes: parsed with the
// same limits and rules as a live connection (431, 413, 400 as above; input
// that ends before the request is complete gets 400). For fuzzing and tests.
HttpResponse AnswerRawHttp(std::string_view raw, const HttpHandler& handler,
                           std::string_view peer);

class HttpServer {
 public:
  static constexpr size_t kMaxHeaderBytes = 8 * 1024;
  static constexpr size_t kMaxBodyBytes = 16 * 1024;

  // Binds `address` (HOST:PORT; port 0 picks a free one) and starts serving,
  // over TLS when `tls` names a certificate. InvalidArgument for a bad address
  // or TLS file, Unavailable when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const std::string& address, HttpHandler handler,
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

#endif  // COMMON_HTTP_SERVER_H_
