#include "services/token_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/prometheus_text.h"
#include "storage/open_store.h"

namespace tokens {
namespace {

// The HMAC key for page tokens, kept in the data directory so tokens survive a
// restart.
absl::StatusOr<std::string> LoadOrCreatePageKey(const std::string& data_dir) {
  const std::string path = absl::StrCat(data_dir, "/page_token.key");
  if (access(path.c_str(), F_OK) != 0) {
    unsigned char key[32];
    if (RAND_bytes(key, sizeof(key)) != 1) {
      return absl::InternalError("CSPRNG unavailable");
    }
    absl::Status written = WritePrivateFile(
        path, std::string(reinterpret_cast<char*>(key), sizeof(key)));
    if (!written.ok()) return written;
  }
  return ReadFile(path);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenServer>> TokenServer::BuildAndStart(
    const TokenServerOptions& options, Clock* clock) {
  if (options.feed_clock == nullptr) {
    return absl::InvalidArgumentError(
        "TokenServerOptions.feed_clock is required");
  }
  auto credentials = ServerCredentialsFrom(options.tls);
  if (!credentials.ok()) return credentials.status();
  std::unique_ptr<TokenServer> server(new TokenServer);
  if (absl::Status s = MakePrivateDirectory(options.data_dir); !s.ok()) {
    return s;
  }
  StoreOptions store_options;
  store_options.data_dir = options.data_dir;
  store_options.database = options.database;
  store_options.pool_size = options.database_pool_size;
  store_options.synchronous_full = options.synchronous_full;
  store_options.change_retention = options.change_retention;
  store_options.revoked_retention = options.revoked_retention;
  store_options.notification_outbox = !options.notify.url.empty();
  auto opened = OpenStore(store_options);
  if (!opened.ok()) return opened.status();
  server->store_ = std::move(opened->store);
  ClusterState* const cluster = opened->cluster;

  if (cluster == nullptr) {
    auto callers = CallerRegistry::LoadOrCreate(options.data_dir);
    if (!callers.ok()) return callers.status();
    server->callers_ = *std::move(callers);
    auto page_key = LoadOrCreatePageKey(options.data_dir);
    if (!page_key.ok()) return page_key.status();
    server->pages_ = std::make_unique<PageTokenCodec>(*page_key);
  } else {
    // Filled from the database by ClusterSync before any caller is accepted.
    server->callers_ = CallerRegistry::NotLoaded();
    server->pages_ = std::make_unique<PageTokenCodec>(std::string());
  }

  // Store work (stream catch-up reads, snapshots) runs on the pool; the feed's
  // own thread reads the tail.
  server->pool_ = std::make_unique<WorkPool>(options.work_threads,
                                             /*max_queued=*/10000);
  WatchCacheOptions watch = options.watch;
  watch.heartbeat_interval = options.heartbeat_interval;
  // The window never holds more than the change log retains, so "retained"
  // means one thing: a revision the log has dropped gets a snapshot, from any
  // replica, whatever its window holds.
  watch.window_changes =
      std::min(watch.window_changes, options.change_retention);
  server->feed_ = std::make_unique<WatchCache>(
      server->store_.get(), options.feed_clock, server->pool_.get(), watch);
  if (absl::Status started = server->feed_->Start(); !started.ok()) {
    return started;
  }
  WatchCache* const feed = server->feed_.get();
  if (absl::Status watching =
          server->store_->WatchExternalCommits([feed] { feed->Notify(); });
      !watching.ok()) {
    return watching;
  }
  if (!options.notify.url.empty()) {
    auto notifier =
        Notifier::Start(options.notify, server->store_.get(), clock);
    if (!notifier.ok()) return notifier.status();
    server->notifier_ = *std::move(notifier);
  }
  Notifier* const notifier = server->notifier_.get();
  std::function<void()> audit_written;
  if (notifier != nullptr) audit_written = [notifier] { notifier->Wake(); };
  ExpirySweeperOptions sweeper_options;
  sweeper_options.interval = options.expiry_sweep_interval;
  sweeper_options.audit_written = audit_written;
  server->sweeper_ = std::make_unique<ExpirySweeper>(server->store_.get(),
                                                     clock, sweeper_options);
  server->sweeper_->Start();

  TokenManagerOptions manager_options;
  manager_options.max_expiration_days = options.max_expiration_days;
  manager_options.on_reuse = options.on_reuse;
  manager_options.audit_written = audit_written;
  server->manager_ = std::make_unique<TokenManager>(
      server->store_.get(), clock, server->pages_.get(), server->feed_.get(),
      manager_options);
  server->service_ = std::make_unique<TokenService>(
      server->manager_.get(), server->callers_.get(), server->feed_.get(),
      server->pool_.get(), options.feed_clock);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, *credentials, &server->port_);
  // Keepalive: a WatchTokens stream of a peer that vanished (power loss, a
  // partition) ends when a ping goes unanswered, instead of holding its
  // window position forever. Verifiers may ping too, as often as every 10 s.
  builder.AddChannelArgument(
      GRPC_ARG_KEEPALIVE_TIME_MS,
      static_cast<int>(absl::ToInt64Milliseconds(options.keepalive_time)));
  builder.AddChannelArgument(
      GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
      static_cast<int>(absl::ToInt64Milliseconds(options.keepalive_timeout)));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen));
  }
  if (cluster == nullptr) {
    server->server_->GetHealthCheckService()->SetServingStatus(true);
  } else {
    grpc::HealthCheckServiceInterface* health =
        server->server_->GetHealthCheckService();
    health->SetServingStatus(false);  // Until the database has answered.
    ClusterSyncOptions sync_options;
    sync_options.data_dir = options.data_dir;
    sync_options.interval = options.cluster_sync_interval;
    server->cluster_sync_ = std::make_unique<ClusterSync>(
        cluster, server->callers_.get(), server->pages_.get(),
        [health](bool serving) { health->SetServingStatus(serving); },
        options.feed_clock, sync_options);
    // The first round before returning: a reachable database means the
    // replica is fully up when BuildAndStart returns.
    server->cluster_sync_->SyncOnce().IgnoreError();
    server->cluster_sync_->Start();
  }
  if (!options.http_listen.empty()) {
    const TokenServer* self = server.get();
    auto http = MetricsHttpServer::Start(
        options.http_listen, [self] { return self->RenderMetrics(); });
    if (!http.ok()) return http.status();
    server->http_ = *std::move(http);
  }
  return server;
}

int TokenServer::http_port() const {
  return http_ != nullptr ? http_->port() : 0;
}

std::string TokenServer::RenderMetrics() const {
  const WatchCacheStats s = feed_->stats();
  std::string out;
  AppendPrometheusMetric(&out, "token_service_watchers", "gauge",
                         "Open WatchTokens streams.", s.watchers);
  const TokenManagerStats tokens = manager_->stats();
  AppendPrometheusMetric(
      &out, "token_service_reuse_detected_total", "counter",
      "Reported uses of revoked token values (audit token.reuse_detected).",
      tokens.reuse_detected_total);
  AppendPrometheusMetric(&out, "token_service_reuse_revoked_total", "counter",
                         "Tokens deleted by --on-reuse revoke.",
                         tokens.reuse_revoked_total);
  const ExpirySweeperStats expiry = sweeper_->stats();
  AppendPrometheusHeader(&out, "token_service_tokens_expiring", "gauge",
                         "Live tokens that expire within the window (-1 "
                         "before the first sweep).");
  absl::StrAppend(&out, "token_service_tokens_expiring{within=\"7d\"} ",
                  expiry.expiring_within_7d, "\n",
                  "token_service_tokens_expiring{within=\"30d\"} ",
                  expiry.expiring_within_30d, "\n");
  AppendPrometheusMetric(
      &out, "token_service_expiry_notices_total", "counter",
      "token.expiring and token.expired events this process recorded.",
      expiry.notices_total);
  AppendPrometheusMetric(&out, "token_service_expiry_sweep_failures_total",
                         "counter", "Expiry sweeps the store failed.",
                         expiry.sweep_failures_total);
  if (notifier_ != nullptr) absl::StrAppend(&out, notifier_->RenderMetrics());
  AppendPrometheusMetric(&out, "token_service_watch_window_changes", "gauge",
                         "Changes held in the watch cache's window.",
                         s.window_changes);
  AppendPrometheusMetric(&out, "token_service_watch_window_bytes", "gauge",
                         "Memory of the changes held in the window.",
                         s.window_bytes);
  AppendPrometheusMetric(
      &out, "token_service_watch_window_oldest_revision", "gauge",
      "The window holds every change after this revision.", s.oldest_revision);
  AppendPrometheusMetric(&out, "token_service_watch_window_newest_revision",
                         "gauge", "The newest revision the window has read.",
                         s.newest_revision);
  AppendPrometheusMetric(
      &out, "token_service_feed_store_ok", "gauge",
      "1 while the feed's last store read succeeded (heartbeats are sent); "
      "0 while the database cannot be read.",
      s.store_ok);
  AppendPrometheusMetric(
      &out, "token_service_watchers_cut_off_total", "counter",
      "Streams ended with RESOURCE_EXHAUSTED for falling too far behind.",
      s.cut_off_total);
  AppendPrometheusHeader(
      &out, "token_service_feed_store_reads_total", "counter",
      "Store reads by the change feed: tail (one reader for every stream), "
      "catch_up (a stream older than the window), snapshot.");
  absl::StrAppend(&out,
                  "token_service_feed_store_reads_total{reader=\"tail\"} ",
                  s.tail_reads_total, "\n",
                  "token_service_feed_store_reads_total{reader=\"catch_up\"} ",
                  s.catch_up_reads_total, "\n",
                  "token_service_feed_store_reads_total{reader=\"snapshot\"} ",
                  s.snapshot_reads_total, "\n");
  AppendPrometheusMetric(
      &out, "token_service_feed_changes_read_total", "counter",
      "Changes the tail reader took from the store.", s.changes_read_total);
  AppendPrometheusMetric(&out, "token_service_snapshots_built_total", "counter",
                         "Snapshots read from the store and encoded.",
                         s.snapshots_built_total);
  AppendPrometheusMetric(
      &out, "token_service_snapshots_shared_total", "counter",
      "Streams that got a snapshot another stream's request built.",
      s.snapshots_shared_total);
  AppendPrometheusMetric(&out, "token_service_snapshots_sent_total", "counter",
                         "Snapshots sent to the end.", s.snapshots_sent_total);
  AppendPrometheusHeader(
      &out, "token_service_feed_fan_out_seconds", "gauge",
      "How long the last change took to hand to every stream.");
  absl::StrAppend(&out, "token_service_feed_fan_out_seconds ",
                  static_cast<double>(s.last_fan_out_us) / 1e6, "\n");
  return out;
}

void TokenServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  if (cluster_sync_ != nullptr) cluster_sync_->Stop();
  if (sweeper_ != nullptr) sweeper_->Stop();
  if (notifier_ != nullptr) notifier_->Stop();
  feed_->CloseAll();
  server_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoMilliseconds(grace));
  server_->Wait();
  // No stream is left: stop the reader before the pool it schedules on goes.
  feed_->Stop();
  if (http_ != nullptr) http_->Stop();
}

TokenServer::~TokenServer() {
  if (server_ != nullptr) Shutdown();
  if (cluster_sync_ != nullptr) cluster_sync_->Stop();
  if (sweeper_ != nullptr) sweeper_->Stop();
  if (notifier_ != nullptr) notifier_->Stop();
  // A server that failed to start still stops its reader before the pool.
  if (feed_ != nullptr) feed_->Stop();
  // The store's external-commit thread calls into the feed: end it first.
  store_.reset();
}

}  // namespace tokens
