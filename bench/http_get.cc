#include "bench/http_get.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/host_port.h"

namespace tokens {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

absl::StatusOr<std::string> HttpGet(const std::string& host, int port,
                                    const std::string& target,
                                    absl::Duration timeout) {
  const std::string where = absl::StrCat(FormatHostPort(host, port), target);
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  http::request<http::empty_body> request(http::verb::get, target, 11);
  request.set(http::field::host, FormatHostPort(host, port));
  request.set(http::field::connection, "close");
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  bool finished = false;
  std::string error;  // set when finished and the exchange failed
  auto fail = [&](const char* step, beast::error_code ec) {
    finished = true;
    error = absl::StrCat(step, ": ", ec.message());
  };
  // Every step runs on `ioc`; run_until below is the one deadline.
  resolver.async_resolve(
      host, std::to_string(port),
      [&](beast::error_code ec, tcp::resolver::results_type results) {
        if (ec) return fail("resolve", ec);
        stream.async_connect(results, [&](beast::error_code ec,
                                          const tcp::endpoint&) {
          if (ec) return fail("connect", ec);
          http::async_write(stream, request, [&](beast::error_code ec, size_t) {
            if (ec) return fail("send", ec);
            http::async_read(stream, buffer, response,
                             [&](beast::error_code ec, size_t) {
                               if (ec) return fail("receive", ec);
                               finished = true;
                             });
          });
        });
      });
  ioc.run_until(std::chrono::steady_clock::now() +
                absl::ToChronoNanoseconds(timeout));
  if (!finished) {
    return absl::DeadlineExceededError(absl::StrCat(
        "GET ", where, ": timed out after ", absl::FormatDuration(timeout)));
  }
  if (!error.empty()) {
    return absl::UnavailableError(absl::StrCat("GET ", where, ": ", error));
  }
  if (response.result() != http::status::ok) {
    return absl::UnavailableError(
        absl::StrCat("GET ", where, ": HTTP ", response.result_int()));
  }
  return std::move(response.body());
}

absl::StatusOr<std::string> HttpGet(const std::string& address,
                                    const std::string& target,
                                    absl::Duration timeout) {
  absl::StatusOr<HostPort> host_port = ParseHostPort(address);
  if (!host_port.ok()) return host_port.status();
  return HttpGet(host_port->host, host_port->port, target, timeout);
}

}  // namespace tokens
