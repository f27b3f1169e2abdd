#include "services/expiry_sweeper.h"

#include <utility>

#include "common/json_log.h"

namespace tokens {

ExpirySweeper::ExpirySweeper(TokenStore* store, Clock* clock,
                             ExpirySweeperOptions options)
    : store_(store), clock_(clock), options_(std::move(options)) {}

ExpirySweeper::~ExpirySweeper() { Stop(); }

absl::StatusOr<std::vector<ExpiryNotice>> ExpirySweeper::SweepOnce() {
  const absl::Time now = clock_->Now();
  absl::StatusOr<std::vector<ExpiryNotice>> notices =
      store_->RecordExpiryNotices(now, options_.thresholds_days, kPrincipal);
  if (!notices.ok()) {
    sweep_failures_total_.fetch_add(1);
    return notices.status();
  }
  notices_total_.fetch_add(static_cast<int64_t>(notices->size()));
  for (const ExpiryNotice& notice : *notices) {
    JsonLog(notice.days == 0 ? "token.expired" : "token.expiring", "info")
        .Str("token_id", notice.token_id)
        .Str("deployment_id", notice.deployment_id)
        .Int("days", notice.days);
  }
  if (!notices->empty() && options_.audit_written) options_.audit_written();

  // Gauges: live tokens expiring within 7 / 30 days, not those already over.
  absl::StatusOr<int64_t> expired = store_->CountTokensExpiringBefore(now);
  absl::StatusOr<int64_t> within_7d =
      store_->CountTokensExpiringBefore(now + absl::Hours(24 * 7));
  absl::StatusOr<int64_t> within_30d =
      store_->CountTokensExpiringBefore(now + absl::Hours(24 * 30));
  if (!expired.ok() || !within_7d.ok() || !within_30d.ok()) {
    sweep_failures_total_.fetch_add(1);
    return !expired.ok()     ? expired.status()
           : !within_7d.ok() ? within_7d.status()
                             : within_30d.status();
  }
  expiring_within_7d_.store(*within_7d - *expired);
  expiring_within_30d_.store(*within_30d - *expired);
  return notices;
}

ExpirySweeperStats ExpirySweeper::stats() const {
  ExpirySweeperStats stats;
  stats.expiring_within_7d = expiring_within_7d_.load();
  stats.expiring_within_30d = expiring_within_30d_.load();
  stats.notices_total = notices_total_.load();
  stats.sweep_failures_total = sweep_failures_total_.load();
  return stats;
}

void ExpirySweeper::Start() {
  thread_ = std::thread([this] { Run(); });
}

void ExpirySweeper::Run() {
  while (true) {
    if (auto swept = SweepOnce(); !swept.ok()) {
      JsonLog("expiry.sweep_failed", "warn")
          .Str("error", std::string(swept.status().message()));
    }
    absl::MutexLock lock(&mu_);
    if (clock_->AwaitWithTimeout(&mu_, absl::Condition(&stopping_),
                                 options_.interval)) {
      return;
    }
  }
}

void ExpirySweeper::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace tokens
