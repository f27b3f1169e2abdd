#include "common/http_client.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/http_client_test_certs.h"
#include "common/http_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokens {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

namespace http = boost::beast::http;

HttpUrl Url(const std::string& url) {
  absl::StatusOr<HttpUrl> parsed = ParseHttpUrl("--notify-url", url);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *parsed : HttpUrl{};
}

TEST(ParseHttpUrlTest, SplitsHttpAndHttps) {
  HttpUrl url = Url("http://example.com/hooks/tokens?x=1");
  EXPECT_FALSE(url.https);
  EXPECT_EQ(url.host, "example.com");
  EXPECT_EQ(url.port, 80);
  EXPECT_EQ(url.target, "/hooks/tokens?x=1");
  EXPECT_EQ(url.HostHeader(), "example.com");
  EXPECT_EQ(url.Origin(), "http://example.com:80");

  url = Url("HTTPS://hooks.example:8443");
  EXPECT_TRUE(url.https);
  EXPECT_EQ(url.host, "hooks.example");
  EXPECT_EQ(url.port, 8443);
  EXPECT_EQ(url.target, "/");
  EXPECT_EQ(url.HostHeader(), "hooks.example:8443");

  url = Url("https://[::1]/a#fragment");
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.port, 443);
  EXPECT_EQ(url.target, "/a");
  EXPECT_EQ(url.HostHeader(), "[::1]");
  EXPECT_EQ(Url("https://[::1]:9000?q").target, "/?q");
}

TEST(ParseHttpUrlTest, RejectsOtherUrlsNamingTheFlag) {
  for (const char* bad : {
           "ftp://example.com/",
           "example.com/hook",
           "",
           "://x",
           "http://",
           "http:///path",
           "http://user:pw@example.com/",
           "http://host:/",
           "http://host:0/",
           "http://host:65536/",
           "http://host:12a/",
           "http://::1:80/",
           "http://[::1/",
           "http://[nothex]/",
           "http://[::1]x/",
           "http://exa mple.com/",
           "http://host/\r\nX: y",
       }) {
    absl::StatusOr<HttpUrl> url = ParseHttpUrl("--notify-url", bad);
    ASSERT_FALSE(url.ok()) << bad;
    EXPECT_EQ(url.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(url.status().message(), HasSubstr("--notify-url")) << bad;
  }
  EXPECT_THAT(ParseHttpUrl("--notify-url", "ftp://x/").status().message(),
              HasSubstr("not ftp://"));
  // The password never appears in the message.
  EXPECT_THAT(
      ParseHttpUrl("--notify-url", "http://u:hunter2@x/").status().message(),
      Not(HasSubstr("hunter2")));
}

// A local receiver on 127.0.0.1:0 that records what it got.
class Receiver {
 public:
  explicit Receiver(int status = 200, const HttpTlsFiles& tls = {}) {
    auto server = HttpServer::Start(
        "127.0.0.1:0",
        [this, status](const HttpRequest& request, std::string_view) {
          absl::MutexLock lock(&mu_);
          last_ = request;
          ++count_;
          return MakeHttpResponse(static_cast<http::status>(status), 11,
                                  "answer\n");
        },
        tls);
    EXPECT_TRUE(server.ok()) << server.status();
    if (server.ok()) server_ = *std::move(server);
  }
  int port() const { return server_->port(); }
  HttpRequest last() {
    absl::MutexLock lock(&mu_);
    return last_;
  }
  int count() {
    absl::MutexLock lock(&mu_);
    return count_;
  }

 private:
  absl::Mutex mu_;
  HttpRequest last_ ABSL_GUARDED_BY(mu_);
  int count_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<HttpServer> server_;
};

std::unique_ptr<HttpClient> Client(const std::string& ca_file = "") {
  absl::StatusOr<std::unique_ptr<HttpClient>> client =
      HttpClient::Create(ca_file);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

TEST(HttpClientTest, PostsHeadersAndBody) {
  Receiver receiver;
  auto client = Client();
  const HttpUrl url =
      Url(absl::StrCat("http://127.0.0.1:", receiver.port(), "/hook?a=b"));
  absl::StatusOr<int> status =
      client->Post(url, {{"X-Test", "yes"}, {"Content-Type", "text/plain"}},
                   "the body", absl::Seconds(30));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, 200);
  const HttpRequest request = receiver.last();
  EXPECT_EQ(request.method(), http::verb::post);
  EXPECT_EQ(request.target(), "/hook?a=b");
  EXPECT_EQ(request.body(), "the body");
  EXPECT_EQ(request["X-Test"], "yes");
  EXPECT_EQ(request[http::field::content_type], "text/plain");
  EXPECT_EQ(request[http::field::host],
            absl::StrCat("127.0.0.1:", receiver.port()));
  EXPECT_EQ(request[http::field::content_length], "8");
}

TEST(HttpClientTest, ReturnsAnErrorStatusCodeAsAValue) {
  Receiver receiver(500);
  auto client = Client();
  absl::StatusOr<int> status =
      client->Post(Url(absl::StrCat("http://127.0.0.1:", receiver.port(), "/")),
                   {}, "x", absl::Seconds(30));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, 500);
}

// A port nobody listens on: bound, then closed.
int ClosedPort() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor(
      ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

TEST(HttpClientTest, RefusedConnectionIsUnavailableWithoutThePath) {
  auto client = Client();
  absl::StatusOr<int> status =
      client->Post(Url(absl::StrCat("http://127.0.0.1:", ClosedPort(),
                                    "/secret-path?key=hunter2")),
                   {}, "x", absl::Seconds(30));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.status().message(), HasSubstr("connect"));
  EXPECT_THAT(status.status().message(), HasSubstr("http://127.0.0.1:"));
  EXPECT_THAT(status.status().message(), Not(HasSubstr("secret")));
  EXPECT_THAT(status.status().message(), Not(HasSubstr("hunter2")));
}

// Accepts connections into its backlog and never answers.
class SilentServer {
 public:
  SilentServer()
      : acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {}
  int port() const { return acceptor_.local_endpoint().port(); }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
};

TEST(HttpClientTest, SilentServerTimesOut) {
  SilentServer silent;
  auto client = Client();
  absl::StatusOr<int> status =
      client->Post(Url(absl::StrCat("http://127.0.0.1:", silent.port(), "/")),
                   {}, "x", absl::Milliseconds(200));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.status().message(), HasSubstr("timed out"));
}

TEST(HttpClientTest, CancelEndsARequestInProgressAndLaterOnes) {
  SilentServer silent;
  auto client = Client();
  const HttpUrl url = Url(absl::StrCat("http://127.0.0.1:", silent.port()));
  absl::StatusOr<int> status;
  std::thread post([&] {
    // Waits for the answer for up to an hour, unless cancelled.
    status = client->Post(url, {}, "x", absl::Hours(1));
  });
  client->Cancel();
  post.join();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(client->Post(url, {}, "x", absl::Hours(1)).status().code(),
            absl::StatusCode::kCancelled);
}

class HttpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::WebhookTestCerts> certs =
        testing::MakeWebhookTestCerts(std::getenv("TEST_TMPDIR"));
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
  }
  testing::WebhookTestCerts certs_;
};

TEST_F(HttpsTest, VerifiesTheServerAgainstTheCaFileByNameAndAddress) {
  Receiver receiver(200, {certs_.server_cert, certs_.server_key});
  auto client = Client(certs_.ca_cert);
  for (const char* host : {"localhost", "127.0.0.1"}) {
    absl::StatusOr<int> status = client->Post(
        Url(absl::StrCat("https://", host, ":", receiver.port(), "/tls")), {},
        "over tls", absl::Seconds(30));
    ASSERT_TRUE(status.ok()) << host << ": " << status.status();
    EXPECT_EQ(*status, 200);
    EXPECT_EQ(receiver.last().body(), "over tls");
  }
}

TEST_F(HttpsTest, AnotherCaFailsTheHandshake) {
  Receiver receiver(200, {certs_.server_cert, certs_.server_key});
  auto client = Client(certs_.other_ca_cert);
  absl::StatusOr<int> status = client->Post(
      Url(absl::StrCat("https://localhost:", receiver.port(), "/")), {}, "x",
      absl::Seconds(30));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.status().message(), HasSubstr("TLS"));
  EXPECT_THAT(status.status().message(), HasSubstr("certificate"));
  EXPECT_EQ(receiver.count(), 0);
}

TEST_F(HttpsTest, TheSystemRootsDoNotTrustATestCa) {
  Receiver receiver(200, {certs_.server_cert, certs_.server_key});
  auto client = Client();
  absl::StatusOr<int> status = client->Post(
      Url(absl::StrCat("https://localhost:", receiver.port(), "/")), {}, "x",
      absl::Seconds(30));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(receiver.count(), 0);
}

TEST_F(HttpsTest, ACertificateForAnotherNameIsRefused) {
  Receiver receiver(200, {certs_.wrong_name_cert, certs_.wrong_name_key});
  auto client = Client(certs_.wrong_name_cert);
  for (const char* host : {"localhost", "127.0.0.1"}) {
    absl::StatusOr<int> status = client->Post(
        Url(absl::StrCat("https://", host, ":", receiver.port(), "/")), {}, "x",
        absl::Seconds(30));
    ASSERT_FALSE(status.ok()) << host;
    EXPECT_EQ(status.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(status.status().message(), HasSubstr("mismatch")) << host;
  }
  EXPECT_EQ(receiver.count(), 0);
}

TEST_F(HttpsTest, PlainHttpToATlsPortFails) {
  Receiver receiver(200, {certs_.server_cert, certs_.server_key});
  auto client = Client(certs_.ca_cert);
  absl::StatusOr<int> status =
      client->Post(Url(absl::StrCat("http://127.0.0.1:", receiver.port(), "/")),
                   {}, "x", absl::Seconds(30));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.status().code(), absl::StatusCode::kUnavailable);
}

TEST(HttpClientCreateTest, AnUnreadableOrEmptyCaFileIsInvalidArgument) {
  const std::string dir = std::getenv("TEST_TMPDIR");
  const std::string empty = dir + "/empty.pem";
  FILE* file = std::fopen(empty.c_str(), "w");
  ASSERT_NE(file, nullptr);
  std::fclose(file);
  for (const std::string& path : {dir + "/missing.pem", empty}) {
    absl::StatusOr<std::unique_ptr<HttpClient>> client =
        HttpClient::Create(path);
    ASSERT_FALSE(client.ok()) << path;
    EXPECT_EQ(client.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(client.status().message(), HasSubstr(path));
  }
}

}  // namespace
}  // namespace tokens
