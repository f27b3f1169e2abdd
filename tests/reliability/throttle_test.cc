// Abuse control against the real binaries: one client address hammering the
// verifier with bad tokens gets RESOURCE_EXHAUSTED on gRPC Check and 429 on
// HTTP forward-auth, while another address (127.0.0.2, also loopback) keeps
// getting ALLOWED for its valid token. Refusals are counted in
// token_verifier_throttled_total.
#include <grpcpp/grpcpp.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <string>
#include <utility>

#include "common/file_util.h"
#include "common/token_value.h"
#include "gtest/gtest.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "tests/testing/server_process.h"

namespace tokens::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// GET /v1/authorize from source address `source` with `token`; the HTTP
// status and body, 0 when no answer came.
std::pair<int, std::string> Authorize(const std::string& source,
                                      const std::string& address,
                                      const std::string& target,
                                      const std::string& token) {
  const size_t colon = address.rfind(':');
  asio::io_context ioc;
  tcp::socket socket(ioc);
  beast::error_code ec;
  socket.open(tcp::v4(), ec);
  if (!ec) socket.bind({asio::ip::make_address(source), 0}, ec);
  if (!ec) {
    socket.connect(
        {asio::ip::make_address(address.substr(0, colon)),
         static_cast<uint16_t>(std::stoi(address.substr(colon + 1)))},
        ec);
  }
  if (ec) return {0, ec.message()};
  beast::tcp_stream stream(std::move(socket));
  stream.expires_after(std::chrono::seconds(10));
  http::request<http::empty_body> request(http::verb::get, target, 11);
  request.set(http::field::host, address);
  if (!token.empty())
    request.set(http::field::authorization, "Bearer " + token);
  request.set("X-Deployment-Id", "prod");
  request.set("X-Operation", "deployment.get");
  http::write(stream, request, ec);
  if (ec) return {0, ec.message()};
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response, ec);
  if (ec) return {0, ec.message()};
  return {response.result_int(), response.body()};
}

TEST(ThrottleTest, HammeringPeerIsThrottledOtherPeerStaysAllowed) {
  const std::string data_dir = NewTempDir("throttle") + "/var";
  auto service =
      ServerProcess::Start(RunfilePath("services/token_service"),
                           {"--listen", "127.0.0.1:0", "--data-dir", data_dir});
  ASSERT_TRUE(service.ok()) << service.status();
  // Refill is slow so that the counts below do not depend on timing.
  auto verifier = ServerProcess::Start(
      RunfilePath("verifier/token_verifier"),
      {"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
       "--token-service", (*service)->address(), "--key-file",
       data_dir + "/verifier.key", "--failed-check-burst", "20",
       "--failed-check-rate", "0.01"},
      /*listen_lines=*/2);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  auto admin = v1::TokenService::NewStub(grpc::CreateChannel(
      (*service)->address(), grpc::InsecureChannelCredentials()));
  auto check = v1::Verifier::NewStub(grpc::CreateChannel(
      (*verifier)->address(), grpc::InsecureChannelCredentials()));
  v1::CreateTokenRequest create;
  create.set_deployment_id("prod");
  create.set_name("ci");
  v1::CreateTokenResponse created;
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization",
                    "Bearer " + *ReadKeyFile(data_dir + "/admin.key"));
    ASSERT_TRUE(admin->CreateToken(&ctx, create, &created).ok());
  }
  auto grpc_check = [&](const std::string& value, v1::CheckResponse* response) {
    v1::CheckRequest request;
    request.set_token(value);
    request.set_deployment_id("prod");
    request.set_operation("deployment.get");
    grpc::ClientContext ctx;
    return check->Check(&ctx, request, response);
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        v1::CheckResponse response;
        return grpc_check(created.secret(), &response).ok() &&
               response.reason() == v1::ALLOWED;
      },
      absl::Seconds(20)));

  // 127.0.0.1 hammers with never-issued values: 20 decisions, then refusals.
  int decided = 0;
  int refused = 0;
  for (int i = 0; i < 60; ++i) {
    v1::CheckResponse response;
    grpc::Status status = grpc_check(GenerateTokenValue().value(), &response);
    if (status.ok()) {
      EXPECT_EQ(response.reason(), v1::UNKNOWN_TOKEN);
      ++decided;
    } else {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      ++refused;
    }
  }
  EXPECT_EQ(decided, 20);
  EXPECT_EQ(refused, 40);
  // The same address over HTTP forward-auth: 429 for another bad token, while its valid
  // token still passes (a sidecar's one peer may be an app relaying many users).
  const std::string http = (*verifier)->http_address();
  EXPECT_EQ(Authorize("127.0.0.1", http, "/v1/authorize",
                      GenerateTokenValue().value())
                .first,
            429);
  EXPECT_EQ(
      Authorize("127.0.0.1", http, "/v1/authorize", created.secret()).first,
      200);
  // Another address is not slowed down.
  for (int i = 0; i < 30; ++i) {
    auto [status, body] =
        Authorize("127.0.0.2", http, "/v1/authorize", created.secret());
    ASSERT_EQ(status, 200) << body;
  }
  // And its own bad tokens are answered (401) until its own burst is spent.
  EXPECT_EQ(Authorize("127.0.0.2", http, "/v1/authorize",
                      GenerateTokenValue().value())
                .first,
            401);
  const std::string metrics =
      Authorize("127.0.0.2", http, "/metrics", "").second;
  EXPECT_NE(metrics.find("\ntoken_verifier_throttled_total 41\n"),
            std::string::npos)
      << metrics;
}

}  // namespace
}  // namespace tokens::testing
