#include "tests/testing/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>

#include "absl/strings/ascii.h"
#include "common/host_port.h"

namespace tokens::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

HttpResult HttpGet(
    const std::string& address, const std::string& target,
    const std::vector<std::pair<std::string, std::string>>& headers,
    const std::string& source) {
  HttpResult result;
  absl::StatusOr<HostPort> host_port = ParseHostPort(address);
  if (!host_port.ok()) {
    result.error = std::string(host_port.status().message());
    return result;
  }
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  auto endpoints =
      resolver.resolve(host_port->host, std::to_string(host_port->port), ec);
  tcp::socket socket(ioc);
  if (!ec && !source.empty()) {
    const asio::ip::address local = asio::ip::make_address(source, ec);
    if (!ec) socket.open(local.is_v4() ? tcp::v4() : tcp::v6(), ec);
    if (!ec) socket.bind({local, 0}, ec);
    if (!ec) socket.connect(*endpoints.begin(), ec);
  } else if (!ec) {
    asio::connect(socket, endpoints, ec);
  }
  if (ec) {
    result.error = "connect: " + ec.message();
    return result;
  }
  http::request<http::empty_body> request(http::verb::get, target, 11);
  request.set(http::field::host, address);
  for (const auto& [name, value] : headers) request.set(name, value);
  if (!ec) http::write(socket, request, ec);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  beast::tcp_stream stream(std::move(socket));
  stream.expires_after(std::chrono::seconds(10));
  if (!ec) http::read(stream, buffer, response, ec);
  if (ec) {
    result.error = "exchange: " + ec.message();
    return result;
  }
  result.status = response.result_int();
  for (const auto& field : response) {
    result.headers[absl::AsciiStrToLower(std::string(field.name_string()))] =
        std::string(field.value());
  }
  result.body = response.body();
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return result;
}

}  // namespace tokens::testing
