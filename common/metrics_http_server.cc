#include "common/metrics_http_server.h"

#include <utility>

namespace tokens {
namespace {

namespace http = boost::beast::http;

HttpResponse Answer(const HttpRequest& request,
                    const std::function<std::string()>& render) {
  const boost::beast::string_view target = request.target();
  const bool metrics = target == "/metrics";
  const bool health = target == "/healthz";
  if (!metrics && !health) {
    return MakeHttpResponse(http::status::not_found, request.version(),
                            "not found\n");
  }
  if (request.method() != http::verb::get &&
      request.method() != http::verb::head) {
    HttpResponse response =
        MakeHttpResponse(http::status::method_not_allowed, request.version(),
                         "method not allowed\n");
    response.set(http::field::allow, "GET, HEAD");
    return response;
  }
  if (health)
    return MakeHttpResponse(http::status::ok, request.version(), "ok\n");
  HttpResponse response =
      MakeHttpResponse(http::status::ok, request.version(), render());
  response.set(http::field::content_type,
               "text/plain; version=0.0.4; charset=utf-8");
  return response;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& address, std::function<std::string()> render) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(
      address, [render = std::move(render)](const HttpRequest& request,
                                            std::string_view /*peer*/) {
        HttpResponse response = Answer(request, render);
        response.set(http::field::server, "token_service");
        return response;
      });
  if (!server.ok()) return server.status();
  return std::unique_ptr<MetricsHttpServer>(
      new MetricsHttpServer(*std::move(server)));
}

MetricsHttpServer::MetricsHttpServer(std::unique_ptr<HttpServer> server)
    : server_(std::move(server)) {}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

void MetricsHttpServer::Stop() { server_->Stop(); }

int MetricsHttpServer::port() const { return server_->port(); }

}  // namespace tokens
