#include "common/metrics_http_server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/host_port.h"
#include "common/json_log.h"

namespace tokens {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(10);
constexpr size_t kMaxHeaderBytes = 8 * 1024;

using Request = http::request<http::empty_body>;
using Response = http::response<http::string_body>;

Response Answer(const Request& request,
                const std::function<std::string()>& render) {
  const beast::string_view target = request.target();
  const bool metrics = target == "/metrics";
  const bool health = target == "/healthz";
  Response response;
  response.version(request.version());
  response.set(http::field::server, "token_service");
  response.set(http::field::cache_control, "no-store");
  response.set(http::field::content_type, "text/plain; charset=utf-8");
  if (!metrics && !health) {
    response.result(http::status::not_found);
    response.body() = "not found\n";
  } else if (request.method() != http::verb::get &&
             request.method() != http::verb::head) {
    response.result(http::status::method_not_allowed);
    response.set(http::field::allow, "GET, HEAD");
    response.body() = "method not allowed\n";
  } else if (metrics) {
    response.result(http::status::ok);
    response.set(http::field::content_type,
                 "text/plain; version=0.0.4; charset=utf-8");
    response.body() = render();
  } else {
    response.result(http::status::ok);
    response.body() = "ok\n";
  }
  response.prepare_payload();
  if (request.method() == http::verb::head) response.body().clear();
  return response;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const std::function<std::string()>* render)
      : stream_(std::move(socket)), render_(render) {}

  void Read() {
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    stream_.expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->OnRead(ec);
                     });
  }

 private:
  void OnRead(beast::error_code ec) {
    if (ec) return Close();  // end of stream, timeout, malformed or too large
    const Request& request = parser_->get();
    const bool close = !request.keep_alive();
    response_ = Answer(request, *render_);
    response_.keep_alive(!close);
    stream_.expires_after(kIdleTimeout);
    http::async_write(
        stream_, response_,
        [self = shared_from_this(), close](beast::error_code ec, size_t) {
          if (ec || close) return self->Close();
          self->Read();
        });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  const std::function<std::string()>* const render_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  Response response_;
};

}  // namespace

class MetricsHttpServer::Impl {
 public:
  explicit Impl(std::function<std::string()> render)
      : render_(std::move(render)), acceptor_(ioc_) {}

  absl::Status Bind(const std::string& address) {
    absl::StatusOr<HostPort> host_port = ParseHostPort(address);
    if (!host_port.ok()) return host_port.status();
    beast::error_code ec;
    tcp::resolver resolver(ioc_);
    auto results =
        resolver.resolve(host_port->host, std::to_string(host_port->port),
                         tcp::resolver::passive, ec);
    if (ec || results.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot resolve http address \"", address, "\": ", ec.message()));
    }
    const tcp::endpoint endpoint = results.begin()->endpoint();
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat(
          "cannot listen on http address \"", address, "\": ", ec.message()));
    }
    port_ = acceptor_.local_endpoint(ec).port();
    return absl::OkStatus();
  }

  void Start() {
    Accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }

  void Stop() {
    if (!thread_.joinable()) return;
    asio::post(ioc_, [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
      ioc_.stop();
    });
    thread_.join();
  }

  int port() const { return port_; }

 private:
  void Accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        std::make_shared<Session>(std::move(socket), &render_)->Read();
      } else {
        JsonLog("http.accept_failed", "warn").Str("error", ec.message());
      }
      Accept();
    });
  }

  const std::function<std::string()> render_;
  // Destroyed after the acceptor; sessions, owned by pending handlers, die
  // with it.
  asio::io_context ioc_{1};
  tcp::acceptor acceptor_;
  int port_ = 0;
  std::thread thread_;
};

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& address, std::function<std::string()> render) {
  auto impl = std::make_unique<Impl>(std::move(render));
  if (absl::Status bound = impl->Bind(address); !bound.ok()) return bound;
  impl->Start();
  return std::unique_ptr<MetricsHttpServer>(
      new MetricsHttpServer(std::move(impl)));
}

MetricsHttpServer::MetricsHttpServer(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

void MetricsHttpServer::Stop() { impl_->Stop(); }

int MetricsHttpServer::port() const { return impl_->port(); }

}  // namespace tokens
