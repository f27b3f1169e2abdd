#include "verifier/verifier_server.h"

#include <grpcpp/ext/health_check_service_server_builder_option.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/host_port.h"
#include "common/json_log.h"
#include "common/validation.h"
#include "verifier/denial.h"

namespace tokens {
namespace {

FeedClientOptions MakeFeedOptions(std::string key,
                                  const VerifierOptions& verifier) {
  FeedClientOptions options;
  options.key = std::move(key);
  options.deployment_id = verifier.deployment;
  return options;
}

}  // namespace

std::string DefaultVerifierName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') {
    return "token_verifier";
  }
  return name;
}

VerifierServer::VerifierServer(const VerifierOptions& options, Clock* clock,
                               std::unique_ptr<TokenServiceTargets> targets,
                               std::string key, TrustedProxies trusted_proxies,
                               std::string name)
    : name_(std::move(name)),
      targets_(std::move(targets)),
      cache_(options.revoked),
      authorizer_(&cache_, clock, options.max_staleness),
      usage_(MakeGrpcUsageSender(targets_.get(), key),
             options.usage_report_interval, &metrics_, name_),
      core_(&cache_, &authorizer_, &metrics_, &usage_, clock),
      throttle_(options.throttle, clock),
      trusted_proxies_(std::move(trusted_proxies)),
      service_(&core_),
      ext_authz_(&core_, options.deployment),
      health_(&core_),
      feed_(targets_.get(), MakeFeedOptions(key, options), &cache_, &metrics_,
            clock, options.feed_wait_clock),
      clock_(clock) {}

absl::StatusOr<std::unique_ptr<VerifierServer>> VerifierServer::BuildAndStart(
    const VerifierOptions& options, Clock* clock) {
  if (options.feed_wait_clock == nullptr) {
    return absl::InvalidArgumentError(
        "VerifierOptions.feed_wait_clock is required");
  }
  if (options.max_staleness <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("max_staleness must be positive");
  }
  if (options.usage_report_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("usage_report_interval must be positive");
  }
  // The rule TokenService applies to WatchTokensRequest.deployment_id,
  // checked here so that a mistyped flag fails at start instead of as an
  // endless series of rejected streams.
  if (!options.deployment.empty()) {
    if (absl::Status valid = ValidateDeploymentId(options.deployment);
        !valid.ok()) {
      return valid;
    }
  }
  if (options.revoked.retention < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("revoked-retention must not be negative");
  }
  const std::string name =
      options.name.empty() ? DefaultVerifierName() : options.name;
  // TokenService's rule for ReportUsageRequest.verifier_name: checked here
  // so that a bad name fails at start, not as refused reports.
  if (absl::Status valid =
          ValidateUsageLabel("name", name, kMaxVerifierNameChars);
      !valid.ok()) {
    return valid;
  }
  absl::StatusOr<std::vector<std::string>> token_services =
      ParseTokenServiceTargets(options.token_service);
  if (!token_services.ok()) return token_services.status();
  absl::StatusOr<HostPort> grpc_address = ParseHostPort(options.listen);
  if (!grpc_address.ok()) return grpc_address.status();
  const bool throttled = options.throttle.burst != 0;
  if (throttled &&
      (options.throttle.burst < 1 || options.throttle.refill_per_second <= 0)) {
    return absl::InvalidArgumentError(
        "failed-check burst must be 0 (off) or at least 1, and its rate "
        "positive");
  }
  if (absl::Status valid = ValidateThrottledHttpStatus(
          "throttled-status", options.throttled_http_status);
      !valid.ok()) {
    return valid;
  }
  absl::StatusOr<TrustedProxies> trusted =
      TrustedProxies::Parse(options.trusted_proxies);
  if (!trusted.ok()) return trusted.status();
  absl::StatusOr<std::string> key = ReadKeyFile(options.key_file);
  if (!key.ok()) return key.status();
  auto server_credentials = ServerCredentialsFrom(options.tls);
  if (!server_credentials.ok()) return server_credentials.status();
  auto channel_credentials = ChannelCredentialsFrom(options.token_service_tls);
  if (!channel_credentials.ok()) return channel_credentials.status();

  // One channel per replica, all with the same TLS.
  std::unique_ptr<VerifierServer> server(new VerifierServer(
      options, clock,
      TokenServiceTargets::Connect(*token_services, *channel_credentials),
      *std::move(key), *std::move(trusted), name));
  // The trusted proxies name the end client for the usage reports too, so
  // they are set with throttling off as well.
  server->core_.SetThrottle(throttled ? &server->throttle_ : nullptr,
                            &server->trusted_proxies_);
  server->core_.SetThrottledHttpStatus(options.throttled_http_status);
  // Which replica the feed is on, and how often it moved.
  const TokenServiceTargets* targets = server->targets_.get();
  server->core_.SetExtraMetrics([targets] { return targets->Render(); });

  auto http = HttpServer::Start(
      options.http_listen, VerifierHttpHandler(&server->core_),
      HttpTlsFiles{options.tls.cert_file, options.tls.key_file});
  if (!http.ok()) return http.status();
  server->http_server_ = *std::move(http);

  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // gRPC's own health service is replaced by HealthService, which answers
  // from the same state as /readyz.
  builder.SetOption(
      std::make_unique<grpc::HealthCheckServiceServerBuilderOption>(nullptr));
  builder.AddListeningPort(options.listen, *server_credentials,
                           &server->grpc_port_);
  builder.RegisterService(&server->service_);
  builder.RegisterService(&server->ext_authz_);
  builder.RegisterService(&server->health_);
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || server->grpc_port_ == 0) {
    server->http_server_->Stop();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on \"", options.listen, "\""));
  }
  server->feed_.Start();
  server->usage_.Start();
  server->health_watcher_ =
      std::thread([s = server.get()] { s->WatchHealth(); });
  JsonLog("verifier.started")
      .Str("listen", FormatHostPort(grpc_address->host, server->grpc_port_))
      .Int("http_port", server->http_port())
      .Str("token_service", options.token_service)
      .Str("deployment_id", options.deployment)
      .Str("name", server->name_)
      .Int("revoked_max", static_cast<int64_t>(options.revoked.max_values))
      .Int("revoked_retention_s",
           absl::ToInt64Seconds(options.revoked.retention))
      .Bool("tls", options.tls.enabled())
      .Bool("mutual_tls", !options.tls.client_ca_file.empty())
      .Bool("token_service_tls", options.token_service_tls.enabled())
      .Int("max_staleness_ms",
           absl::ToInt64Milliseconds(options.max_staleness));
  return server;
}

VerifierServer::~VerifierServer() { Shutdown(absl::Seconds(1)); }

void VerifierServer::WatchHealth() {
  // Health Check and /readyz read VerifierCore::IsReady themselves; this only
  // pushes changes to Watch streams and logs them.
  bool serving = false;
  absl::MutexLock lock(&mu_);
  while (!clock_->AwaitWithTimeout(&mu_, absl::Condition(&shut_down_),
                                   absl::Milliseconds(100))) {
    const bool ready = core_.IsReady();
    if (ready == serving) continue;
    serving = ready;
    health_.Publish();
    JsonLog("verifier.readiness").Bool("ready", serving);
  }
}

void VerifierServer::Shutdown(absl::Duration deadline) {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  if (health_watcher_.joinable()) health_watcher_.join();
  if (grpc_server_ != nullptr) {
    health_.Shutdown();
    grpc_server_->Shutdown(
        std::chrono::system_clock::now() +
        std::chrono::milliseconds(absl::ToInt64Milliseconds(deadline)));
    grpc_server_->Wait();
  }
  if (http_server_ != nullptr) http_server_->Stop();
  feed_.Stop();
  usage_.Stop();
  JsonLog("verifier.stopped");
}

}  // namespace tokens
