// TokenServer: a running TokenService: data directory, callers, the store
// (storage/open_store.h: SQLite in the data directory, or PostgreSQL shared by
// stateless replicas), the change feed's watch cache, the gRPC server (with
// health, reflection and keepalive) and, with http_listen, the /metrics
// endpoint.
//
// On PostgreSQL the callers and the page-token key come from the database
// (ClusterSync); the server starts even while the database cannot be reached,
// answers UNAVAILABLE and NOT_SERVING meanwhile, and recovers by itself.
// Commits made through other replicas (or, on SQLite, other processes on the
// same file) wake this replica's feed (TokenStore::WatchExternalCommits).
// `*_main.cc` turns flags into TokenServerOptions and calls BuildAndStart;
// tests do the same in-process with a FakeClock.
#ifndef SERVICES_TOKEN_SERVER_H_
#define SERVICES_TOKEN_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/metrics_http_server.h"
#include "common/tls_files.h"
#include "services/caller_registry.h"
#include "services/cluster_sync.h"
#include "services/expiry_sweeper.h"
#include "services/notifier.h"
#include "services/page_token.h"
#include "services/token_manager.h"
#include "services/token_service.h"
#include "services/watch_cache.h"
#include "services/work_pool.h"
#include "storage/token_store.h"

namespace tokens {

struct TokenServerOptions {
  std::string listen = "127.0.0.1:50051";
  // Holds tokens.db, credentials, admin.key, verifier.key, page_token.key.
  // Created 0700. With `database` only admin.key and verifier.key, written by
  // the first replica on an empty database.
  std::string data_dir = "./var";
  // A PostgreSQL libpq URI shared by every replica; empty = SQLite in
  // data_dir.
  std::string database;
  int database_pool_size = 8;
  // How often a replica re-reads the shared callers and checks the database.
  absl::Duration cluster_sync_interval = absl::Seconds(1);
  int max_expiration_days = 365;
  // What a reported reuse of a revoked value does (--on-reuse).
  ReusePolicy on_reuse = ReusePolicy::kAudit;
  // How long revoked values are remembered for verifiers' REVOKED_TOKEN
  // (--revoked-retention).
  absl::Duration revoked_retention = absl::Hours(24 * 30);
  // How often the expiry sweeper records due warnings.
  absl::Duration expiry_sweep_interval = absl::Minutes(1);
  // Webhooks (--notify-url, ...); notify.url empty = none, and no outbox.
  NotifierOptions notify;
  // synchronous=FULL: an acknowledged change survives power loss.
  bool synchronous_full = true;
  // Change-log rows kept for verifiers to resume from; older revisions get a
  // snapshot.
  int64_t change_retention = 100000;
  absl::Duration heartbeat_interval = absl::Seconds(1);
  // The watch cache's window and per-stream bound (heartbeat_interval above
  // overrides watch.heartbeat_interval).
  WatchCacheOptions watch;
  // Required: the clock of intervals (the feed's heartbeats, cluster sync,
  // RPC latencies), on its monotonic time; the main passes RealClock(). Apart
  // from BuildAndStart's clock, which stamps and expires tokens: tests move
  // that one by days, which must not fire a burst of heartbeats.
  Clock* feed_clock = nullptr;
  // HTTP address for GET /metrics (Prometheus) and /healthz; empty = none.
  std::string http_listen;
  // gRPC keepalive: ping an idle connection this often and drop it when the
  // ping is not answered within the timeout, so the streams of a dead peer
  // end.
  absl::Duration keepalive_time = absl::Seconds(30);
  absl::Duration keepalive_timeout = absl::Seconds(10);
  // Threads that run RPCs' store work; writers waiting together share one group
  // commit.
  int work_threads = 64;
  // TLS for the gRPC listener when tls.cert_file is set; with
  // tls.client_ca_file every caller (admins and verifiers) must present a
  // certificate signed by that CA. Plain text otherwise.
  ServerTlsFiles tls;
};

class TokenServer {
 public:
  // Errors: the data directory, credentials or database cannot be opened
  // (Internal / Unavailable), a TLS file is missing or unreadable
  // (InvalidArgument / Internal), or the address cannot be bound
  // (Unavailable).
  static absl::StatusOr<std::unique_ptr<TokenServer>> BuildAndStart(
      const TokenServerOptions& options, Clock* clock);
  ~TokenServer();

  // The bound port (the one picked when the address asked for port 0).
  int port() const { return port_; }
  // The bound /metrics port; 0 without http_listen.
  int http_port() const;
  // The feed (for tests and metrics).
  const WatchCache& feed() const { return *feed_; }
  // The expiry sweeper (tests call SweepOnce).
  ExpirySweeper& expiry_sweeper() { return *sweeper_; }
  // The Prometheus text that GET /metrics serves.
  std::string RenderMetrics() const;
  // Closes watch streams, drains in-flight calls (up to `grace`), stops
  // serving.
  void Shutdown(absl::Duration grace = absl::Seconds(5));

 private:
  TokenServer() = default;

  std::unique_ptr<CallerRegistry> callers_;
  std::unique_ptr<TokenStore> store_;
  std::unique_ptr<WatchCache> feed_;
  std::unique_ptr<PageTokenCodec> pages_;
  std::unique_ptr<TokenManager> manager_;
  std::unique_ptr<WorkPool> pool_;
  std::unique_ptr<TokenService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<MetricsHttpServer> http_;
  std::unique_ptr<ClusterSync> cluster_sync_;  // PostgreSQL only.
  std::unique_ptr<Notifier> notifier_;         // With notify.url only.
  std::unique_ptr<ExpirySweeper> sweeper_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace tokens

#endif  // SERVICES_TOKEN_SERVER_H_
