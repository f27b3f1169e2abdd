// Talks to a real HttpServer on a loopback port with a Beast client.
#include "verifier/http_server.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "verifier/test_support.h"

namespace tokens {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using ::testing::HasSubstr;
using testing_support::CoreFixture;
using testing_support::NewTokenValue;
using testing_support::Upsert;

using Response = http::response<http::string_body>;

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = StartVerifierHttpServer("127.0.0.1:0", &fx_.core);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->port(), 0);
  }

  tcp::socket Connect() {
    tcp::socket socket(ioc_);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                                 static_cast<unsigned short>(server_->port())));
    return socket;
  }

  // Sends `request` on `socket` and reads one response. The error, if any, goes
  // to `ec`.
  Response RoundTrip(tcp::socket& socket,
                     http::request<http::empty_body> request,
                     beast::error_code* ec = nullptr) {
    request.set(http::field::host, "localhost");
    beast::error_code write_ec;
    http::write(socket, request, write_ec);
    beast::flat_buffer buffer;
    Response response;
    beast::error_code read_ec;
    http::read(socket, buffer, response, read_ec);
    if (ec != nullptr) *ec = read_ec ? read_ec : write_ec;
    return response;
  }

  Response Get(
      const std::string& target,
      std::initializer_list<std::pair<std::string, std::string>> headers = {}) {
    tcp::socket socket = Connect();
    http::request<http::empty_body> request(http::verb::get, target, 11);
    for (const auto& [name, value] : headers) request.set(name, value);
    return RoundTrip(socket, std::move(request));
  }

  Response Authorize(const std::string& token, const std::string& deployment,
                     const std::string& operation) {
    return Get("/v1/authorize", {{"Authorization", "Bearer " + token},
                                 {"X-Deployment-Id", deployment},
                                 {"X-Operation", operation}});
  }

  CoreFixture fx_;
  asio::io_context ioc_;
  std::unique_ptr<HttpServer> server_;
  const std::string value_ = NewTokenValue();
};

TEST_F(HttpServerTest, HealthzIsAlwaysOk) {
  EXPECT_EQ(Get("/healthz").result(), http::status::ok);
}

TEST_F(HttpServerTest, ReadyzFollowsSyncAndStaleness) {
  EXPECT_EQ(Get("/readyz").result(), http::status::service_unavailable);
  fx_.Sync({});
  EXPECT_EQ(Get("/readyz").result(), http::status::ok);
  fx_.clock.Advance(CoreFixture::kMaxStaleness + absl::Seconds(1));
  EXPECT_EQ(Get("/readyz").result(), http::status::service_unavailable);
}

TEST_F(HttpServerTest, MetricsIsPrometheusText) {
  fx_.Sync({Upsert(1, "tok_a", "dep-1", value_)});
  Authorize(value_, "dep-1", "deployment.get");
  Response response = Get("/metrics");
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_THAT(std::string(response[http::field::content_type]),
              HasSubstr("text/plain; version=0.0.4"));
  EXPECT_THAT(response.body(),
              HasSubstr("token_verifier_checks_total{decision=\"allowed\","
                        "reason=\"ALLOWED\"} 1\n"));
  EXPECT_THAT(response.body(), HasSubstr("token_verifier_cached_tokens 1\n"));
}

TEST_F(HttpServerTest, AuthorizeAllowedCarriesTheTokenId) {
  fx_.Sync({Upsert(1, "tok_a", "dep-1", value_)});
  Response response = Authorize(value_, "dep-1", "deployment.envVars.create");
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_EQ(response["X-Token-Id"], "tok_a");
  EXPECT_EQ(response["X-Auth-Reason"], "ALLOWED");
}

TEST_F(HttpServerTest, AuthorizeMapsEveryDenialToItsStatus) {
  const absl::Time expiry = fx_.clock.Now() + absl::Hours(1);
  const std::string expiring = NewTokenValue();
  fx_.Sync({Upsert(1, "tok_a", "dep-1", value_),
            Upsert(2, "tok_b", "dep-1", expiring, expiry)});
  struct Case {
    std::string token, deployment, operation;
    http::status status;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"dpt_nope", "dep-1", "deployment.get", http::status::unauthorized,
       "MALFORMED_TOKEN"},
      {NewTokenValue(), "dep-1", "deployment.get", http::status::unauthorized,
       "UNKNOWN_TOKEN"},
      {value_, "dep-2", "deployment.get", http::status::forbidden,
       "WRONG_DEPLOYMENT"},
      {value_, "dep-1", "workspace.alerts.create", http::status::forbidden,
       "OPERATION_NOT_PERMITTED"},
      {value_, "dep-1", "deployment.teleport", http::status::forbidden,
       "UNKNOWN_OPERATION"},
  };
  for (const Case& c : cases) {
    Response response = Authorize(c.token, c.deployment, c.operation);
    EXPECT_EQ(response.result(), c.status) << c.reason;
    EXPECT_EQ(response["X-Auth-Reason"], c.reason);
    EXPECT_EQ(response.count("X-Token-Id"), 0u) << c.reason;
  }
  fx_.clock.Set(expiry);
  fx_.cache.RecordHeartbeat(fx_.clock.Now());
  Response expired = Authorize(expiring, "dep-1", "deployment.get");
  EXPECT_EQ(expired.result(), http::status::unauthorized);
  EXPECT_EQ(expired["X-Auth-Reason"], "EXPIRED");
  EXPECT_THAT(std::string(expired[http::field::www_authenticate]),
              HasSubstr("Bearer"));
}

// A deleted token's value: 401 like an unknown one, with its own reason, and
// charged to the client's failed-check budget like any bad token.
TEST_F(HttpServerTest, AuthorizeRevokedIsUnauthorizedAndThrottled) {
  fx_.Sync({}, {testing_support::Revoked(value_, "tok_gone",
                                         fx_.clock.Now() - absl::Hours(1))});
  PeerThrottleOptions options;
  options.burst = 2;
  options.refill_per_second = 0.001;
  PeerThrottle throttle(options, &fx_.clock);
  fx_.core.SetThrottle(&throttle, nullptr);
  for (int i = 0; i < 2; ++i) {
    Response response = Authorize(value_, "dep-1", "deployment.get");
    EXPECT_EQ(response.result(), http::status::unauthorized);
    EXPECT_EQ(response["X-Auth-Reason"], "REVOKED_TOKEN");
    EXPECT_EQ(response.count("X-Token-Id"), 0u);
    EXPECT_THAT(std::string(response[http::field::www_authenticate]),
                HasSubstr("invalid_token"));
  }
  Response throttled = Authorize(value_, "dep-1", "deployment.get");
  EXPECT_EQ(throttled.result(), http::status::unauthorized);
  EXPECT_EQ(throttled["X-Auth-Reason"], "THROTTLED");
  EXPECT_THAT(Get("/metrics").body(),
              HasSubstr("token_verifier_checks_total{decision=\"denied\","
                        "reason=\"REVOKED_TOKEN\"} 3\n"));
  fx_.core.SetThrottle(nullptr, nullptr);
}

TEST_F(HttpServerTest, AuthorizeIsUnavailableUntilReady) {
  Response response = Authorize(value_, "dep-1", "deployment.get");
  EXPECT_EQ(response.result(), http::status::service_unavailable);
  EXPECT_EQ(response["X-Auth-Reason"], "NOT_READY");
}

TEST_F(HttpServerTest, AuthorizeWithoutRequiredHeadersIsBadRequest) {
  fx_.Sync({Upsert(1, "tok_a", "dep-1", value_)});
  EXPECT_EQ(Get("/v1/authorize", {{"Authorization", "Bearer " + value_},
                                  {"X-Operation", "deployment.get"}})
                .result(),
            http::status::bad_request);
  Response response = Get(
      "/v1/authorize",
      {{"Authorization", "Bearer " + value_}, {"X-Deployment-Id", "dep-1"}});
  EXPECT_EQ(response.result(), http::status::bad_request);
  EXPECT_THAT(response.body(), HasSubstr("operation"));
  EXPECT_EQ(Get("/v1/authorize", {{"Authorization", "Bearer " + value_},
                                  {"X-Deployment-Id", std::string(257, 'd')},
                                  {"X-Operation", "deployment.get"}})
                .result(),
            http::status::bad_request);
}

TEST_F(HttpServerTest, AuthorizeWithoutCredentialIsUnauthorized) {
  fx_.Sync({Upsert(1, "tok_a", "dep-1", value_)});
  EXPECT_EQ(Get("/v1/authorize", {{"X-Deployment-Id", "dep-1"},
                                  {"X-Operation", "deployment.get"}})
                .result(),
            http::status::unauthorized);
  EXPECT_EQ(Get("/v1/authorize", {{"Authorization", "Basic " + value_},
                                  {"X-Deployment-Id", "dep-1"},
                                  {"X-Operation", "deployment.get"}})
                .result(),
            http::status::unauthorized);
}

TEST_F(HttpServerTest, OversizedHeaderIsRejectedAndTheServerLivesOn) {
  fx_.Sync({Upsert(1, "tok_a", "dep-1", value_)});
  Response response =
      Get("/v1/authorize",
          {{"Authorization", "Bearer " + std::string(16 * 1024, 'a')},
           {"X-Deployment-Id", "dep-1"},
           {"X-Operation", "deployment.get"}});
  EXPECT_EQ(response.result(), http::status::request_header_fields_too_large);
  EXPECT_EQ(Authorize(value_, "dep-1", "deployment.get").result(),
            http::status::ok);
}

TEST_F(HttpServerTest, GarbageRequestGetsBadRequest) {
  tcp::socket socket = Connect();
  asio::write(socket, asio::buffer(std::string("NOT HTTP AT ALL\r\n\r\n")));
  beast::flat_buffer buffer;
  Response response;
  beast::error_code ec;
  http::read(socket, buffer, response, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(response.result(), http::status::bad_request);
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  fx_.Sync({Upsert(1, "tok_a", "dep-1", value_)});
  tcp::socket socket = Connect();
  for (int i = 0; i < 3; ++i) {
    http::request<http::empty_body> request(http::verb::get, "/v1/authorize",
                                            11);
    request.set(http::field::authorization, "Bearer " + value_);
    request.set("X-Deployment-Id", "dep-1");
    request.set("X-Operation", "deployment.logs.get");
    beast::error_code ec;
    Response response = RoundTrip(socket, std::move(request), &ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(response.result(), http::status::ok);
    EXPECT_TRUE(response.keep_alive());
  }
}

TEST_F(HttpServerTest, UnknownPathIsNotFoundAndWrongMethodIsRejected) {
  EXPECT_EQ(Get("/nope").result(), http::status::not_found);
  tcp::socket socket = Connect();
  http::request<http::empty_body> request(http::verb::post, "/metrics", 11);
  EXPECT_EQ(RoundTrip(socket, std::move(request)).result(),
            http::status::method_not_allowed);
}

TEST_F(HttpServerTest, HeadAnswersHeadersOnly) {
  tcp::socket socket = Connect();
  asio::write(socket,
              asio::buffer(std::string("HEAD /healthz HTTP/1.1\r\nHost: x\r\n"
                                       "Connection: close\r\n\r\n")));
  std::string raw;
  beast::error_code ec;
  char chunk[1024];
  while (!ec) {
    const size_t n = socket.read_some(asio::buffer(chunk), ec);
    raw.append(chunk, n);
  }
  EXPECT_EQ(raw.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << raw;
  EXPECT_THAT(raw, HasSubstr("Content-Length: 3\r\n"));
  EXPECT_EQ(raw.substr(raw.size() - 4), "\r\n\r\n") << "no body after HEAD";
}

// Answers are written byte for byte as Beast's serializer would: status line
// of the request's version, the fields in order, a blank line, the body; an
// HTTP/1.0 request without keep-alive is answered and the connection closed.
TEST_F(HttpServerTest, AnswersAreExactBytesOnTheWire) {
  auto exchange = [&](const std::string& request) {
    tcp::socket socket = Connect();
    asio::write(socket, asio::buffer(request));
    std::string raw;
    beast::error_code ec;
    char chunk[1024];
    while (!ec) {
      const size_t n = socket.read_some(asio::buffer(chunk), ec);
      raw.append(chunk, n);
    }
    return raw;
  };
  EXPECT_EQ(exchange("GET /healthz HTTP/1.0\r\n\r\n"),
            "HTTP/1.0 200 OK\r\n"
            "Server: token_verifier\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Cache-Control: no-store\r\n"
            "Content-Length: 3\r\n"
            "\r\n"
            "ok\n");
  EXPECT_EQ(
      exchange("GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
      "HTTP/1.1 404 Not Found\r\n"
      "Server: token_verifier\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Cache-Control: no-store\r\n"
      "Content-Length: 10\r\n"
      "Connection: close\r\n"
      "\r\n"
      "not found\n");
}

// Stop closes the listener and stops serving; a second Stop (and the
// destructor's) is a no-op that neither blocks nor crashes; destruction
// closes the connections that were open.
TEST_F(HttpServerTest, StopIsIdempotent) {
  tcp::socket open_connection = Connect();
  EXPECT_EQ(Get("/healthz").result_int(), 200);
  server_->Stop();
  // The listener is gone: a new connection is refused.
  tcp::socket socket(ioc_);
  beast::error_code ec;
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                               static_cast<unsigned short>(server_->port())),
                 ec);
  EXPECT_TRUE(ec) << "connected after Stop";
  server_->Stop();
  server_.reset();
  // The connection that was open is closed with the server.
  char byte;
  open_connection.read_some(asio::buffer(&byte, 1), ec);
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset)
      << ec.message();
}

// Throttled bad tokens get the configured status: 401 by default (nginx
// auth_request passes it on), 429 when asked (Traefik), with Retry-After.
TEST_F(HttpServerTest, ThrottledBadTokenGetsTheConfiguredStatus) {
  fx_.Sync({});
  PeerThrottleOptions options;
  options.burst = 1;
  options.refill_per_second = 0.001;
  PeerThrottle throttle(options, &fx_.clock);
  fx_.core.SetThrottle(&throttle, /*trusted=*/nullptr);
  auto answer = [&] {
    return AnswerRawHttpRequest(
        "GET /v1/authorize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        "dpt_nope\r\nX-Deployment-Id: dep-1\r\nX-Operation: "
        "deployment.get\r\n\r\n",
        &fx_.core, "10.0.0.1");
  };
  EXPECT_EQ(answer().auth_reason, "MALFORMED_TOKEN");
  RawHttpAnswer throttled = answer();
  EXPECT_EQ(throttled.status, 401);
  EXPECT_EQ(throttled.auth_reason, "THROTTLED");
  fx_.core.SetThrottledHttpStatus(429);
  throttled = answer();
  EXPECT_EQ(throttled.status, 429);
  EXPECT_EQ(throttled.auth_reason, "THROTTLED");
  fx_.core.SetThrottle(nullptr, nullptr);
}

}  // namespace
}  // namespace tokens
