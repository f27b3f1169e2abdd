// loadgen: the benchmark's load generator (gRPC callback client API).
//
//   --mode=ext_authz  Envoy ext_authz v3 Check calls
//                  (envoy.service.auth.v3.Authorization) shaped as Envoy's HTTP
//                  filter sends them, every one with a valid token, against the
//                  verifier or the echo server (same stub, same bytes); every
//                  answer must be allowed (status 0 and an x-token-id header).
//   --mode=check   Check calls against the verifier, the naive verifier
//                  (--service=verifier) or the echo server (--service=echo);
//                  closed loop (--rate=0) or paced. With --expect, every answer
//                  is compared with the decision it must have and the run
//                  fails if any differs.
//   --mode=create  CreateToken against TokenService (admin key).
//   --mode=list    ListTokens (page of --page_size) of one Deployment.
//   --mode=revoke  --count tokens: CreateToken, wait until the verifier allows
//                  each, then DeleteToken and poll Check until it denies; the
//                  time from DeleteToken returning to the first denial.
//
// Prints one line `RESULT key=value ...` on stdout. Exit code 1 on a wrong
// answer or when more than 1 % of calls failed.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/echo.grpc.pb.h"
#include "bench/load_engine.h"
#include "common/token_value.h"
#include "envoy/service/auth/v3/external_auth.grpc.pb.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"

ABSL_FLAG(std::string, mode, "check",
          "check | ext_authz | create | list | revoke");
ABSL_FLAG(std::string, target, "127.0.0.1:50061", "server address");
ABSL_FLAG(std::string, verifier, "", "verifier address (revoke mode)");
ABSL_FLAG(std::string, service, "verifier", "check mode: verifier | echo");
ABSL_FLAG(int, inflight, 32, "calls in flight");
ABSL_FLAG(int, channels, 2, "gRPC channels (connections)");
ABSL_FLAG(double, rate, 0, "calls per second; 0 = closed loop");
ABSL_FLAG(double, duration, 3, "measured seconds");
ABSL_FLAG(double, warmup, 0.5, "warmup seconds");
ABSL_FLAG(std::string, values, "",
          "check mode: file of `value deployment` lines (cached tokens)");
ABSL_FLAG(bool, expect, true, "check mode: verify every decision");
ABSL_FLAG(std::string, key_file, "", "admin key file (create/list/revoke)");
ABSL_FLAG(std::string, deployment, "bench-list", "list/revoke: Deployment");
ABSL_FLAG(int, page_size, 100, "list mode: page size");
ABSL_FLAG(int, count, 200, "revoke mode: revocations");

namespace tokens::bench {
namespace {

using v1::CheckRequest;
using v1::CheckResponse;

std::string ReadKey(const std::string& path) {
  std::ifstream in(path);
  std::string key;
  in >> key;
  return key;
}

std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(
    const std::string& target, int n) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < n; ++i) {
    grpc::ChannelArguments args;
    // Distinct arguments give each channel its own connection.
    args.SetInt("bench.channel", i);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channels.push_back(grpc::CreateCustomChannel(
        target, grpc::InsecureChannelCredentials(), args));
  }
  return channels;
}

LoadOptions OptionsFromFlags() {
  LoadOptions o;
  o.inflight = absl::GetFlag(FLAGS_inflight);
  o.rate = absl::GetFlag(FLAGS_rate);
  o.duration = absl::Seconds(absl::GetFlag(FLAGS_duration));
  o.warmup = absl::Seconds(absl::GetFlag(FLAGS_warmup));
  return o;
}

// One request of the Check mix and the decision it must get.
struct CheckCase {
  CheckRequest request;
  v1::Reason expected;
};

// 5 of 8 allowed; one each of OPERATION_NOT_PERMITTED, WRONG_DEPLOYMENT and
// UNKNOWN_TOKEN (a well-formed value nobody issued).
std::vector<CheckCase> BuildCases(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::pair<std::string, std::string>> tokens;
  std::string value, deployment;
  while (in >> value >> deployment) tokens.emplace_back(value, deployment);
  if (tokens.empty()) {
    std::fprintf(stderr, "no token values in %s\n", path.c_str());
    std::exit(2);
  }
  static const char* kAllowedOps[] = {
      "deployment.envVars.create", "deployment.get", "deployment.logs.get",
      "deployment.deploys.create", "deployment.airflow.pools.update"};
  std::vector<CheckCase> cases;
  for (size_t i = 0; i < 4096; ++i) {
    const auto& [token, dep] = tokens[i % tokens.size()];
    CheckCase c;
    c.request.set_token(token);
    c.request.set_deployment_id(dep);
    switch (i % 8) {
      case 5:
        c.request.set_operation("workspace.alerts.create");
        c.expected = v1::OPERATION_NOT_PERMITTED;
        break;
      case 6:
        c.request.set_deployment_id("some-other-deployment");
        c.request.set_operation("deployment.get");
        c.expected = v1::WRONG_DEPLOYMENT;
        break;
      case 7:
        c.request.set_token(*GenerateTokenValue());
        c.request.set_operation("deployment.get");
        c.expected = v1::UNKNOWN_TOKEN;
        break;
      default:
        c.request.set_operation(kAllowedOps[i % 5]);
        c.expected = v1::ALLOWED;
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

int RunCheck() {
  const LoadOptions options = OptionsFromFlags();
  const bool echo = absl::GetFlag(FLAGS_service) == "echo";
  const bool expect = absl::GetFlag(FLAGS_expect) && !echo;
  const std::vector<CheckCase> cases = BuildCases(absl::GetFlag(FLAGS_values));
  auto channels =
      MakeChannels(absl::GetFlag(FLAGS_target), absl::GetFlag(FLAGS_channels));
  std::vector<std::unique_ptr<v1::Verifier::Stub>> verifiers;
  std::vector<std::unique_ptr<Echo::Stub>> echoes;
  std::vector<EchoCheckRequest> echo_requests;
  for (auto& ch : channels) {
    verifiers.push_back(v1::Verifier::NewStub(ch));
    echoes.push_back(Echo::NewStub(ch));
  }
  for (const CheckCase& c : cases) {
    EchoCheckRequest r;
    r.set_token(c.request.token());
    r.set_deployment_id(c.request.deployment_id());
    r.set_operation(c.request.operation());
    echo_requests.push_back(std::move(r));
  }
  struct Slot {
    std::unique_ptr<grpc::ClientContext> context;
    CheckResponse response;
    EchoCheckResponse echo_response;
    size_t next = 0;
  };
  std::vector<Slot> slots(options.inflight);
  for (size_t i = 0; i < slots.size(); ++i) slots[i].next = i * 131;
  std::atomic<uint64_t> allowed{0}, denied{0}, mismatches{0};
  LoadEngine engine(options, [&](int i, LoadEngine::Done done) {
    Slot& slot = slots[i];
    const size_t index = slot.next++ % cases.size();
    slot.context = std::make_unique<grpc::ClientContext>();
    if (echo) {
      echoes[i % echoes.size()]->async()->Check(
          slot.context.get(), &echo_requests[index], &slot.echo_response,
          [done](grpc::Status status) { done(status.ok()); });
      return;
    }
    verifiers[i % verifiers.size()]->async()->Check(
        slot.context.get(), &cases[index].request, &slot.response,
        [&, done, index, i](grpc::Status status) {
          const CheckResponse& r = slots[i].response;
          if (status.ok()) {
            (r.allowed() ? allowed : denied)++;
            if (expect && (r.reason() != cases[index].expected ||
                           r.allowed() != (r.reason() == v1::ALLOWED))) {
              if (mismatches++ == 0) {
                std::fprintf(stderr, "wrong decision: got %s, want %s\n",
                             v1::Reason_Name(r.reason()).c_str(),
                             v1::Reason_Name(cases[index].expected).c_str());
              }
            }
          }
          done(status.ok());
        });
  });
  LoadResult result = engine.Run();
  std::printf("RESULT %s allowed=%llu denied=%llu mismatches=%llu\n",
              FormatResult(result).c_str(),
              static_cast<unsigned long long>(allowed.load()),      // NOLINT
              static_cast<unsigned long long>(denied.load()),       // NOLINT
              static_cast<unsigned long long>(mismatches.load()));  // NOLINT
  if (mismatches.load() > 0) return 1;
  if (result.calls == 0 || result.errors * 100 > result.calls) return 1;
  return 0;
}

// Envoy ext_authz: CheckRequests as Envoy's HTTP filter builds them
// (lower-cased header map with the pseudo-headers, path with query, source and
// destination addresses, per-route context extensions), each with a valid token
// of the values file and a permitted operation.
std::vector<envoy::service::auth::v3::CheckRequest> BuildExtAuthzRequests(
    const std::string& path) {
  std::ifstream in(path);
  std::vector<std::pair<std::string, std::string>> tokens;
  std::string value, deployment;
  while (in >> value >> deployment) tokens.emplace_back(value, deployment);
  if (tokens.empty()) {
    std::fprintf(stderr, "no token values in %s\n", path.c_str());
    std::exit(2);
  }
  static const char* kAllowedOps[] = {
      "deployment.envVars.create", "deployment.get", "deployment.logs.get",
      "deployment.deploys.create", "deployment.airflow.pools.update"};
  std::vector<envoy::service::auth::v3::CheckRequest> requests;
  for (size_t i = 0; i < 4096; ++i) {
    const auto& [token, dep] = tokens[i % tokens.size()];
    envoy::service::auth::v3::CheckRequest request;
    auto* attributes = request.mutable_attributes();
    auto* source = attributes->mutable_source()
                       ->mutable_address()
                       ->mutable_socket_address();
    source->set_address(
        absl::StrFormat("10.1.%d.%d", (i / 250) % 250, i % 250 + 1));
    source->set_port_value(static_cast<uint32_t>(40000 + i % 20000));
    auto* destination = attributes->mutable_destination()
                            ->mutable_address()
                            ->mutable_socket_address();
    destination->set_address("10.0.0.5");
    destination->set_port_value(8080);
    auto* http = attributes->mutable_request()->mutable_http();
    const std::string request_path =
        absl::StrFormat("/api/v1/deployments/%s/variables?page=%d", dep, i % 7);
    http->set_id(absl::StrFormat("%d", 1000000007ull * (i + 1)));
    http->set_method("GET");
    http->set_path(request_path);
    http->set_host("app.example.com");
    http->set_scheme("http");
    http->set_protocol("HTTP/1.1");
    http->set_size(0);
    auto& headers = *http->mutable_headers();
    headers[":authority"] = "app.example.com";
    headers[":method"] = "GET";
    headers[":path"] = request_path;
    headers[":scheme"] = "http";
    headers["accept"] = "application/json";
    headers["user-agent"] = "curl/8.5.0";
    headers["x-forwarded-proto"] = "http";
    headers["x-request-id"] =
        absl::StrFormat("5d3a1f0e-%04x-4c1b-9a7e-%012x", i, i * 7919);
    headers["authorization"] = "Bearer " + token;
    auto& extensions = *attributes->mutable_context_extensions();
    extensions["deployment_id"] = dep;
    extensions["operation"] = kAllowedOps[i % 5];
    requests.push_back(std::move(request));
  }
  return requests;
}

int RunExtAuthz() {
  namespace auth = envoy::service::auth::v3;
  const LoadOptions options = OptionsFromFlags();
  const std::vector<auth::CheckRequest> requests =
      BuildExtAuthzRequests(absl::GetFlag(FLAGS_values));
  auto channels =
      MakeChannels(absl::GetFlag(FLAGS_target), absl::GetFlag(FLAGS_channels));
  std::vector<std::unique_ptr<auth::Authorization::Stub>> stubs;
  for (auto& ch : channels) stubs.push_back(auth::Authorization::NewStub(ch));
  struct Slot {
    std::unique_ptr<grpc::ClientContext> context;
    auth::CheckResponse response;
    size_t next = 0;
  };
  std::vector<Slot> slots(options.inflight);
  for (size_t i = 0; i < slots.size(); ++i) slots[i].next = i * 131;
  std::atomic<uint64_t> allowed{0}, mismatches{0};
  // Serialized size of the allowed answers: the smallest and largest seen.
  std::atomic<size_t> min_bytes{SIZE_MAX}, max_bytes{0};
  LoadEngine engine(options, [&](int i, LoadEngine::Done done) {
    Slot& slot = slots[i];
    const size_t index = slot.next++ % requests.size();
    slot.context = std::make_unique<grpc::ClientContext>();
    slot.response.Clear();
    stubs[i % stubs.size()]->async()->Check(
        slot.context.get(), &requests[index], &slot.response,
        [&, done, i](grpc::Status status) {
          const auth::CheckResponse& r = slots[i].response;
          if (status.ok()) {
            const bool ok =
                r.status().code() == 0 && r.has_ok_response() &&
                r.ok_response().headers_size() == 1 &&
                r.ok_response().headers(0).header().key() == "x-token-id" &&
                !r.ok_response().headers(0).header().value().empty();
            if (ok) {
              allowed++;
              const size_t bytes = r.ByteSizeLong();
              size_t seen = min_bytes.load();
              while (bytes < seen &&
                     !min_bytes.compare_exchange_weak(seen, bytes)) {
              }
              seen = max_bytes.load();
              while (bytes > seen &&
                     !max_bytes.compare_exchange_weak(seen, bytes)) {
              }
            } else if (mismatches++ == 0) {
              std::fprintf(stderr, "not an allowed answer: %s\n",
                           r.ShortDebugString().c_str());
            }
          }
          done(status.ok());
        });
  });
  LoadResult result = engine.Run();
  std::printf(
      "RESULT %s allowed=%llu mismatches=%llu response_bytes=%zu "
      "max_response_bytes=%zu request_bytes=%zu\n",
      FormatResult(result).c_str(),
      static_cast<unsigned long long>(allowed.load()),     // NOLINT
      static_cast<unsigned long long>(mismatches.load()),  // NOLINT
      allowed.load() > 0 ? min_bytes.load() : 0, max_bytes.load(),
      requests[0].ByteSizeLong());
  if (mismatches.load() > 0) return 1;
  if (result.calls == 0 || result.errors * 100 > result.calls) return 1;
  return 0;
}

int RunCreate() {
  const LoadOptions options = OptionsFromFlags();
  const std::string bearer = "Bearer " + ReadKey(absl::GetFlag(FLAGS_key_file));
  auto channels =
      MakeChannels(absl::GetFlag(FLAGS_target), absl::GetFlag(FLAGS_channels));
  std::vector<std::unique_ptr<v1::TokenService::Stub>> stubs;
  for (auto& ch : channels) stubs.push_back(v1::TokenService::NewStub(ch));
  struct Slot {
    std::unique_ptr<grpc::ClientContext> context;
    v1::CreateTokenRequest request;
    v1::CreateTokenResponse response;
  };
  std::vector<Slot> slots(options.inflight);
  std::atomic<uint64_t> n{0};
  std::atomic<int> first_error{0};
  LoadEngine engine(options, [&](int i, LoadEngine::Done done) {
    Slot& slot = slots[i];
    slot.context = std::make_unique<grpc::ClientContext>();
    slot.context->AddMetadata("authorization", bearer);
    slot.request.set_deployment_id("bench-create");
    slot.request.set_name(absl::StrFormat("bench token %d", n++));
    stubs[i % stubs.size()]->async()->CreateToken(
        slot.context.get(), &slot.request, &slot.response,
        [&, done](grpc::Status status) {
          if (!status.ok() && first_error.exchange(1) == 0) {
            std::fprintf(stderr, "CreateToken: %s\n",
                         status.error_message().c_str());
          }
          done(status.ok());
        });
  });
  LoadResult result = engine.Run();
  std::printf("RESULT %s\n", FormatResult(result).c_str());
  return result.calls > 0 && result.errors * 100 <= result.calls ? 0 : 1;
}

int RunList() {
  const LoadOptions options = OptionsFromFlags();
  const std::string bearer = "Bearer " + ReadKey(absl::GetFlag(FLAGS_key_file));
  const int page_size = absl::GetFlag(FLAGS_page_size);
  auto channels =
      MakeChannels(absl::GetFlag(FLAGS_target), absl::GetFlag(FLAGS_channels));
  std::vector<std::unique_ptr<v1::TokenService::Stub>> stubs;
  for (auto& ch : channels) stubs.push_back(v1::TokenService::NewStub(ch));
  v1::ListTokensRequest request;
  request.set_deployment_id(absl::GetFlag(FLAGS_deployment));
  request.set_page_size(page_size);
  struct Slot {
    std::unique_ptr<grpc::ClientContext> context;
    v1::ListTokensResponse response;
  };
  std::vector<Slot> slots(options.inflight);
  std::atomic<uint64_t> short_pages{0};
  LoadEngine engine(options, [&](int i, LoadEngine::Done done) {
    Slot& slot = slots[i];
    slot.context = std::make_unique<grpc::ClientContext>();
    slot.context->AddMetadata("authorization", bearer);
    stubs[i % stubs.size()]->async()->ListTokens(
        slot.context.get(), &request, &slot.response,
        [&, done, i](grpc::Status status) {
          if (status.ok() && slots[i].response.tokens_size() != page_size) {
            short_pages++;
          }
          done(status.ok());
        });
  });
  LoadResult result = engine.Run();
  std::printf("RESULT %s short_pages=%llu\n", FormatResult(result).c_str(),
              static_cast<unsigned long long>(short_pages.load()));  // NOLINT
  return result.calls > 0 && result.errors == 0 && short_pages.load() == 0 ? 0
                                                                           : 1;
}

v1::Reason CheckOnce(v1::Verifier::Stub* stub, const std::string& token,
                     const std::string& deployment) {
  grpc::ClientContext context;
  CheckRequest request;
  request.set_token(token);
  request.set_deployment_id(deployment);
  request.set_operation("deployment.get");
  CheckResponse response;
  if (!stub->Check(&context, request, &response).ok()) {
    return v1::REASON_UNSPECIFIED;
  }
  return response.reason();
}

int RunRevoke() {
  const std::string bearer = "Bearer " + ReadKey(absl::GetFlag(FLAGS_key_file));
  const std::string deployment = absl::GetFlag(FLAGS_deployment);
  auto service = v1::TokenService::NewStub(grpc::CreateChannel(
      absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials()));
  auto verifier = v1::Verifier::NewStub(grpc::CreateChannel(
      absl::GetFlag(FLAGS_verifier), grpc::InsecureChannelCredentials()));
  const int count = absl::GetFlag(FLAGS_count);
  std::vector<std::pair<std::string, std::string>> issued;  // id, secret
  for (int i = 0; i < count; ++i) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", bearer);
    v1::CreateTokenRequest request;
    request.set_deployment_id(deployment);
    request.set_name(absl::StrFormat("revoke %d", i));
    v1::CreateTokenResponse response;
    grpc::Status status = service->CreateToken(&context, request, &response);
    if (!status.ok()) {
      std::fprintf(stderr, "CreateToken: %s\n", status.error_message().c_str());
      return 1;
    }
    issued.emplace_back(response.token().id(), response.secret());
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (const auto& [id, secret] : issued) {
    while (CheckOnce(verifier.get(), secret, deployment) != v1::ALLOWED) {
      if (absl::Now() > deadline) {
        std::fprintf(stderr, "verifier never allowed a new token\n");
        return 1;
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
  }
  std::vector<double> ms;
  for (const auto& [id, secret] : issued) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", bearer);
    v1::DeleteTokenRequest request;
    request.set_id(id);
    google::protobuf::Empty empty;
    if (!service->DeleteToken(&context, request, &empty).ok()) {
      std::fprintf(stderr, "DeleteToken failed\n");
      return 1;
    }
    const int64_t returned = MonotonicNanos();
    while (true) {
      v1::Reason reason = CheckOnce(verifier.get(), secret, deployment);
      // A deleted token's value is REVOKED_TOKEN (UNKNOWN_TOKEN from a
      // verifier or service that predates revoked values, or past
      // --revoked-retention).
      if (reason == v1::REVOKED_TOKEN || reason == v1::UNKNOWN_TOKEN) break;
      if (reason != v1::ALLOWED) {
        std::fprintf(stderr, "unexpected reason %s\n",
                     v1::Reason_Name(reason).c_str());
        return 1;
      }
      if (MonotonicNanos() - returned > 10'000'000'000) {
        std::fprintf(stderr, "a deleted token still verifies after 10 s\n");
        return 1;
      }
    }
    ms.push_back(static_cast<double>(MonotonicNanos() - returned) / 1e6);
  }
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(q * static_cast<double>(ms.size()));
    return ms[std::min(i, ms.size() - 1)];
  };
  std::printf("RESULT revocations=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
              static_cast<int>(ms.size()), at(0.5), at(0.99), ms.back());
  return 0;
}

}  // namespace
}  // namespace tokens::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "check") return tokens::bench::RunCheck();
  if (mode == "ext_authz") return tokens::bench::RunExtAuthz();
  if (mode == "create") return tokens::bench::RunCreate();
  if (mode == "list") return tokens::bench::RunList();
  if (mode == "revoke") return tokens::bench::RunRevoke();
  std::fprintf(stderr, "unknown --mode %s\n", mode.c_str());
  return 2;
}
