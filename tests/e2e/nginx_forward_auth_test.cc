// Real nginx (Debian's package) in front of the real verifier, set up as a
// new user would: `auth_request` to /v1/authorize, nginx adding
// X-Forwarded-For, the verifier trusting only nginx's address (127.0.0.1).
// Two clients on 127.0.0.2 and 127.0.0.3: after the first one's burst of bad
// tokens its bad tokens are still 401 through nginx (never the 500 nginx makes
// of a 429), the second one's bad token gets a normal 401, and both clients'
// valid tokens pass.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/file_util.h"
#include "common/token_value.h"
#include "gtest/gtest.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/service_and_verifier.h"

extern char** environ;

namespace tokens::testing {
namespace {

constexpr char kNginx[] = "/usr/sbin/nginx";

// GET /index.html through nginx from source address `source`.
HttpResult Get(const std::string& source, const std::string& nginx,
               const std::string& token) {
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Host", "app.example"}};
  if (!token.empty()) headers.push_back({"Authorization", "Bearer " + token});
  return HttpGet(nginx, "/index.html", headers, source);
}

// nginx in the foreground, one process, everything under `dir`.
class Nginx {
 public:
  Nginx(const std::string& dir, const std::string& listen,
        const std::string& verifier_http) {
    std::ofstream(dir + "/index.html") << "hello from the app\n";
    const std::string config = absl::StrReplaceAll(
        R"(daemon off;
master_process off;
error_log DIR/error.log info;
pid DIR/nginx.pid;
events {}
http {
  access_log DIR/access.log;
  client_body_temp_path DIR/body;
  proxy_temp_path DIR/proxy;
  fastcgi_temp_path DIR/fastcgi;
  uwsgi_temp_path DIR/uwsgi;
  scgi_temp_path DIR/scgi;
  server {
    listen LISTEN;
    location / {
      auth_request /_token_auth;
      root DIR;
    }
    location = /_token_auth {
      internal;
      proxy_pass http://VERIFIER/v1/authorize;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Deployment-Id prod;
      proxy_set_header X-Operation deployment.get;
    }
  }
}
)",
        {{"DIR", dir}, {"LISTEN", listen}, {"VERIFIER", verifier_http}});
    std::ofstream(dir + "/nginx.conf") << config;
    const std::string conf = dir + "/nginx.conf";
    const char* argv[] = {kNginx, "-p",         dir.c_str(),
                          "-c",   conf.c_str(), nullptr};
    spawned_ = posix_spawn(&pid_, kNginx, nullptr, nullptr,
                           const_cast<char**>(argv), environ) == 0;
    error_log_ = dir + "/error.log";
  }
  ~Nginx() {
    if (!spawned_) return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  bool spawned() const { return spawned_; }
  std::string ErrorLog() const { return ReadFileOrEmpty(error_log_); }

 private:
  static std::string ReadFileOrEmpty(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  pid_t pid_ = 0;
  bool spawned_ = false;
  std::string error_log_;
};

TEST(NginxForwardAuthTest, BadTokensFromOneClientNeverBecome500s) {
  ASSERT_EQ(access(kNginx, X_OK), 0)
      << kNginx << " is missing: scripts/install-deps.sh installs nginx";
  const std::string dir = NewTempDir("nginx");
  auto system = ServiceAndVerifier::Start(
      dir + "/var", {},
      {"--failed-check-burst", "5", "--failed-check-rate", "0.01",
       "--trusted-proxies", "127.0.0.1/32"});
  ASSERT_TRUE(system.ok()) << system.status();
  auto created = (*system)->CreateToken("prod", "ci");
  ASSERT_TRUE(created.ok()) << created.status();

  const std::string nginx_address = FreeLoopbackAddress();
  Nginx nginx(dir, nginx_address, (*system)->verifier().http_address());
  ASSERT_TRUE(nginx.spawned());
  // Up when it answers; the valid token passing also means the verifier has
  // synced. Only valid tokens are sent while waiting, so nothing is charged.
  ASSERT_TRUE(WaitFor(
      [&] {
        return Get("127.0.0.2", nginx_address, created->secret()).status == 200;
      },
      absl::Seconds(20)))
      << nginx.ErrorLog();
  EXPECT_EQ(Get("127.0.0.2", nginx_address, created->secret()).body,
            "hello from the app\n");
  // From here on nginx must never see a status it turns into a 500. (While
  // the verifier was still syncing, its 503 NOT_READY did: nginx makes any
  // auth status but 2xx, 401 and 403 a 500; see docs/envoy.md.)
  const size_t log_before = nginx.ErrorLog().size();

  // The first client's burst of bad tokens, and well past it: every answer
  // is a 401 nginx passes on, never a 500.
  for (int i = 0; i < 30; ++i) {
    HttpResult answer = Get("127.0.0.2", nginx_address, *GenerateTokenValue());
    ASSERT_EQ(answer.status, 401) << i << " " << answer.body << "\n"
                                  << nginx.ErrorLog();
  }
  EXPECT_EQ(Get("127.0.0.2", nginx_address, "").status, 401);
  // The second client's bad token is an ordinary 401 (decided, not
  // throttled: the verifier charges end clients, not nginx).
  EXPECT_EQ(Get("127.0.0.3", nginx_address, *GenerateTokenValue()).status, 401);
  // Both clients' valid tokens pass.
  EXPECT_EQ(Get("127.0.0.2", nginx_address, created->secret()).status, 200);
  EXPECT_EQ(Get("127.0.0.3", nginx_address, created->secret()).status, 200);

  // The verifier saw the end clients: of 127.0.0.2's 31 bad tokens (30 and
  // the missing one) all but its burst of 5 were throttled, none of
  // 127.0.0.3's.
  EXPECT_EQ(nginx.ErrorLog().find("unexpected status", log_before),
            std::string::npos)
      << nginx.ErrorLog().substr(log_before);
  const std::string text =
      HttpGet((*system)->verifier().http_address(), "/metrics").body;
  EXPECT_NE(text.find("\ntoken_verifier_throttled_total 26\n"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace tokens::testing
