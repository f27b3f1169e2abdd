// http_loadgen: the forward-auth load generator. HTTP/1.1 keep-alive over
// --connections connections (Boost.Beast response parser, Asio, one I/O
// thread), one request in flight per connection, closed loop (--rate=0) or
// paced, driven by the same LoadEngine as the gRPC load generator.
//
// Requests are `GET --path` as a proxy's forward-auth subrequest sends them
// (nginx auth_request, Traefik ForwardAuth): Host, `Authorization: Bearer
// <valid token>`, X-Deployment-Id, X-Operation, X-Forwarded-For,
// X-Original-URI. They are serialized once, before the run. Every answer must
// be 200 with a non-empty X-Token-Id; any other answer fails the run.
//
// Prints `RESULT qps=... allowed=N mismatches=N response_bytes=N ...`.
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "bench/load_engine.h"

ABSL_FLAG(std::string, target, "127.0.0.1:9091", "HTTP server host:port");
ABSL_FLAG(std::string, path, "/v1/authorize", "request target");
ABSL_FLAG(int, connections, 32,
          "keep-alive connections (= requests in flight)");
ABSL_FLAG(double, rate, 0, "requests per second; 0 = closed loop");
ABSL_FLAG(double, duration, 3, "measured seconds");
ABSL_FLAG(double, warmup, 0.5, "warmup seconds");
ABSL_FLAG(std::string, values, "", "file of `value deployment` lines");

namespace tokens::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::vector<std::string> BuildRequests(const std::string& values_path,
                                       const std::string& host,
                                       const std::string& request_target) {
  std::ifstream in(values_path);
  std::vector<std::pair<std::string, std::string>> tokens;
  std::string value, deployment;
  while (in >> value >> deployment) tokens.emplace_back(value, deployment);
  if (tokens.empty()) {
    std::fprintf(stderr, "no token values in %s\n", values_path.c_str());
    std::exit(2);
  }
  static const char* kAllowedOps[] = {
      "deployment.envVars.create", "deployment.get", "deployment.logs.get",
      "deployment.deploys.create", "deployment.airflow.pools.update"};
  std::vector<std::string> requests;
  for (size_t i = 0; i < 4096; ++i) {
    const auto& [token, dep] = tokens[i % tokens.size()];
    requests.push_back(absl::StrFormat(
        "GET %s HTTP/1.1\r\n"
        "Host: %s\r\n"
        "Authorization: Bearer %s\r\n"
        "X-Deployment-Id: %s\r\n"
        "X-Operation: %s\r\n"
        "X-Forwarded-For: 10.1.%d.%d\r\n"
        "X-Original-URI: /api/v1/deployments/%s/variables?page=%d\r\n"
        "\r\n",
        request_target, host, token, dep, kAllowedOps[i % 5], (i / 250) % 250,
        i % 250 + 1, dep, i % 7));
  }
  return requests;
}

struct Connection {
  explicit Connection(asio::io_context& ioc) : socket(ioc) {}
  tcp::socket socket;
  beast::flat_buffer buffer;
  std::optional<http::response_parser<http::string_body>> parser;
  size_t next = 0;
};

int Run() {
  const std::string target = absl::GetFlag(FLAGS_target);
  const size_t colon = target.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "--target must be host:port\n");
    return 2;
  }
  const std::string host = target.substr(0, colon);
  const std::string port = target.substr(colon + 1);
  const std::vector<std::string> requests = BuildRequests(
      absl::GetFlag(FLAGS_values), target, absl::GetFlag(FLAGS_path));

  LoadOptions options;
  options.inflight = absl::GetFlag(FLAGS_connections);
  options.rate = absl::GetFlag(FLAGS_rate);
  options.duration = absl::Seconds(absl::GetFlag(FLAGS_duration));
  options.warmup = absl::Seconds(absl::GetFlag(FLAGS_warmup));

  asio::io_context ioc{1};
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  const auto endpoints = resolver.resolve(host, port, ec);
  if (ec) {
    std::fprintf(stderr, "cannot resolve %s: %s\n", target.c_str(),
                 ec.message().c_str());
    return 2;
  }
  std::vector<std::unique_ptr<Connection>> connections;
  for (int i = 0; i < options.inflight; ++i) {
    auto c = std::make_unique<Connection>(ioc);
    asio::connect(c->socket, endpoints, ec);
    if (!ec) c->socket.set_option(tcp::no_delay(true), ec);
    if (ec) {
      std::fprintf(stderr, "cannot connect to %s: %s\n", target.c_str(),
                   ec.message().c_str());
      return 1;
    }
    c->next = static_cast<size_t>(i) * 131;
    connections.push_back(std::move(c));
  }
  auto work = asio::make_work_guard(ioc);
  std::thread io([&ioc] { ioc.run(); });

  std::atomic<uint64_t> allowed{0}, mismatches{0};
  std::atomic<size_t> min_bytes{SIZE_MAX}, max_bytes{0};
  auto note_bytes = [&](size_t bytes) {
    size_t seen = min_bytes.load();
    while (bytes < seen && !min_bytes.compare_exchange_weak(seen, bytes)) {
    }
    seen = max_bytes.load();
    while (bytes > seen && !max_bytes.compare_exchange_weak(seen, bytes)) {
    }
  };
  LoadEngine engine(options, [&](int slot, LoadEngine::Done done) {
    // Inline on the I/O thread (closed loop), posted from the pacing thread.
    asio::dispatch(ioc, [&, slot, done] {
      Connection& c = *connections[slot];
      const std::string& request = requests[c.next++ % requests.size()];
      asio::async_write(c.socket, asio::buffer(request),
                        [&, done](beast::error_code ec, size_t) {
                          if (ec) return done(false);
                          c.parser.emplace();
                          http::async_read(
                              c.socket, c.buffer, *c.parser,
                              [&, done](beast::error_code ec, size_t bytes) {
                                if (ec) return done(false);
                                const auto& response = c.parser->get();
                                if (response.result() == http::status::ok &&
                                    !response["X-Token-Id"].empty()) {
                                  allowed++;
                                  note_bytes(bytes);
                                } else if (mismatches++ == 0) {
                                  std::fprintf(stderr,
                                               "not an allowed answer: %d %s\n",
                                               response.result_int(),
                                               response.body().c_str());
                                }
                                done(true);
                              });
                        });
    });
  });
  const LoadResult result = engine.Run();
  asio::dispatch(ioc, [&] {
    beast::error_code ignored;
    for (auto& c : connections) c->socket.close(ignored);
    work.reset();
  });
  io.join();
  std::printf(
      "RESULT %s allowed=%llu mismatches=%llu response_bytes=%zu "
      "max_response_bytes=%zu request_bytes=%zu\n",
      FormatResult(result).c_str(),
      static_cast<unsigned long long>(allowed.load()),     // NOLINT
      static_cast<unsigned long long>(mismatches.load()),  // NOLINT
      allowed.load() > 0 ? min_bytes.load() : 0, max_bytes.load(),
      requests[0].size());
  if (mismatches.load() > 0) return 1;
  if (result.calls == 0 || result.errors * 100 > result.calls) return 1;
  return 0;
}

}  // namespace
}  // namespace tokens::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return tokens::bench::Run();
}
