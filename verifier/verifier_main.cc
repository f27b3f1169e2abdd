// token_verifier: the verifier sidecar. Turns flags into VerifierOptions,
// starts the server, prints the bound addresses, and shuts down gracefully on
// SIGTERM or SIGINT.
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/flag_names.h"
#include "common/host_port.h"
#include "common/json_log.h"
#include "common/listen_policy.h"
#include "common/shutdown_signal.h"
#include "common/tls_files.h"
#include "common/validation.h"
#include "verifier/denial.h"
#include "verifier/token_service_targets.h"
#include "verifier/trusted_proxies.h"
#include "verifier/verifier_server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50061",
          "gRPC address of the Verifier service (port 0 = pick a free one)");
ABSL_FLAG(std::string, http_listen, "127.0.0.1:9091",
          "HTTP address for /healthz, /readyz, /metrics and /v1/authorize");
ABSL_FLAG(
    std::string, token_service, "127.0.0.1:50051",
    "TokenService (change feed, usage reports): a gRPC target "
    "(host:port, dns:///host:port, ...), or the replicas' targets separated "
    "by commas, which the feed fails over between");
ABSL_FLAG(std::string, key_file, "./var/verifier.key",
          "file holding the verifier key");
ABSL_FLAG(std::string, deployment, "",
          "only cache tokens of this Deployment (empty = all)");
ABSL_FLAG(absl::Duration, max_staleness, absl::Seconds(30),
          "answer NOT_READY when the last feed heartbeat is older than this");
ABSL_FLAG(absl::Duration, usage_report_interval, absl::Seconds(10),
          "how often last-use times are reported to TokenService");
ABSL_FLAG(bool, insecure, false,
          "allow plain text on a non-loopback --listen or --http-listen");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain: serve gRPC over TLS and HTTP as HTTPS "
          "(with --tls-key)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle: gRPC callers must present a certificate signed by "
          "it (mutual TLS)");
ABSL_FLAG(std::string, token_service_ca, "",
          "PEM trust roots for TokenService's certificate: connect to it over "
          "TLS");
ABSL_FLAG(std::string, tls_client_cert, "",
          "PEM certificate this verifier presents to TokenService (mutual "
          "TLS; with --tls-client-key)");
ABSL_FLAG(std::string, tls_client_key, "", "PEM key of --tls-client-cert");
ABSL_FLAG(
    double, failed_check_burst, 20,
    "failed checks (malformed, unknown, expired token) one client "
    "address may make in a row before it is throttled (0 = never throttle)");
ABSL_FLAG(double, failed_check_rate, 5,
          "failed checks per second a throttled client address earns back");
ABSL_FLAG(std::string, trusted_proxies, tokens::kDefaultTrustedProxies,
          "Comma-separated CIDRs of direct peers (proxies, the sidecar's own "
          "app) whose X-Forwarded-For, x-forwarded-for metadata or Envoy "
          "source address names the end client that failed checks are "
          "charged to; empty trusts nobody");
ABSL_FLAG(int64_t, revoked_max, 1000000,
          "revoked (rotated-away or deleted) token values remembered, so "
          "that their use is answered REVOKED_TOKEN and reported; the oldest "
          "revocation is forgotten first (0 = remember none)");
ABSL_FLAG(absl::Duration, revoked_retention, absl::Hours(24 * 30),
          "how long after its revocation a value is answered REVOKED_TOKEN "
          "(then UNKNOWN_TOKEN)");
ABSL_FLAG(std::string, name, tokens::DefaultVerifierName(),
          "this verifier's name in usage and reuse reports to TokenService "
          "(default: the host name)");
ABSL_FLAG(int, throttled_status, 401,
          "HTTP status of a throttled bad token on forward-auth and ext_authz: "
          "401 (nginx auth_request passes only 2xx, 401 and 403) or 429 "
          "(Traefik)");

namespace {

// What BuildAndStart would refuse later, checked first so that a bad flag
// exits 2 with a message naming it. InvalidArgument (or the parser's error).
absl::Status CheckOptions(const tokens::VerifierOptions& options) {
  if (absl::Status name = tokens::ValidateUsageLabel(
          "--name", options.name, tokens::kMaxVerifierNameChars);
      !name.ok()) {
    return name;
  }
  if (absl::Status status = tokens::ValidateThrottledHttpStatus(
          "--throttled-status", options.throttled_http_status);
      !status.ok()) {
    return status;
  }
  if (auto targets = tokens::ParseTokenServiceTargets(options.token_service);
      !targets.ok()) {
    return targets.status();
  }
  if (auto trusted = tokens::TrustedProxies::Parse(options.trusted_proxies);
      !trusted.ok()) {
    return trusted.status();
  }
  for (absl::Status tls :
       {tokens::ValidateServerTls(options.tls),
        tokens::ValidateClientTls(options.token_service_tls)}) {
    if (!tls.ok()) return tls;
  }
  for (const auto& [flag, address] :
       {std::pair<const char*, std::string>{"--listen", options.listen},
        {"--http-listen", options.http_listen}}) {
    if (absl::Status plain = tokens::CheckPlaintextListen(
            flag, address,
            absl::GetFlag(FLAGS_insecure) || options.tls.enabled());
        !plain.ok()) {
      return plain;
    }
  }
  return absl::OkStatus();
}

// The flags as VerifierOptions (on the machine's clocks); an error naming the
// flag when one is out of range or malformed.
absl::StatusOr<tokens::VerifierOptions> OptionsFromFlags() {
  tokens::VerifierOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.http_listen = absl::GetFlag(FLAGS_http_listen);
  options.token_service = absl::GetFlag(FLAGS_token_service);
  options.key_file = absl::GetFlag(FLAGS_key_file);
  options.deployment = absl::GetFlag(FLAGS_deployment);
  options.max_staleness = absl::GetFlag(FLAGS_max_staleness);
  options.usage_report_interval = absl::GetFlag(FLAGS_usage_report_interval);
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  options.token_service_tls.ca_file = absl::GetFlag(FLAGS_token_service_ca);
  options.token_service_tls.cert_file = absl::GetFlag(FLAGS_tls_client_cert);
  options.token_service_tls.key_file = absl::GetFlag(FLAGS_tls_client_key);
  options.throttle.burst = absl::GetFlag(FLAGS_failed_check_burst);
  options.throttle.refill_per_second = absl::GetFlag(FLAGS_failed_check_rate);
  options.trusted_proxies = absl::GetFlag(FLAGS_trusted_proxies);
  options.throttled_http_status = absl::GetFlag(FLAGS_throttled_status);
  options.name = absl::GetFlag(FLAGS_name);
  const int64_t revoked_max = absl::GetFlag(FLAGS_revoked_max);
  if (revoked_max < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--revoked-max: want 0 or more, got ", revoked_max));
  }
  options.revoked.max_values = static_cast<size_t>(revoked_max);
  options.revoked.retention = absl::GetFlag(FLAGS_revoked_retention);
  if (options.revoked.retention < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--revoked-retention: must not be negative, got ",
                     absl::FormatDuration(options.revoked.retention)));
  }
  options.feed_wait_clock = tokens::RealClock();
  if (absl::Status valid = CheckOptions(options); !valid.ok()) return valid;
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil checks every Mutex acquisition against a process-wide lock
  // graph (gRPC's own locks included): a global spin lock on the Check path.
  // Deadlocks are the tests' business (they keep the check); not production's.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  tokens::BlockShutdownSignals();
  absl::SetProgramUsageMessage(
      "The Deployment API token verifier sidecar.\n"
      "  token_verifier --token-service 127.0.0.1:50051 "
      "--key-file ./var/verifier.key\n"
      "  token_verifier --token-service tokens-a:50051,tokens-b:50051 "
      "--key-file ./var/verifier.key");
  tokens::ParseFlagsWithDashes(argc, argv);

  const absl::StatusOr<tokens::VerifierOptions> parsed = OptionsFromFlags();
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(parsed.status().message()).c_str());
    return 2;
  }
  const tokens::VerifierOptions& options = *parsed;
  auto server =
      tokens::VerifierServer::BuildAndStart(options, tokens::RealClock());
  if (!server.ok()) {
    tokens::JsonLog("verifier.start_failed", "error")
        .Str("error", server.status().ToString());
    return 1;
  }
  // Validated by BuildAndStart.
  const std::string grpc_host = tokens::ParseHostPort(options.listen)->host;
  const std::string http_host =
      tokens::ParseHostPort(options.http_listen)->host;
  std::printf(
      "listening on %s\n",
      tokens::FormatHostPort(grpc_host, (*server)->grpc_port()).c_str());
  std::printf(
      "http listening on %s\n",
      tokens::FormatHostPort(http_host, (*server)->http_port()).c_str());
  std::fflush(stdout);

  const int sig = tokens::WaitForShutdownSignal();
  tokens::JsonLog("verifier.shutdown").Int("signal", sig);
  (*server)->Shutdown(absl::Seconds(5));
  return 0;
}
