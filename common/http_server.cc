#include "common/http_server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/host_port.h"
#include "common/https_context.h"
#include "common/json_log.h"

namespace tokens {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// An idle keep-alive connection, or a client that sends too slowly, is dropped
// after this.
constexpr auto kIdleTimeout = std::chrono::seconds(30);
// How long a connection being closed after an error may keep sending before it
// is cut.
constexpr auto kDrainTimeout = std::chrono::seconds(2);

using Request = HttpRequest;
using Response = HttpResponse;

// Sessions run on the server's io_context, and name its executor type: with
// beast::tcp_stream's type-erased executor (any_io_executor), every
// asynchronous operation would wrap and copy it once more per request.
using Executor = asio::io_context::executor_type;
using Socket = tcp::socket::rebind_executor<Executor>::other;
using TcpStream = beast::basic_stream<tcp, Executor>;
using TlsStream = beast::ssl_stream<TcpStream>;

// One connection: read a request, answer it, repeat while keep-alive holds.
// `Stream` is TcpStream (HTTP) or TlsStream (HTTPS).
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <class... StreamArgs>
  Session(Socket socket, const HttpHandler* handler, StreamArgs&&... args)
      : peer_(PeerOf(socket)),
        stream_(std::move(socket), std::forward<StreamArgs>(args)...),
        handler_(handler) {}

  void Run() {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      Lowest().expires_after(kIdleTimeout);
      stream_.async_handshake(
          asio::ssl::stream_base::server,
          [self = this->shared_from_this()](beast::error_code ec) {
            if (ec) return self->Close();
            self->ReadRequest();
          });
    } else {
      ReadRequest();
    }
  }

 private:
  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(HttpServer::kMaxHeaderBytes);
    parser_->body_limit(HttpServer::kMaxBodyBytes);
    Lowest().expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](
                         beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream) return Close();
    if (ec == http::error::header_limit) {
      return Write(
          MakeHttpResponse(http::status::request_header_fields_too_large, 11,
                           "request headers too large\n"),
          /*close=*/true);
    }
    if (ec == http::error::body_limit) {
      return Write(MakeHttpResponse(http::status::payload_too_large, 11,
                                    "request body too large\n"),
                   /*close=*/true);
    }
    if (ec && ec.category() ==
                  http::make_error_code(http::error::bad_target).category()) {
      return Write(MakeHttpResponse(http::status::bad_request, 11,
                                    "malformed request\n"),
                   /*close=*/true);
    }
    if (ec) return Close();  // timeout or reset: nobody left to answer
    const Request& request = parser_->get();
    Response response = (*handler_)(request, peer_);
    response.prepare_payload();
    if (request.method() == http::verb::head) {
      // Content-Length stays that of the GET answer; the body is not sent.
      response.body().clear();
    }
    Write(std::move(response), /*close=*/!request.keep_alive());
  }

  void Write(Response response, bool close) {
    // OnRead prepared its answers already (a HEAD answer keeps the GET length).
    if (!response.has_content_length()) response.prepare_payload();
    response.keep_alive(!close);
    Render(response, &wire_);
    Lowest().expires_after(kIdleTimeout);
    asio::async_write(
        stream_, asio::buffer(wire_),
        [self = this->shared_from_this(), close](beast::error_code ec, size_t) {
          if (ec) return self->Close();
          if (close) return self->DrainAndClose();
          self->ReadRequest();
        });
  }

  // `response` as Beast's serializer puts it on the wire (status line, the
  // fields in order, a blank line, the body), into `out`: one buffer that the
  // connection reuses, written in one go, instead of the serializer's walk
  // over a sequence of header and body buffers. The body is never chunked:
  // every answer has a Content-Length (prepare_payload).
  static void Render(const Response& response, std::string* out) {
    const unsigned version = response.version();
    const unsigned code = response.result_int();
    char status_line[] = "HTTP/1.1 200 ";
    status_line[5] = static_cast<char>('0' + version / 10);
    status_line[7] = static_cast<char>('0' + version % 10);
    status_line[9] = static_cast<char>('0' + code / 100);
    status_line[10] = static_cast<char>('0' + code / 10 % 10);
    status_line[11] = static_cast<char>('0' + code % 10);
    out->assign(status_line, sizeof(status_line) - 1);
    const beast::string_view reason = response.reason();
    out->append(reason.data(), reason.size());
    out->append("\r\n");
    for (const auto& field : response) {
      const beast::string_view name = field.name_string();
      const beast::string_view value = field.value();
      out->append(name.data(), name.size());
      out->append(": ");
      out->append(value.data(), value.size());
      out->append("\r\n");
    }
    out->append("\r\n");
    out->append(response.body());
  }

  // Closing a socket with unread input makes the kernel send a reset, which can
  // destroy the response before the client reads it (an oversized request is
  // still arriving). So: stop sending, discard what still comes until the
  // client closes or kDrainTimeout, then close.
  void DrainAndClose() {
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    Lowest().expires_after(kDrainTimeout);
    Drain();
  }

  void Drain() {
    buffer_.clear();
    // Reads the raw socket: after a TLS peer's close_notify (or none) there
    // is nothing to decrypt, only bytes to discard.
    Lowest().async_read_some(
        buffer_.prepare(4096),
        [self = this->shared_from_this()](beast::error_code ec, size_t) {
          if (ec) return self->Close();
          self->Drain();
        });
  }

  void Close() {
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    Lowest().socket().close(ignored);
  }

  TcpStream& Lowest() { return beast::get_lowest_layer(stream_); }

  static std::string PeerOf(const Socket& socket) {
    beast::error_code ec;
    const tcp::endpoint remote = socket.remote_endpoint(ec);
    return ec ? std::string() : remote.address().to_string();
  }

  const std::string peer_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  // The answer being written, as bytes (Render).
  std::string wire_;
  const HttpHandler* const handler_;
};

}  // namespace

HttpResponse MakeHttpResponse(http::status status, unsigned version,
                              std::string body) {
  return MakeHttpResponse(status, version, std::move(body),
                          "deployment-tokens");
}

HttpResponse MakeHttpResponse(http::status status, unsigned version,
                              std::string body, std::string_view server) {
  HttpResponse response(status, version);
  response.set(http::field::server,
               beast::string_view(server.data(), server.size()));
  response.set(http::field::content_type, "text/plain; charset=utf-8");
  response.set(http::field::cache_control, "no-store");
  response.body() = std::move(body);
  return response;
}

HttpResponse AnswerRawHttp(std::string_view raw, const HttpHandler& handler,
                           std::string_view peer) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(HttpServer::kMaxHeaderBytes);
  parser.body_limit(HttpServer::kMaxBodyBytes);
  parser.eager(true);
  beast::error_code ec;
  parser.put(asio::buffer(raw.data(), raw.size()), ec);
  if (ec == http::error::need_more) ec = {};
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec == http::error::header_limit) {
    return MakeHttpResponse(http::status::request_header_fields_too_large, 11,
                            "request headers too large\n");
  }
  if (ec == http::error::body_limit) {
    return MakeHttpResponse(http::status::payload_too_large, 11,
                            "request body too large\n");
  }
  if (ec || !parser.is_done()) {
    return MakeHttpResponse(http::status::bad_request, 11,
                            "malformed request\n");
  }
  return handler(parser.get(), peer);
}

class HttpServer::Impl {
 public:
  Impl(HttpHandler handler, std::shared_ptr<asio::ssl::context> tls)
      : handler_(std::move(handler)), tls_(std::move(tls)), acceptor_(ioc_) {}

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
    acceptor_.async_accept(
        ioc_.get_executor(), [this](beast::error_code ec, Socket socket) {
          if (ec == asio::error::operation_aborted) return;
          if (!ec && tls_ != nullptr) {
            std::make_shared<Session<TlsStream>>(std::move(socket), &handler_,
                                                 *tls_)
                ->Run();
          } else if (!ec) {
            std::make_shared<Session<TcpStream>>(std::move(socket), &handler_)
                ->Run();
          } else {
            JsonLog("http.accept_failed", "warn").Str("error", ec.message());
          }
          Accept();
        });
  }

  const HttpHandler handler_;
  // Shared by every TLS session; null for plain HTTP.
  const std::shared_ptr<asio::ssl::context> tls_;
  // Destroyed after the acceptor; sessions, owned by pending handlers, die with
  // it.
  asio::io_context ioc_{1};
  tcp::acceptor acceptor_;
  int port_ = 0;
  std::thread thread_;
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const std::string& address, HttpHandler handler, const HttpTlsFiles& tls) {
  std::shared_ptr<asio::ssl::context> context;
  if (!tls.cert_file.empty() || !tls.key_file.empty()) {
    auto made = MakeHttpsContext(tls.cert_file, tls.key_file);
    if (!made.ok()) return made.status();
    context = *std::move(made);
  }
  auto impl = std::make_unique<Impl>(std::move(handler), std::move(context));
  absl::Status bound = impl->Bind(address);
  if (!bound.ok()) return bound;
  impl->Start();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

int HttpServer::port() const { return impl_->port(); }

void HttpServer::Stop() { impl_->Stop(); }

}  // namespace tokens
