// HttpClient: the one outgoing HTTP/1.1 client of the project (TokenService's
// webhook notifications, services/notifier.h), on Boost.Beast. One request per
// connection (`Connection: close`), over TLS 1.2+ when the URL is https: the
// server's certificate is verified against the system's trust roots or a CA
// file, SNI is sent for a host name, and the certificate must match the host
// (its DNS name, or its IP address for an IP literal).
//
// Errors and logs name the URL's origin (scheme, host, port) only, never its
// path or query, which may carry a secret of the receiver's.
//
// Thread-safe: Post may be called from several threads at once (each request
// runs on its own io_context on the calling thread); Cancel from any thread.
#ifndef COMMON_HTTP_CLIENT_H_
#define COMMON_HTTP_CLIENT_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace boost::asio {
class io_context;
namespace ssl {
class context;
}  // namespace ssl
}  // namespace boost::asio

namespace tokens {

// An http or https URL, split.
struct HttpUrl {
  bool https = false;
  std::string host;    // without IPv6 brackets
  int port = 0;        // 80 or 443 when the URL names none
  std::string target;  // path and query; "/" when the URL has no path

  // The Host header: host, plus :port when it is not the scheme's default.
  std::string HostHeader() const;
  // scheme://host:port, for errors and logs (no path, no query).
  std::string Origin() const;
};

// Parses `http[s]://host[:port][/path][?query]` (a #fragment is dropped).
// InvalidArgument, with a message starting with `name` (the flag the URL came
// from, e.g. "--notify-url"), for another scheme, user information
// (user:password@), an empty host, a bad port, or whitespace or control
// characters. The message never repeats the URL's path or query.
absl::StatusOr<HttpUrl> ParseHttpUrl(const std::string& name,
                                     const std::string& url);

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

class HttpClient {
 public:
  // `ca_file`: PEM trust roots for https URLs; empty = the system's (OpenSSL's
  // default verify paths). InvalidArgument naming the file when it cannot be
  // loaded.
  static absl::StatusOr<std::unique_ptr<HttpClient>> Create(
      const std::string& ca_file = "");

  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // POSTs `body` to `url` with `headers` (Host, Content-Length, Connection and
  // User-Agent are set by the client) and returns the response's status code
  // once its header has arrived, all within `timeout` from the call.
  // Errors: Unavailable for a name that does not resolve, a refused or broken
  // connection, a failed TLS handshake or certificate check, a malformed
  // response, or the timeout; Cancelled after Cancel().
  absl::StatusOr<int> Post(const HttpUrl& url, const HttpHeaders& headers,
                           const std::string& body, absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Ends the requests in progress (they return Cancelled) and makes every
  // later Post return Cancelled. For shutdown.
  void Cancel() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  explicit HttpClient(std::unique_ptr<boost::asio::ssl::context> tls);

  // Shared read-only by every https request.
  const std::unique_ptr<boost::asio::ssl::context> tls_;
  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  // The io_context of each request in progress, for Cancel.
  absl::flat_hash_set<boost::asio::io_context*> running_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tokens

#endif  // COMMON_HTTP_CLIENT_H_
