// Notifier: delivers the notification outbox (storage/token_store.h) to
// TokenService's --notify-url as webhooks.
//
// Every audit row the store queues (token.create, token.rotate, token.delete,
// token.expiring, token.expired, token.reuse_detected with outcome OK) is
// POSTed as one JSON document (RenderNotificationJson), signed with
// HMAC-SHA256 over the body:
//
//   Content-Type: application/json
//   X-Tokens-Event: token.rotate
//   X-Tokens-Delivery: 42                 (the audit id: the same on a retry)
//   X-Tokens-Signature-256: sha256=<hex>  (HMAC-SHA256 of the body, hex)
//
// At least once: a row leaves the outbox only after a 2xx answer
// (CompleteNotification). Anything else (another status, connection refused,
// TLS failure, timeout) is retried with a jittered exponential backoff
// (RetryNotification), forever; a restart resumes from the outbox. Rows are
// claimed with a lease, so replicas sharing one database (or a notifier that
// died mid-delivery) deliver each row again only after the lease. A receiver
// may therefore see a delivery twice and should deduplicate by
// X-Tokens-Delivery.
//
// Its own thread: delivery never runs on, or waits for, an RPC. Wake() (after
// a write) only sets a flag. All waits (the poll interval) use the Clock's
// monotonic time; claim times and backoff deadlines its wall time, the time
// the store stamps audit rows with.
//
// While the receiver fails, at most one delivery is attempted per poll
// interval (the oldest due row), so a dead endpoint is probed, not flooded;
// the first 2xx restores batches.
//
// Thread-safe. No event, log line, metric or error carries a token value, a
// digest or the HMAC key; errors name the URL's origin only (the path and
// query may hold a secret of the receiver's).
#ifndef SERVICES_NOTIFIER_H_
#define SERVICES_NOTIFIER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/http_client.h"
#include "storage/token_store.h"

namespace tokens {

struct NotifierOptions {
  // http:// or https:// (ParseHttpUrl).
  std::string url;
  // The HMAC-SHA256 key of X-Tokens-Signature-256. Never logged.
  std::string hmac_key;
  // PEM trust roots for an https url; empty = the system's.
  std::string ca_file;
  // How often the outbox is read when nothing wakes the notifier; also the
  // pace of deliveries while the receiver fails.
  absl::Duration poll_interval = absl::Seconds(1);
  // Connect, TLS handshake, request and response header, in all.
  absl::Duration request_timeout = absl::Seconds(10);
  // After the n-th failed delivery of a row, it is due again after
  // min(max_backoff, initial_backoff * 2^(n-1)) * (1 - jitter * U[0, 1)).
  absl::Duration initial_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Minutes(5);
  double jitter = 0.5;  // 0 = exact backoff; 0.5 = between half and all of it
  // How long a claimed row is reserved for this notifier (> request_timeout).
  absl::Duration lease = absl::Seconds(60);
  // Rows claimed at once.
  int32_t batch_size = 100;
};

// Options from TokenService's flags: --notify-url URL, --notify-key-file PATH
// (the HMAC key, surrounding whitespace stripped, at least 16 bytes),
// --notify-ca-file PATH (optional, https only). The other fields keep their
// defaults. InvalidArgument whose message starts with the flag at fault: a
// URL that is empty or not http(s); a key file that is not given, cannot be
// read, is empty or too short; a CA file that cannot be loaded, or is given
// for an http URL. Call it when any of the three flags is set.
absl::StatusOr<NotifierOptions> NotifierOptionsFromFlags(
    const std::string& url, const std::string& key_file,
    const std::string& ca_file);

// The JSON document of one event, one line:
//   {"id":42,"event":"token.rotate","time":"2026-01-01T00:00:00Z",
//    "token_id":"...","deployment_id":"...","principal":"admin",
//    "outcome":"OK","detail":"..."}
// `time` is RFC 3339 in UTC (fractional seconds only when there are some).
std::string RenderNotificationJson(const AuditEntry& event);

// "sha256=" + lower-case hex of HMAC-SHA256(key, body).
std::string SignNotification(const std::string& key, const std::string& body);

// The delay after the `failures`-th failed delivery (>= 1), `random01` in
// [0, 1) drawing the jitter (see NotifierOptions).
absl::Duration NotificationBackoff(const NotifierOptions& options,
                                   int32_t failures, double random01);

struct NotifierStats {
  int64_t delivered_total = 0;        // rows answered 2xx
  int64_t failed_attempts_total = 0;  // deliveries that did not get a 2xx
  int64_t store_errors_total = 0;     // outbox reads or updates that failed
  // Failed deliveries since the last 2xx (0 while the receiver is healthy).
  int64_t consecutive_failures = 0;
  // The last 2xx; InfinitePast = none yet.
  absl::Time last_delivery_time = absl::InfinitePast();
};

class Notifier {
 public:
  // Starts the delivery thread. InvalidArgument for a bad url, ca_file,
  // empty key or inconsistent durations (lease <= request_timeout,
  // batch_size < 1, ...). `store` and `clock` must outlive the notifier.
  static absl::StatusOr<std::unique_ptr<Notifier>> Start(
      NotifierOptions options, TokenStore* store, Clock* clock);

  ~Notifier();  // Stop().
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Reads the outbox now instead of at the next poll. Never blocks on a
  // delivery: call it after every write.
  void Wake() ABSL_LOCKS_EXCLUDED(mu_);

  // Ends a delivery in progress (its row stays in the outbox, due again when
  // its lease ends) and joins the thread. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  NotifierStats stats() const ABSL_LOCKS_EXCLUDED(mu_);

  // Prometheus text (token_service_notification*), for TokenService's
  // /metrics.
  std::string RenderMetrics() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Notifier(NotifierOptions options, HttpUrl url,
           std::unique_ptr<HttpClient> client, TokenStore* store, Clock* clock);

  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // Claims due rows and delivers them. True when more rows may be due now.
  bool DeliverDue() ABSL_LOCKS_EXCLUDED(mu_);
  // POSTs one row; OK on a 2xx.
  absl::Status Deliver(const AuditEntry& event);
  // Counts a failed attempt of `pending` and schedules the next.
  // `attempted` false: the row was claimed with one that failed and put back
  // without a request of its own.
  void Retry(const PendingNotification& pending, const absl::Status& why,
             bool attempted) ABSL_LOCKS_EXCLUDED(mu_);
  void StoreError(const char* operation, const absl::Status& status)
      ABSL_LOCKS_EXCLUDED(mu_);
  bool stopping() const ABSL_LOCKS_EXCLUDED(mu_);

  const NotifierOptions options_;
  const HttpUrl url_;
  const std::unique_ptr<HttpClient> client_;
  TokenStore* const store_;
  Clock* const clock_;

  mutable absl::Mutex mu_;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  NotifierStats stats_ ABSL_GUARDED_BY(mu_);
  absl::BitGen random_ ABSL_GUARDED_BY(mu_);
  absl::Mutex join_mu_;  // One Stop joins.
  std::thread thread_;
};

}  // namespace tokens

#endif  // SERVICES_NOTIFIER_H_
