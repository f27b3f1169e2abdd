// Transport security with certificates generated at test time: the real
// token_service, token_verifier and tokenctl binaries with --tls-cert /
// --tls-key, mutual TLS (--tls-client-ca), the verifier's feed client over
// mutual TLS (--token-service-ca, --tls-client-cert), and HTTPS on the
// verifier's HTTP endpoint.
#include <grpcpp/grpcpp.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/file_util.h"
#include "common/tls_files.h"
#include "gtest/gtest.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "tests/testing/server_process.h"
#include "tests/testing/test_certs.h"

namespace tokens::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

enum class ClientCert { kNone, kValid, kRogue };

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = NewTempDir("tls");
    auto certs = MakeTestCerts(dir_ + "/certs");
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
    data_dir_ = dir_ + "/var";
  }

  // TokenService on loopback with TLS; with mutual TLS when `mutual`.
  void StartService(bool mutual) {
    std::vector<std::string> args = {
        "--listen",   "127.0.0.1:0",      "--data-dir", data_dir_,
        "--tls-cert", certs_.server_cert, "--tls-key",  certs_.server_key};
    if (mutual) {
      args.insert(args.end(), {"--tls-client-ca", certs_.ca_cert});
    }
    auto service =
        ServerProcess::Start(RunfilePath("services/token_service"), args);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = *std::move(service);
    admin_key_ = *ReadKeyFile(data_dir_ + "/admin.key");
  }

  std::shared_ptr<grpc::ChannelCredentials> TlsCredentials(ClientCert cert) {
    ClientTlsFiles files;
    files.ca_file = certs_.ca_cert;
    if (cert == ClientCert::kValid) {
      files.cert_file = certs_.client_cert;
      files.key_file = certs_.client_key;
    } else if (cert == ClientCert::kRogue) {
      files.cert_file = certs_.rogue_client_cert;
      files.key_file = certs_.rogue_client_key;
    }
    return *ChannelCredentialsFrom(files);
  }

  // ListTokens as the admin over `credentials`; the call's status.
  grpc::Status List(std::shared_ptr<grpc::ChannelCredentials> credentials) {
    auto stub = v1::TokenService::NewStub(
        grpc::CreateChannel(service_->address(), std::move(credentials)));
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + admin_key_);
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(5));
    v1::ListTokensRequest request;
    request.set_deployment_id("prod");
    v1::ListTokensResponse response;
    return stub->ListTokens(&ctx, request, &response);
  }

  v1::CreateTokenResponse Create(
      std::shared_ptr<grpc::ChannelCredentials> credentials) {
    auto stub = v1::TokenService::NewStub(
        grpc::CreateChannel(service_->address(), std::move(credentials)));
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + admin_key_);
    v1::CreateTokenRequest request;
    request.set_deployment_id("prod");
    request.set_name("ci");
    v1::CreateTokenResponse response;
    grpc::Status status = stub->CreateToken(&ctx, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  std::string dir_;
  std::string data_dir_;
  TestCerts certs_;
  std::unique_ptr<ServerProcess> service_;
  std::string admin_key_;
};

// GET `target` from `address` over HTTPS trusting `ca_file`; the HTTP status,
// or 0 when the connection or handshake failed.
int HttpsGet(const std::string& address, const std::string& target,
             const std::string& ca_file) {
  const size_t colon = address.rfind(':');
  asio::io_context ioc;
  ssl::context context(ssl::context::tls_client);
  beast::error_code ec;
  context.load_verify_file(ca_file, ec);
  if (ec) return 0;
  context.set_verify_mode(ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(ioc, context);
  tcp::resolver resolver(ioc);
  auto endpoints =
      resolver.resolve(address.substr(0, colon), address.substr(colon + 1), ec);
  if (ec) return 0;
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
  beast::get_lowest_layer(stream).connect(endpoints, ec);
  if (ec) return 0;
  stream.handshake(ssl::stream_base::client, ec);
  if (ec) return 0;
  http::request<http::empty_body> request(http::verb::get, target, 11);
  request.set(http::field::host, address);
  http::write(stream, request, ec);
  if (ec) return 0;
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response, ec);
  if (ec) return 0;
  return response.result_int();
}

// Plain-text GET: the HTTP status and body, status 0 when no HTTP answer
// came.
std::pair<int, std::string> PlainRequest(const std::string& address,
                                         const std::string& target) {
  const size_t colon = address.rfind(':');
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  auto endpoints =
      resolver.resolve(address.substr(0, colon), address.substr(colon + 1), ec);
  if (ec) return {0, ""};
  stream.expires_after(std::chrono::seconds(10));
  stream.connect(endpoints, ec);
  if (ec) return {0, ""};
  http::request<http::empty_body> request(http::verb::get, target, 11);
  request.set(http::field::host, address);
  http::write(stream, request, ec);
  if (ec) return {0, ""};
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response, ec);
  if (ec) return {0, ""};
  return {response.result_int(), response.body()};
}

int PlainGet(const std::string& address, const std::string& target) {
  return PlainRequest(address, target).first;
}

TEST_F(TlsTest, TlsClientWorksPlaintextClientFails) {
  StartService(/*mutual=*/false);
  grpc::Status tls = List(TlsCredentials(ClientCert::kNone));
  EXPECT_TRUE(tls.ok()) << tls.error_message();
  grpc::Status plain = List(grpc::InsecureChannelCredentials());
  EXPECT_EQ(plain.error_code(), grpc::StatusCode::UNAVAILABLE)
      << plain.error_message();
  // A client that does not trust the server's CA refuses the handshake.
  ClientTlsFiles wrong_roots;
  wrong_roots.ca_file = certs_.rogue_client_cert;  // not the CA that signed it
  grpc::Status untrusted = List(*ChannelCredentialsFrom(wrong_roots));
  EXPECT_EQ(untrusted.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, MutualTlsRefusesClientsWithoutACertificateFromTheCa) {
  StartService(/*mutual=*/true);
  EXPECT_EQ(List(TlsCredentials(ClientCert::kNone)).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(List(TlsCredentials(ClientCert::kRogue)).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(List(grpc::InsecureChannelCredentials()).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  grpc::Status with_cert = List(TlsCredentials(ClientCert::kValid));
  EXPECT_TRUE(with_cert.ok()) << with_cert.error_message();
}

TEST_F(TlsTest, VerifierSyncsOverMutualTlsAndServesTlsAndHttps) {
  StartService(/*mutual=*/true);
  const v1::CreateTokenResponse created =
      Create(TlsCredentials(ClientCert::kValid));
  auto verifier =
      ServerProcess::Start(RunfilePath("verifier/token_verifier"),
                           {"--listen",           "127.0.0.1:0",
                            "--http-listen",      "127.0.0.1:0",
                            "--token-service",    service_->address(),
                            "--key-file",         data_dir_ + "/verifier.key",
                            "--token-service-ca", certs_.ca_cert,
                            "--tls-client-cert",  certs_.client_cert,
                            "--tls-client-key",   certs_.client_key,
                            "--tls-cert",         certs_.server_cert,
                            "--tls-key",          certs_.server_key,
                            "--tls-client-ca",    certs_.ca_cert},
                           /*listen_lines=*/2);
  ASSERT_TRUE(verifier.ok()) << verifier.status();

  auto check = [&](std::shared_ptr<grpc::ChannelCredentials> credentials,
                   v1::CheckResponse* response) {
    auto stub = v1::Verifier::NewStub(
        grpc::CreateChannel((*verifier)->address(), std::move(credentials)));
    v1::CheckRequest request;
    request.set_token(created.secret());
    request.set_deployment_id("prod");
    request.set_operation("deployment.envVars.create");
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(5));
    return stub->Check(&ctx, request, response);
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        v1::CheckResponse response;
        return check(TlsCredentials(ClientCert::kValid), &response).ok() &&
               response.reason() == v1::ALLOWED;
      },
      absl::Seconds(20)))
      << (*verifier)->Log();
  v1::CheckResponse response;
  EXPECT_EQ(check(grpc::InsecureChannelCredentials(), &response).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(check(TlsCredentials(ClientCert::kNone), &response).error_code(),
            grpc::StatusCode::UNAVAILABLE);

  // HTTPS without a client certificate (probes and scrapers), never plain.
  EXPECT_EQ(HttpsGet((*verifier)->http_address(), "/readyz", certs_.ca_cert),
            200);
  EXPECT_EQ(HttpsGet((*verifier)->http_address(), "/healthz", certs_.ca_cert),
            200);
  EXPECT_EQ(PlainGet((*verifier)->http_address(), "/readyz"), 0);
  // The server is still fine after a plain-text client spoke to it.
  EXPECT_EQ(HttpsGet((*verifier)->http_address(), "/readyz", certs_.ca_cert),
            200);
}

TEST_F(TlsTest, VerifierWithoutClientCertificateNeverSyncsWithMutualTls) {
  StartService(/*mutual=*/true);
  auto verifier = ServerProcess::Start(
      RunfilePath("verifier/token_verifier"),
      {"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
       "--token-service", service_->address(), "--key-file",
       data_dir_ + "/verifier.key", "--token-service-ca", certs_.ca_cert},
      /*listen_lines=*/2);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  // Several refused streams, and still not ready: fail closed.
  auto reconnects = [&] {
    const std::string metrics =
        PlainRequest((*verifier)->http_address(), "/metrics").second;
    const std::string name = "\ntoken_verifier_reconnects_total ";
    const size_t at = metrics.find(name);
    return at == std::string::npos
               ? 0
               : std::atoi(metrics.c_str() + at + name.size());
  };
  ASSERT_TRUE(WaitFor([&] { return reconnects() >= 3; }, absl::Seconds(30)))
      << PlainRequest((*verifier)->http_address(), "/metrics").second
      << (*verifier)->Log();
  EXPECT_EQ(PlainGet((*verifier)->http_address(), "/readyz"), 503);
}

TEST_F(TlsTest, NonLoopbackListenersWithTlsNeedNoInsecureFlag) {
  auto service = ServerProcess::Start(
      RunfilePath("services/token_service"),
      {"--listen", "0.0.0.0:0", "--data-dir", data_dir_, "--tls-cert",
       certs_.server_cert, "--tls-key", certs_.server_key});
  EXPECT_TRUE(service.ok()) << service.status();
  auto verifier = ServerProcess::Start(
      RunfilePath("verifier/token_verifier"),
      {"--listen", "0.0.0.0:0", "--http-listen", "0.0.0.0:0", "--key-file",
       data_dir_ + "/verifier.key", "--tls-cert", certs_.server_cert,
       "--tls-key", certs_.server_key},
      /*listen_lines=*/2);
  EXPECT_TRUE(verifier.ok()) << verifier.status();
}

TEST_F(TlsTest, TlsFlagsMustComeInPairs) {
  struct Case {
    std::string binary;
    std::vector<std::string> args;
  };
  const std::vector<Case> cases = {
      {"services/token_service",
       {"--data-dir", data_dir_, "--tls-cert", certs_.server_cert}},
      {"services/token_service",
       {"--data-dir", data_dir_, "--tls-client-ca", certs_.ca_cert}},
      {"verifier/token_verifier", {"--tls-key", certs_.server_key}},
      {"verifier/token_verifier", {"--tls-client-cert", certs_.client_cert}},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {RunfilePath(c.binary)};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    CommandResult result = RunCommand(argv, {});
    EXPECT_EQ(result.exit_code, 2) << c.binary << " " << result.err;
  }
}

TEST_F(TlsTest, TokenctlConnectsWithCaFileAndClientCertificate) {
  StartService(/*mutual=*/true);
  const std::vector<std::string> base = {RunfilePath("cli/tokenctl"),
                                         "token",
                                         "list",
                                         "--deployment",
                                         "prod",
                                         "--service",
                                         service_->address(),
                                         "--admin-key-file",
                                         data_dir_ + "/admin.key"};
  std::vector<std::string> with_flags = base;
  with_flags.insert(with_flags.end(),
                    {"--ca-file", certs_.ca_cert, "--client-cert",
                     certs_.client_cert, "--client-key", certs_.client_key});
  CommandResult ok = RunCommand(with_flags, {});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  // The same from the environment.
  CommandResult from_env =
      RunCommand(base, {"TOKENS_CA_FILE=" + certs_.ca_cert,
                        "TOKENS_CLIENT_CERT=" + certs_.client_cert,
                        "TOKENS_CLIENT_KEY=" + certs_.client_key});
  EXPECT_EQ(from_env.exit_code, 0) << from_env.err;
  // Without a client certificate, and in plain text, it cannot connect.
  std::vector<std::string> ca_only = base;
  ca_only.insert(ca_only.end(), {"--ca-file", certs_.ca_cert});
  CommandResult refused = RunCommand(ca_only, {});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("TLS"), std::string::npos) << refused.err;
  CommandResult plain = RunCommand(base, {});
  EXPECT_NE(plain.exit_code, 0);
}

}  // namespace
}  // namespace tokens::testing
