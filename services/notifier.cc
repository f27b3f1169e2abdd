#include "services/notifier.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/memory/memory.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/json_log.h"
#include "common/prometheus_text.h"

namespace tokens {
namespace {

constexpr size_t kMinKeyBytes = 16;

std::string Rfc3339(absl::Time time) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", time, absl::UTCTimeZone());
}

void AppendField(std::string* out, const char* key, const std::string& value) {
  absl::StrAppend(out, ",\"", key, "\":\"", JsonEscape(value), "\"");
}

bool IsSuccess(int status) { return status >= 200 && status < 300; }

}  // namespace

absl::StatusOr<NotifierOptions> NotifierOptionsFromFlags(
    const std::string& url, const std::string& key_file,
    const std::string& ca_file) {
  NotifierOptions options;
  if (url.empty()) {
    return absl::InvalidArgumentError(
        "--notify-url is required with --notify-key-file or --notify-ca-file");
  }
  absl::StatusOr<HttpUrl> parsed = ParseHttpUrl("--notify-url", url);
  if (!parsed.ok()) return parsed.status();
  options.url = url;
  if (key_file.empty()) {
    return absl::InvalidArgumentError(
        "--notify-key-file is required with --notify-url: a file holding the "
        "key that signs every notification (e.g. openssl rand -hex 32)");
  }
  absl::StatusOr<std::string> key = ReadKeyFile(key_file);
  if (!key.ok()) {
    // ReadKeyFile names the path and the reason, never the key.
    return absl::InvalidArgumentError(
        absl::StrCat("--notify-key-file: ", key.status().message()));
  }
  if (key->size() < kMinKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--notify-key-file: the key in ", key_file, " has ", key->size(),
        " bytes; use at least ", kMinKeyBytes, " (e.g. openssl rand -hex 32)"));
  }
  options.hmac_key = *std::move(key);
  if (!ca_file.empty()) {
    if (!parsed->https) {
      return absl::InvalidArgumentError(
          "--notify-ca-file applies only to an https:// --notify-url");
    }
    absl::StatusOr<std::unique_ptr<HttpClient>> client =
        HttpClient::Create(ca_file);
    if (!client.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--notify-ca-file: ", client.status().message()));
    }
    options.ca_file = ca_file;
  }
  return options;
}

std::string RenderNotificationJson(const AuditEntry& event) {
  std::string out = absl::StrCat("{\"id\":", event.id);
  AppendField(&out, "event", event.action);
  AppendField(&out, "time", Rfc3339(event.time));
  AppendField(&out, "token_id", event.token_id);
  AppendField(&out, "deployment_id", event.deployment_id);
  AppendField(&out, "principal", event.principal);
  AppendField(&out, "outcome", event.outcome);
  AppendField(&out, "detail", event.detail);
  out.push_back('}');
  return out;
}

std::string SignNotification(const std::string& key, const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac,
       &mac_length);
  return absl::StrCat("sha256=",
                      absl::BytesToHexString(absl::string_view(
                          reinterpret_cast<const char*>(mac), mac_length)));
}

absl::Duration NotificationBackoff(const NotifierOptions& options,
                                   int32_t failures, double random01) {
  absl::Duration delay = options.initial_backoff;
  for (int32_t i = 1; i < failures && delay < options.max_backoff; ++i) {
    delay *= 2;
  }
  delay = std::min(delay, options.max_backoff);
  const double jitter = std::clamp(options.jitter, 0.0, 1.0);
  return delay * (1.0 - jitter * std::clamp(random01, 0.0, 1.0));
}

absl::StatusOr<std::unique_ptr<Notifier>> Notifier::Start(
    NotifierOptions options, TokenStore* store, Clock* clock) {
  absl::StatusOr<HttpUrl> url = ParseHttpUrl("--notify-url", options.url);
  if (!url.ok()) return url.status();
  if (options.hmac_key.empty()) {
    return absl::InvalidArgumentError("notifier: empty HMAC key");
  }
  if (options.poll_interval <= absl::ZeroDuration() ||
      options.request_timeout <= absl::ZeroDuration() ||
      options.initial_backoff <= absl::ZeroDuration() ||
      options.max_backoff < options.initial_backoff ||
      options.lease <= options.request_timeout || options.batch_size < 1 ||
      !(options.jitter >= 0 && options.jitter <= 1)) {
    return absl::InvalidArgumentError(
        "notifier: durations must be positive, max_backoff >= "
        "initial_backoff, lease > request_timeout, batch_size >= 1, jitter "
        "in [0, 1]");
  }
  absl::StatusOr<std::unique_ptr<HttpClient>> client =
      HttpClient::Create(options.ca_file);
  if (!client.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--notify-ca-file: ", client.status().message()));
  }
  auto notifier = absl::WrapUnique(new Notifier(
      std::move(options), *std::move(url), *std::move(client), store, clock));
  notifier->thread_ = std::thread([n = notifier.get()] { n->Run(); });
  return notifier;
}

Notifier::Notifier(NotifierOptions options, HttpUrl url,
                   std::unique_ptr<HttpClient> client, TokenStore* store,
                   Clock* clock)
    : options_(std::move(options)),
      url_(std::move(url)),
      client_(std::move(client)),
      store_(store),
      clock_(clock) {}

Notifier::~Notifier() { Stop(); }

void Notifier::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
}

void Notifier::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  client_->Cancel();
  absl::MutexLock lock(&join_mu_);
  if (thread_.joinable()) thread_.join();
}

bool Notifier::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

NotifierStats Notifier::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void Notifier::Run() {
  JsonLog("notify.started").Str("url", url_.Origin());
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      // A Wake from now on (a write committed during this round) makes the
      // wait below return at once.
      woken_ = false;
    }
    if (DeliverDue()) continue;
    absl::MutexLock lock(&mu_);
    auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return woken_ || stopping_;
    };
    clock_->AwaitWithTimeout(&mu_, absl::Condition(&woken),
                             options_.poll_interval);
  }
}

bool Notifier::DeliverDue() {
  const absl::Time now = clock_->Now();
  int32_t limit = options_.batch_size;
  {
    absl::MutexLock lock(&mu_);
    // A failing receiver is probed with one row at a time.
    if (stats_.consecutive_failures > 0) limit = 1;
  }
  absl::StatusOr<std::vector<PendingNotification>> claimed =
      store_->ClaimNotifications(now, options_.lease, limit);
  if (!claimed.ok()) {
    StoreError("claim", claimed.status());
    return false;
  }
  const absl::Time lease_end = now + options_.lease;
  for (size_t i = 0; i < claimed->size(); ++i) {
    const PendingNotification& pending = (*claimed)[i];
    if (stopping()) return false;  // The rest stay leased.
    if (clock_->Now() + options_.request_timeout > lease_end) {
      // The lease could end during the request, and another notifier could
      // deliver the row at the same time: claim again.
      return true;
    }
    const absl::Status delivered = Deliver(pending.event);
    if (delivered.code() == absl::StatusCode::kCancelled) return false;
    if (!delivered.ok()) {
      Retry(pending, delivered, /*attempted=*/true);
      // The receiver failing this row would most likely fail the rest of the
      // batch too: they wait for their own next attempt, without a request.
      for (size_t j = i + 1; j < claimed->size(); ++j) {
        Retry((*claimed)[j], delivered, /*attempted=*/false);
      }
      return false;
    }
    {
      absl::MutexLock lock(&mu_);
      ++stats_.delivered_total;
      stats_.consecutive_failures = 0;
      stats_.last_delivery_time = clock_->Now();
    }
    JsonLog("notify.delivered")
        .Int("id", pending.event.id)
        .Str("action", pending.event.action)
        .Int("attempts", pending.attempts + 1);
    const absl::Status completed =
        store_->CompleteNotification(pending.event.id);
    // Not removed: delivered again after the lease (at least once).
    if (!completed.ok()) StoreError("complete", completed);
  }
  return static_cast<int32_t>(claimed->size()) == limit;
}

absl::Status Notifier::Deliver(const AuditEntry& event) {
  const std::string body = RenderNotificationJson(event);
  const HttpHeaders headers = {
      {"Content-Type", "application/json"},
      {"X-Tokens-Event", event.action},
      {"X-Tokens-Delivery", absl::StrCat(event.id)},
      {"X-Tokens-Signature-256", SignNotification(options_.hmac_key, body)},
  };
  absl::StatusOr<int> status =
      client_->Post(url_, headers, body, options_.request_timeout);
  if (!status.ok()) return status.status();
  if (!IsSuccess(*status)) {
    return absl::UnavailableError(
        absl::StrCat("POST ", url_.Origin(), ": HTTP ", *status));
  }
  return absl::OkStatus();
}

void Notifier::Retry(const PendingNotification& pending,
                     const absl::Status& why, bool attempted) {
  const int32_t failures = pending.attempts + 1;
  absl::Duration delay;
  {
    absl::MutexLock lock(&mu_);
    if (attempted) {
      ++stats_.failed_attempts_total;
      ++stats_.consecutive_failures;
    }
    delay = NotificationBackoff(options_, failures,
                                absl::Uniform(random_, 0.0, 1.0));
  }
  if (attempted) {
    JsonLog("notify.failed", "warn")
        .Int("id", pending.event.id)
        .Str("action", pending.event.action)
        .Int("attempts", failures)
        .Str("error", std::string(why.message()))
        .Double("retry_in_s", absl::ToDoubleSeconds(delay));
  }
  const absl::Status retried =
      store_->RetryNotification(pending.event.id, clock_->Now() + delay);
  // Not rescheduled: due again when its lease ends.
  if (!retried.ok()) StoreError("retry", retried);
}

void Notifier::StoreError(const char* operation, const absl::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    ++stats_.store_errors_total;
  }
  JsonLog("notify.store_failed", "warn")
      .Str("operation", operation)
      .Str("error", status.ToString());
}

std::string Notifier::RenderMetrics() const {
  const NotifierStats s = stats();
  std::string out;
  AppendPrometheusMetric(
      &out, "token_service_notifications_delivered_total", "counter",
      "Notifications the --notify-url receiver answered with a 2xx.",
      s.delivered_total);
  AppendPrometheusMetric(
      &out, "token_service_notification_failures_total", "counter",
      "Delivery attempts that got no 2xx (status, connection, TLS, "
      "timeout); each is retried.",
      s.failed_attempts_total);
  AppendPrometheusMetric(
      &out, "token_service_notification_consecutive_failures", "gauge",
      "Failed deliveries since the last 2xx; 0 while the receiver is "
      "healthy.",
      s.consecutive_failures);
  AppendPrometheusMetric(
      &out, "token_service_notification_store_errors_total", "counter",
      "Outbox reads or updates that failed (retried).", s.store_errors_total);
  AppendPrometheusMetric(
      &out, "token_service_notification_last_delivery_timestamp_seconds",
      "gauge", "Unix time of the last 2xx; 0 before the first.",
      s.last_delivery_time == absl::InfinitePast()
          ? int64_t{0}
          : absl::ToUnixSeconds(s.last_delivery_time));
  return out;
}

}  // namespace tokens
