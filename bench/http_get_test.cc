#include "bench/http_get.h"

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/http_server.h"
#include "gtest/gtest.h"

namespace tokens {
namespace {

namespace http = boost::beast::http;

constexpr absl::Duration kTimeout = absl::Seconds(10);

// Answers /metrics with a page and everything else with 404.
std::unique_ptr<HttpServer> StartServer() {
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(
      "127.0.0.1:0", [](const HttpRequest& request, std::string_view) {
        if (request.target() == "/metrics") {
          return MakeHttpResponse(http::status::ok, request.version(),
                                  "token_verifier_ready 1\n");
        }
        return MakeHttpResponse(http::status::not_found, request.version(),
                                "not found\n");
      });
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

TEST(HttpGetTest, ReturnsTheBodyOfA200) {
  std::unique_ptr<HttpServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::string> page =
      HttpGet("127.0.0.1", server->port(), "/metrics", kTimeout);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(*page, "token_verifier_ready 1\n");
  // Again: one connection per request.
  page = HttpGet("127.0.0.1", server->port(), "/metrics", kTimeout);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(*page, "token_verifier_ready 1\n");
}

TEST(HttpGetTest, TakesAHostPortAddress) {
  std::unique_ptr<HttpServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::string> page = HttpGet(
      "127.0.0.1:" + std::to_string(server->port()), "/metrics", kTimeout);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(*page, "token_verifier_ready 1\n");
}

TEST(HttpGetTest, AnotherStatusIsUnavailable) {
  std::unique_ptr<HttpServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::string> page =
      HttpGet("127.0.0.1", server->port(), "/nothing", kTimeout);
  EXPECT_EQ(page.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(page.status().message().find("HTTP 404"), std::string::npos)
      << page.status();
}

TEST(HttpGetTest, ARefusedConnectionIsUnavailable) {
  std::unique_ptr<HttpServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  server.reset();
  absl::StatusOr<std::string> page =
      HttpGet("127.0.0.1", port, "/metrics", kTimeout);
  EXPECT_EQ(page.status().code(), absl::StatusCode::kUnavailable)
      << page.status();
}

TEST(HttpGetTest, ABadAddressIsInvalidArgument) {
  EXPECT_EQ(HttpGet("no-port", "/metrics", kTimeout).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HttpGet("", "/metrics", kTimeout).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HttpGetTest, ASilentServerIsDeadlineExceeded) {
  absl::Notification release;
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(
      "127.0.0.1:0", [&release](const HttpRequest& request, std::string_view) {
        release.WaitForNotificationWithTimeout(absl::Seconds(30));
        return MakeHttpResponse(http::status::ok, request.version(), "late\n");
      });
  ASSERT_TRUE(server.ok()) << server.status();
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> page = HttpGet(
      "127.0.0.1", (*server)->port(), "/metrics", absl::Milliseconds(200));
  const absl::Duration took = absl::Now() - start;
  release.Notify();
  EXPECT_EQ(page.status().code(), absl::StatusCode::kDeadlineExceeded)
      << page.status();
  EXPECT_LT(took, absl::Seconds(5));
}

}  // namespace
}  // namespace tokens
