#include "common/http_client.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <type_traits>

#include "absl/memory/memory.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/host_port.h"

namespace tokens {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kMaxResponseHeaderBytes = 16 * 1024;
constexpr char kUserAgent[] = "deployment-tokens";

bool IsIpLiteral(const std::string& host) {
  beast::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// Whitespace or control characters: never valid in a URL, and a way to smuggle
// a header into the request line.
bool HasSpaceOrControl(absl::string_view s) {
  for (unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f) return true;
  }
  return false;
}

// One request on one connection: resolve, connect, (TLS handshake,) write the
// request, read the response header. Every step runs on `ioc`, driven by the
// caller's run_until; the outcome is read once it returns.
template <class Stream>
class Exchange {
 public:
  static constexpr bool kTls =
      std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>;

  Exchange(asio::io_context& ioc, Stream& stream, const HttpUrl& url,
           const http::request<http::string_body>& request,
           std::chrono::steady_clock::time_point deadline)
      : resolver_(ioc),
        stream_(stream),
        url_(url),
        request_(request),
        deadline_(deadline) {
    parser_.header_limit(kMaxResponseHeaderBytes);
  }

  void Start() {
    resolver_.async_resolve(
        url_.host, std::to_string(url_.port),
        [this](beast::error_code ec, tcp::resolver::results_type results) {
          if (ec) return Fail("resolve", ec);
          Lowest().expires_at(deadline_);
          Lowest().async_connect(
              results, [this](beast::error_code ec, const tcp::endpoint&) {
                if (ec) return Fail("connect", ec);
                if constexpr (kTls) {
                  stream_.async_handshake(ssl::stream_base::client,
                                          [this](beast::error_code ec) {
                                            if (ec) return Fail("TLS", ec);
                                            Write();
                                          });
                } else {
                  Write();
                }
              });
        });
  }

  bool finished() const { return finished_; }
  // Set when finished and the exchange failed.
  const std::string& error() const { return error_; }
  int status() const { return status_; }

 private:
  void Write() {
    http::async_write(stream_, request_, [this](beast::error_code ec, size_t) {
      if (ec) return Fail("send", ec);
      http::async_read_header(stream_, buffer_, parser_,
                              [this](beast::error_code ec, size_t) {
                                if (ec) return Fail("receive", ec);
                                status_ = parser_.get().result_int();
                                finished_ = true;
                              });
    });
  }

  void Fail(const char* step, beast::error_code ec) {
    finished_ = true;
    if (ec == beast::error::timeout) {
      error_ = absl::StrCat(step, ": timed out");
      return;
    }
    error_ = absl::StrCat(step, ": ", ec.message());
    if constexpr (kTls) {
      const long verify = SSL_get_verify_result(stream_.native_handle());
      if (verify != X509_V_OK) {
        absl::StrAppend(&error_, " (", X509_verify_cert_error_string(verify),
                        ")");
      }
    }
  }

  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  tcp::resolver resolver_;
  Stream& stream_;
  const HttpUrl& url_;
  const http::request<http::string_body>& request_;
  const std::chrono::steady_clock::time_point deadline_;
  beast::flat_buffer buffer_;
  http::response_parser<http::empty_body> parser_;
  bool finished_ = false;
  std::string error_;
  int status_ = 0;
};

// Sends SNI (for a host name, RFC 6066 forbids it for an address) and makes
// the handshake fail unless the certificate matches the host.
absl::Status ConfigureTls(SSL* ssl, const std::string& host) {
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (IsIpLiteral(host)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
      return absl::InternalError("cannot set the expected TLS address");
    }
    return absl::OkStatus();
  }
  if (SSL_set_tlsext_host_name(ssl, host.c_str()) != 1 ||
      SSL_set1_host(ssl, host.c_str()) != 1) {
    return absl::InternalError("cannot set the expected TLS host name");
  }
  return absl::OkStatus();
}

}  // namespace

std::string HttpUrl::HostHeader() const {
  if (port == (https ? 443 : 80)) {
    return absl::StrContains(host, ':') ? absl::StrCat("[", host, "]") : host;
  }
  return FormatHostPort(host, port);
}

std::string HttpUrl::Origin() const {
  return absl::StrCat(https ? "https://" : "http://",
                      FormatHostPort(host, port));
}

absl::StatusOr<HttpUrl> ParseHttpUrl(const std::string& name,
                                     const std::string& url) {
  HttpUrl out;
  const size_t scheme_end = url.find("://");
  const std::string scheme = absl::AsciiStrToLower(
      url.substr(0, scheme_end == absl::string_view::npos ? 0 : scheme_end));
  if (scheme == "https") {
    out.https = true;
  } else if (scheme != "http") {
    const bool printable =
        !scheme.empty() && scheme.size() <= 16 &&
        scheme.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789+-.") ==
            std::string::npos;
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be an http:// or https:// URL",
                     printable ? absl::StrCat(", not ", scheme, "://") : ""));
  }
  if (HasSpaceOrControl(url)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must not contain spaces or control characters"));
  }
  absl::string_view rest = absl::string_view(url).substr(scheme_end + 3);
  if (const size_t fragment = rest.find('#');
      fragment != absl::string_view::npos) {
    rest = rest.substr(0, fragment);
  }
  const size_t authority_end = rest.find_first_of("/?");
  const absl::string_view authority = rest.substr(0, authority_end);
  std::string target(authority_end == absl::string_view::npos
                         ? absl::string_view()
                         : rest.substr(authority_end));
  if (absl::StrContains(authority, '@')) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, " must not carry user information (user:password@)"));
  }
  absl::string_view host = authority;
  absl::string_view port;
  bool port_separator = false;
  if (absl::StartsWith(authority, "[")) {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": unterminated [IPv6 address]"));
    }
    host = authority.substr(1, close - 1);
    const absl::string_view after = authority.substr(close + 1);
    if (!after.empty() && after[0] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": unexpected text after [IPv6 address]"));
    }
    if (!after.empty()) {
      port_separator = true;
      port = after.substr(1);
    }
    if (!IsIpLiteral(std::string(host))) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": not an IPv6 address in brackets"));
    }
  } else if (const size_t colon = authority.rfind(':');
             colon != absl::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    port_separator = true;
    if (absl::StrContains(host, ':')) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": an IPv6 address must be in brackets ([::1]:8443)"));
    }
  }
  if (host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(name, " has no host"));
  }
  out.host = std::string(host);
  out.port = out.https ? 443 : 80;
  if (port_separator) {
    int value = 0;
    if (port.size() > 5 || !absl::SimpleAtoi(port, &value) || value < 1 ||
        value > 65535 ||
        port.find_first_not_of("0123456789") != absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " has a bad port (1-65535)"));
    }
    out.port = value;
  }
  if (target.empty() || target[0] == '?') target.insert(0, "/");
  out.target = std::move(target);
  return out;
}

HttpClient::HttpClient(std::unique_ptr<ssl::context> tls)
    : tls_(std::move(tls)) {}

HttpClient::~HttpClient() = default;

absl::StatusOr<std::unique_ptr<HttpClient>> HttpClient::Create(
    const std::string& ca_file) {
  auto tls = std::make_unique<ssl::context>(ssl::context::tls_client);
  beast::error_code ec;
  tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                       ssl::context::no_tlsv1_1,
                   ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot set TLS options: ", ec.message()));
  }
  if (ca_file.empty()) {
    tls->set_default_verify_paths(ec);
    if (ec) {
      return absl::InternalError(absl::StrCat(
          "cannot load the system's TLS trust roots: ", ec.message()));
    }
  } else {
    tls->load_verify_file(ca_file, ec);
    if (ec) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot load CA certificates from ", ca_file, ": ", ec.message()));
    }
  }
  tls->set_verify_mode(ssl::verify_peer);
  return absl::WrapUnique(new HttpClient(std::move(tls)));
}

absl::StatusOr<int> HttpClient::Post(const HttpUrl& url,
                                     const HttpHeaders& headers,
                                     const std::string& body,
                                     absl::Duration timeout) {
  // Declared first: destroyed last, after the streams whose pending handlers
  // it drops uncalled.
  asio::io_context ioc(1);
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return absl::CancelledError("HTTP client stopped");
    running_.insert(&ioc);
  }
  http::request<http::string_body> request(http::verb::post, url.target, 11);
  request.set(http::field::host, url.HostHeader());
  request.set(http::field::user_agent, kUserAgent);
  for (const auto& [name, value] : headers) request.set(name, value);
  request.set(http::field::connection, "close");
  request.body() = body;
  request.prepare_payload();
  const auto deadline =
      std::chrono::steady_clock::now() +
      absl::ToChronoNanoseconds(std::max(timeout, absl::ZeroDuration()));

  bool finished = false;
  std::string error;
  int status = 0;
  auto run = [&](auto& stream) {
    Exchange<std::remove_reference_t<decltype(stream)>> exchange(
        ioc, stream, url, request, deadline);
    exchange.Start();
    ioc.run_until(deadline);
    finished = exchange.finished();
    error = exchange.error();
    status = exchange.status();
  };
  absl::Status setup;
  if (url.https) {
    beast::ssl_stream<beast::tcp_stream> stream(ioc, *tls_);
    setup = ConfigureTls(stream.native_handle(), url.host);
    if (setup.ok()) run(stream);
  } else {
    beast::tcp_stream stream(ioc);
    run(stream);
  }
  bool cancelled;
  {
    absl::MutexLock lock(&mu_);
    running_.erase(&ioc);
    cancelled = cancelled_;
  }
  if (!setup.ok()) return setup;
  if (!finished && cancelled) {
    return absl::CancelledError("HTTP client stopped");
  }
  if (!finished) {
    error = "timed out";  // still resolving at the deadline
  }
  if (!error.empty()) {
    return absl::UnavailableError(
        absl::StrCat("POST ", url.Origin(), ": ", error));
  }
  return status;
}

void HttpClient::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  for (asio::io_context* ioc : running_) ioc->stop();
}

}  // namespace tokens
