// VerifierServer: the whole verifier sidecar in one object: the change feed
// client and token cache, the tokens.v1.Verifier gRPC service (with health and
// reflection), the HTTP server (health, readiness, metrics, forward-auth) and
// the usage reporter.
//
// Built from VerifierOptions by BuildAndStart, so main and in-process tests
// (with a FakeClock) start it the same way. Thread-safe: Shutdown may be called
// from any thread, more than once. The clock is not owned and must outlive the
// server.
#ifndef VERIFIER_VERIFIER_SERVER_H_
#define VERIFIER_VERIFIER_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/peer_throttle.h"
#include "common/tls_files.h"
#include "verifier/authorizer.h"
#include "verifier/ext_authz_service.h"
#include "verifier/feed_client.h"
#include "verifier/health_service.h"
#include "verifier/http_server.h"
#include "verifier/metrics.h"
#include "verifier/token_cache.h"
#include "verifier/token_service_targets.h"
#include "verifier/trusted_proxies.h"
#include "verifier/usage_reporter.h"
#include "verifier/verifier_core.h"
#include "verifier/verifier_service.h"

namespace tokens {

struct VerifierOptions {
  // gRPC address of the Verifier service; port 0 picks a free one.
  std::string listen = "127.0.0.1:50061";
  // HTTP address (health, readiness, metrics, forward-auth); port 0 picks a
  // free one.
  std::string http_listen = "127.0.0.1:9091";
  // TokenService (the change feed and ReportUsage): one gRPC target, or the
  // replicas' targets separated by commas (ParseTokenServiceTargets); the
  // feed fails over between them.
  std::string token_service = "127.0.0.1:50051";
  // File holding the verifier key (surrounding whitespace is ignored).
  std::string key_file = "./var/verifier.key";
  // Only tokens of this Deployment; empty = all.
  std::string deployment;
  // Older heartbeats than this make the verifier NOT_READY.
  absl::Duration max_staleness = absl::Seconds(30);
  // How often last-use times are sent to TokenService.
  absl::Duration usage_report_interval = absl::Seconds(10);
  // TLS for the Verifier gRPC listener (with tls.client_ca_file: callers must
  // present a certificate signed by it) and HTTPS for the HTTP listener (cert
  // and key only: probes and scrapers rarely hold client certificates).
  ServerTlsFiles tls;
  // How the feed and usage client reaches TokenService: trust roots for its
  // certificate and, for mutual TLS, this verifier's certificate. Plain text
  // when empty.
  ClientTlsFiles token_service_tls;
  // Repeated failed checks (malformed, unknown, expired token) per client
  // address. burst 0 turns throttling off (benchmarks, load tests).
  PeerThrottleOptions throttle;
  // Direct peers (CIDRs) whose X-Forwarded-For, x-forwarded-for metadata or
  // Envoy source address names the end client the throttle charges.
  std::string trusted_proxies = kDefaultTrustedProxies;
  // What a throttled bad token gets over HTTP (forward-auth, ext_authz): 401
  // (nginx passes it on) or 429 (Traefik).
  int throttled_http_status = 401;
  // Revoked values remembered (--revoked-max) and for how long
  // (--revoked-retention): within it, their use is REVOKED_TOKEN and reported.
  RevokedOptions revoked;
  // This verifier's name in usage reports (--name); empty = the host name.
  std::string name;
  // What the feed's backoff and heartbeat watchdog wait on (monotonic time),
  // apart from BuildAndStart's clock (see FeedClient); the main passes
  // RealClock(), tests a FakeClock or the real one. Required: BuildAndStart
  // refuses null.
  const Clock* feed_wait_clock = nullptr;
};

// The machine's host name (the default --name); "token_verifier" when it has
// none.
std::string DefaultVerifierName();

class VerifierServer {
 public:
  // Reads the key, binds both listeners and starts syncing. Errors:
  // InvalidArgument (bad option, naming its flag, or TLS file), Internal (key
  // or TLS file unreadable), InvalidArgument (key file empty), Unavailable (an
  // address cannot be bound).
  static absl::StatusOr<std::unique_ptr<VerifierServer>> BuildAndStart(
      const VerifierOptions& options, Clock* clock);

  ~VerifierServer();  // Shuts down with a short deadline.
  VerifierServer(const VerifierServer&) = delete;
  VerifierServer& operator=(const VerifierServer&) = delete;

  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_server_->port(); }

  // Stops accepting, lets in-flight RPCs finish until `deadline`, then stops
  // the HTTP server, the feed and the usage reporter (after a last report).
  // Idempotent.
  void Shutdown(absl::Duration deadline = absl::Seconds(5));

  // For tests and diagnostics.
  const TokenCache& cache() const { return cache_; }
  const Metrics& metrics() const { return metrics_; }
  const TokenServiceTargets& targets() const { return *targets_; }
  const std::string& name() const { return name_; }
  bool IsReady() const { return authorizer_.IsReady(); }

 private:
  VerifierServer(const VerifierOptions& options, Clock* clock,
                 std::unique_ptr<TokenServiceTargets> targets, std::string key,
                 TrustedProxies trusted_proxies, std::string name);
  // For tests and diagnostics.
  const PeerThrottle& throttle() const { return throttle_; }
  void WatchHealth();

  const std::string name_;
  const std::unique_ptr<TokenServiceTargets> targets_;
  TokenCache cache_;
  Metrics metrics_;
  Authorizer authorizer_;
  UsageReporter usage_;
  VerifierCore core_;
  PeerThrottle throttle_;
  TrustedProxies trusted_proxies_;
  VerifierService service_;
  ExtAuthzService ext_authz_;
  HealthService health_;
  FeedClient feed_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<HttpServer> http_server_;
  int grpc_port_ = 0;

  Clock* const clock_;
  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::thread health_watcher_;
};

}  // namespace tokens

#endif  // VERIFIER_VERIFIER_SERVER_H_
