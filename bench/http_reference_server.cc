// http_reference_server: the forward-auth reference. A bare Boost.Beast
// HTTP/1.1 server with the verifier's HTTP threading and I/O model (one thread
// running an io_context, asynchronous accept, one beast::tcp_stream per
// connection with an idle timer, a request_parser with the same limits,
// string_body responses, keep-alive) that answers every request 200 with the
// headers and body of the verifier's allowed /v1/authorize answer (Server,
// Content-Type, Cache-Control, X-Auth-Reason, X-Token-Id of --token_id, body
// "ALLOWED\n"), so the response has the same size. No routing, no decision.
//
// Prints `listening on 127.0.0.1:PORT` and serves until SIGINT or SIGTERM.
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "common/shutdown_signal.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "HTTP address (host:port)");
ABSL_FLAG(std::string, token_id, "tok_bench00000000000000000",
          "the X-Token-Id of the fixed answer");

namespace tokens::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// As the verifier's HTTP server.
constexpr auto kIdleTimeout = std::chrono::seconds(30);
constexpr size_t kMaxHeaderBytes = 8 * 1024;
constexpr size_t kMaxBodyBytes = 16 * 1024;

using Response = http::response<http::string_body>;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const std::string* token_id)
      : stream_(std::move(socket)), token_id_(token_id) {}

  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    parser_->body_limit(kMaxBodyBytes);
    stream_.expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->OnRead(ec);
                     });
  }

 private:
  void OnRead(beast::error_code ec) {
    if (ec) return Close();
    const bool keep_alive = parser_->get().keep_alive();
    response_ = Response(http::status::ok, parser_->get().version());
    response_.set(http::field::server, "http_reference");
    response_.set(http::field::content_type, "text/plain; charset=utf-8");
    response_.set(http::field::cache_control, "no-store");
    response_.set("X-Auth-Reason", "ALLOWED");
    response_.set("X-Token-Id", *token_id_);
    response_.body() = "ALLOWED\n";
    response_.prepare_payload();
    response_.keep_alive(keep_alive);
    stream_.expires_after(kIdleTimeout);
    http::async_write(
        stream_, response_,
        [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
          if (ec || !keep_alive) return self->Close();
          self->ReadRequest();
        });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Response response_;
  const std::string* const token_id_;
};

void Accept(tcp::acceptor* acceptor, const std::string* token_id) {
  acceptor->async_accept(
      [acceptor, token_id](beast::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted) return;
        if (!ec) {
          std::make_shared<Session>(std::move(socket), token_id)->ReadRequest();
        }
        Accept(acceptor, token_id);
      });
}

int Serve(const std::string& listen, const std::string& token_id) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "--listen must be host:port\n");
    return 2;
  }
  beast::error_code ec;
  const asio::ip::address address =
      asio::ip::make_address(listen.substr(0, colon), ec);
  if (ec) {
    std::fprintf(stderr, "bad --listen host: %s\n", ec.message().c_str());
    return 2;
  }
  const auto port =
      static_cast<unsigned short>(std::stoi(listen.substr(colon + 1)));
  asio::io_context ioc{1};
  tcp::acceptor acceptor(ioc);
  const tcp::endpoint endpoint(address, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::fprintf(stderr, "cannot listen: %s\n", ec.message().c_str());
    return 1;
  }
  std::printf("listening on %s:%d\n", address.to_string().c_str(),
              acceptor.local_endpoint().port());
  std::fflush(stdout);
  Accept(&acceptor, &token_id);
  std::thread thread([&ioc] { ioc.run(); });
  WaitForShutdownSignal();
  asio::post(ioc, [&] {
    acceptor.close(ec);
    ioc.stop();
  });
  thread.join();
  return 0;
}

}  // namespace
}  // namespace tokens::bench

int main(int argc, char** argv) {
  tokens::BlockShutdownSignals();
  absl::ParseCommandLine(argc, argv);
  const std::string token_id = absl::GetFlag(FLAGS_token_id);
  return tokens::bench::Serve(absl::GetFlag(FLAGS_listen), token_id);
}
