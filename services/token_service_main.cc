// token_service: the TokenService server. Flags become TokenServerOptions; see
// docs/operations.md.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/flag_names.h"
#include "common/host_port.h"
#include "common/json_log.h"
#include "common/listen_policy.h"
#include "common/shutdown_signal.h"
#include "common/tls_files.h"
#include "services/callers_command.h"
#include "services/token_server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "gRPC address to listen on, HOST:PORT (port 0 picks a free one)");
ABSL_FLAG(
    std::string, data_dir, "./var",
    "directory for tokens.db, credentials and generated keys (created 0700)");
ABSL_FLAG(std::string, database, "",
          "PostgreSQL libpq URI (postgresql://user@host:port/db?...) shared "
          "by every replica; empty = SQLite tokens.db in --data-dir");
ABSL_FLAG(int, database_pool_size, 8,
          "PostgreSQL connections each replica keeps (1-256)");
ABSL_FLAG(absl::Duration, cluster_sync_interval, absl::Seconds(1),
          "PostgreSQL: how often a replica re-reads the callers and checks "
          "that the database answers (gRPC health follows it)");
ABSL_FLAG(int, max_expiration_days, 365,
          "largest expiration_days a token may be created with (1-365)");
ABSL_FLAG(bool, synchronous_full, true,
          "fsync every commit (SQLite synchronous=FULL); off risks the last "
          "changes on power loss");
ABSL_FLAG(int64_t, change_retention, 100000,
          "change-log entries kept for verifiers to resume from");
ABSL_FLAG(int64_t, watch_window_changes, 100000,
          "changes the watch cache keeps in memory for WatchTokens streams to "
          "resume from without a store read");
ABSL_FLAG(int64_t, watch_window_bytes, 64 << 20,
          "memory bound of the watch cache's window, in bytes");
ABSL_FLAG(int64_t, watch_max_queued_bytes, 8 << 20,
          "a WatchTokens stream further behind than this many bytes of "
          "changes is ended with RESOURCE_EXHAUSTED (it resumes by revision)");
ABSL_FLAG(std::string, http_listen, "",
          "HTTP address for GET /metrics (Prometheus) and /healthz, "
          "HOST:PORT (port 0 picks a free one); empty = no HTTP listener");
ABSL_FLAG(absl::Duration, keepalive_time, absl::Seconds(30),
          "gRPC keepalive: ping idle connections this often");
ABSL_FLAG(absl::Duration, keepalive_timeout, absl::Seconds(10),
          "gRPC keepalive: drop a connection whose ping is not answered in "
          "this long");
ABSL_FLAG(std::string, on_reuse, "audit",
          "when a verifier reports the reuse of a revoked value: audit "
          "(record token.reuse_detected) or revoke (also delete the token, so "
          "its current value stops verifying)");
ABSL_FLAG(absl::Duration, revoked_retention, absl::Hours(24 * 30),
          "how long revoked (rotated-away or deleted) values are remembered, "
          "so verifiers answer REVOKED_TOKEN and report their reuse (>= 0)");
ABSL_FLAG(absl::Duration, expiry_sweep_interval, absl::Minutes(1),
          "how often token.expiring (30, 7, 1 days before) and token.expired "
          "audit events are recorded (>= 1s)");
ABSL_FLAG(std::string, notify_url, "",
          "http(s) URL: POST every token.create/rotate/delete/expiring/"
          "expired/reuse_detected event there as JSON, signed (needs "
          "--notify-key-file); empty = no notifications");
ABSL_FLAG(std::string, notify_key_file, "",
          "file holding the HMAC-SHA256 key of X-Tokens-Signature-256 (at "
          "least 16 bytes)");
ABSL_FLAG(std::string, notify_ca_file, "",
          "PEM trust roots for an https --notify-url; empty = the system's");
ABSL_FLAG(bool, insecure, false,
          "allow plain text on a non-loopback --listen address");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain: serve gRPC over TLS (with --tls-key)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle: require every caller to present a certificate "
          "signed by it (mutual TLS)");

int main(int argc, char** argv) {
  tokens::BlockShutdownSignals();
  absl::SetProgramUsageMessage(
      "TokenService: manages Deployment API tokens over gRPC.\n"
      "Usage: token_service [--listen ADDR] [--data-dir DIR | --database URL] "
      "[--http-listen ADDR] "
      "[--tls-cert PEM --tls-key PEM [--tls-client-ca PEM]]\n"
      "       token_service callers list|add NAME ROLE|remove NAME "
      "--database URL");
  std::vector<std::string> positional =
      tokens::ParseFlagsWithDashes(argc, argv);
  if (positional.size() >= 2 && positional[1] == "callers") {
    return tokens::RunCallersCommand(
        std::vector<std::string>(positional.begin() + 2, positional.end()),
        absl::GetFlag(FLAGS_database), stdout, stderr);
  }
  if (positional.size() > 1) {
    std::fprintf(stderr, "unexpected argument '%s' (see --help)\n",
                 positional[1].c_str());
    return 2;
  }
  // Debian's Abseil checks every Mutex acquisition for lock-order cycles
  // (GraphCycles); with thousands of WatchTokens streams that bookkeeping
  // was the single largest cost of a change's fan-out. Tests keep the check.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  tokens::TokenServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.database = absl::GetFlag(FLAGS_database);
  options.database_pool_size = absl::GetFlag(FLAGS_database_pool_size);
  options.cluster_sync_interval = absl::GetFlag(FLAGS_cluster_sync_interval);
  options.max_expiration_days = absl::GetFlag(FLAGS_max_expiration_days);
  options.synchronous_full = absl::GetFlag(FLAGS_synchronous_full);
  options.change_retention = absl::GetFlag(FLAGS_change_retention);
  options.watch.window_changes = absl::GetFlag(FLAGS_watch_window_changes);
  options.watch.window_bytes = absl::GetFlag(FLAGS_watch_window_bytes);
  options.watch.max_queued_bytes = absl::GetFlag(FLAGS_watch_max_queued_bytes);
  options.http_listen = absl::GetFlag(FLAGS_http_listen);
  options.keepalive_time = absl::GetFlag(FLAGS_keepalive_time);
  options.keepalive_timeout = absl::GetFlag(FLAGS_keepalive_timeout);
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  const std::string on_reuse = absl::GetFlag(FLAGS_on_reuse);
  if (on_reuse == "audit") {
    options.on_reuse = tokens::ReusePolicy::kAudit;
  } else if (on_reuse == "revoke") {
    options.on_reuse = tokens::ReusePolicy::kRevoke;
  } else {
    std::fprintf(stderr, "--on-reuse must be audit or revoke (got '%s')\n",
                 on_reuse.c_str());
    return 2;
  }
  options.revoked_retention = absl::GetFlag(FLAGS_revoked_retention);
  if (options.revoked_retention < absl::ZeroDuration()) {
    std::fprintf(stderr, "--revoked-retention must be >= 0\n");
    return 2;
  }
  options.expiry_sweep_interval = absl::GetFlag(FLAGS_expiry_sweep_interval);
  if (options.expiry_sweep_interval < absl::Seconds(1)) {
    std::fprintf(stderr, "--expiry-sweep-interval must be >= 1s\n");
    return 2;
  }
  if (!absl::GetFlag(FLAGS_notify_url).empty() ||
      !absl::GetFlag(FLAGS_notify_key_file).empty() ||
      !absl::GetFlag(FLAGS_notify_ca_file).empty()) {
    auto notify = tokens::NotifierOptionsFromFlags(
        absl::GetFlag(FLAGS_notify_url), absl::GetFlag(FLAGS_notify_key_file),
        absl::GetFlag(FLAGS_notify_ca_file));
    if (!notify.ok()) {
      std::fprintf(stderr, "%s\n",
                   std::string(notify.status().message()).c_str());
      return 2;
    }
    options.notify = *std::move(notify);
  }
  if (absl::Status tls = tokens::ValidateServerTls(options.tls); !tls.ok()) {
    std::fprintf(stderr, "%s\n", std::string(tls.message()).c_str());
    return 2;
  }
  if (options.database_pool_size < 1 || options.database_pool_size > 256) {
    std::fprintf(stderr, "--database-pool-size must be 1-256\n");
    return 2;
  }
  if (options.cluster_sync_interval < absl::Milliseconds(100)) {
    std::fprintf(stderr, "--cluster-sync-interval must be >= 100ms\n");
    return 2;
  }
  if (options.max_expiration_days < 1 || options.max_expiration_days > 365) {
    std::fprintf(stderr, "--max-expiration-days must be 1-365\n");
    return 2;
  }
  if (options.watch.window_changes < 0 || options.watch.window_bytes < 0 ||
      options.watch.max_queued_bytes < 1) {
    std::fprintf(stderr,
                 "--watch-window-changes and --watch-window-bytes must be >= "
                 "0, --watch-max-queued-bytes >= 1\n");
    return 2;
  }
  if (options.keepalive_time < absl::Seconds(1) ||
      options.keepalive_timeout < absl::Milliseconds(100)) {
    std::fprintf(stderr,
                 "--keepalive-time must be >= 1s, --keepalive-timeout >= "
                 "100ms\n");
    return 2;
  }
  if (absl::Status plain = tokens::CheckPlaintextListen(
          "--listen", options.listen,
          absl::GetFlag(FLAGS_insecure) || options.tls.enabled());
      !plain.ok()) {
    std::fprintf(stderr, "%s\n", std::string(plain.message()).c_str());
    return 2;
  }
  // /metrics is plain HTTP whatever --tls-cert says: off loopback only with
  // --insecure.
  if (!options.http_listen.empty()) {
    if (absl::Status plain =
            tokens::CheckPlaintextListen("--http-listen", options.http_listen,
                                         absl::GetFlag(FLAGS_insecure));
        !plain.ok()) {
      std::fprintf(stderr, "%s\n", std::string(plain.message()).c_str());
      return 2;
    }
  }

  options.feed_clock = tokens::RealClock();
  auto server =
      tokens::TokenServer::BuildAndStart(options, tokens::RealClock());
  if (!server.ok()) {
    tokens::JsonLog("start_failed", "error")
        .Str("error", std::string(server.status().message()));
    // A wrong --database URL or credentials: one clear line, exit 2.
    if (absl::IsInvalidArgument(server.status()) ||
        absl::IsPermissionDenied(server.status())) {
      std::fprintf(stderr, "%s\n",
                   std::string(server.status().message()).c_str());
      return 2;
    }
    return 1;
  }
  // Validated by BuildAndStart.
  const std::string host = tokens::ParseHostPort(options.listen)->host;
  std::printf("listening on %s\n",
              tokens::FormatHostPort(host, (*server)->port()).c_str());
  if (!options.http_listen.empty()) {
    // Validated by BuildAndStart.
    const std::string http_host =
        tokens::ParseHostPort(options.http_listen)->host;
    std::printf(
        "http listening on %s\n",
        tokens::FormatHostPort(http_host, (*server)->http_port()).c_str());
  }
  std::fflush(stdout);
  tokens::JsonLog("listening")
      .Str("address", absl::StrCat(host, ":", (*server)->port()))
      .Str("data_dir", options.data_dir)
      .Str("store", options.database.empty() ? "sqlite" : "postgresql")
      .Bool("tls", options.tls.enabled())
      .Bool("mutual_tls", !options.tls.client_ca_file.empty());

  int sig = tokens::WaitForShutdownSignal();
  tokens::JsonLog("shutting_down").Int("signal", sig);
  (*server)->Shutdown();
  tokens::JsonLog("stopped");
  return 0;
}
