#include "storage/postgres_commit_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace tokens {
namespace {

constexpr absl::Duration kMinBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);

int PollMillis(absl::Duration timeout) {
  return static_cast<int>(std::clamp<int64_t>(
      absl::ToInt64Milliseconds(absl::Ceil(timeout, absl::Milliseconds(1))), 0,
      60 * 60 * 1000));
}

}  // namespace

PgCommitWatcher::PgCommitWatcher(PgConnectOptions options, std::string channel,
                                 absl::Duration poll_interval,
                                 std::function<void()> wake)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      poll_interval_(poll_interval),
      wake_(std::move(wake)),
      stop_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  thread_ = std::thread([this] { Loop(); });
}

PgCommitWatcher::~PgCommitWatcher() {
  const uint64_t one = 1;
  if (write(stop_fd_, &one, sizeof(one)) < 0) {
    // An eventfd write fails only on overflow, which cannot happen here.
  }
  thread_.join();
  close(stop_fd_);
}

bool PgCommitWatcher::WaitForStop(absl::Duration timeout) {
  pollfd fd = {stop_fd_, POLLIN, 0};
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    const int ready = poll(&fd, 1, PollMillis(deadline - absl::Now()));
    if (ready > 0) return true;
    if (ready == 0 || (ready < 0 && errno != EINTR)) {
      if (absl::Now() >= deadline) return false;
    }
  }
}

void PgCommitWatcher::Loop() {
  absl::Duration backoff = kMinBackoff;
  while (true) {
    absl::StatusOr<std::unique_ptr<PgConnection>> conn =
        PgConnection::Connect(options_, stop_fd_);
    if (conn.ok() && Listen(**conn)) {
      backoff = kMinBackoff;
      // Whatever was committed while we were not listening.
      wake_();
      if (Watch(**conn)) return;
      continue;  // Broke: reconnect at once; the backoff starts if that fails.
    }
    if (conn.status().code() == absl::StatusCode::kCancelled ||
        WaitForStop(backoff)) {
      return;
    }
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

bool PgCommitWatcher::Listen(PgConnection& conn) {
  PGconn* raw = conn.raw();
  const std::string listen = absl::StrCat("LISTEN ", channel_);
  if (PQsendQuery(raw, listen.c_str()) == 0) return false;
  bool ok = true;
  while (true) {
    while (PQisBusy(raw) != 0) {
      pollfd fds[2] = {{PQsocket(raw), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      const int ready = poll(fds, 2, PollMillis(options_.statement_timeout));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0 || (fds[1].revents & POLLIN) != 0) return false;
      if (PQconsumeInput(raw) == 0) return false;
    }
    PGresult* result = PQgetResult(raw);
    if (result == nullptr) return ok;
    ok = ok && PQresultStatus(result) == PGRES_COMMAND_OK;
    PQclear(result);
  }
}

bool PgCommitWatcher::Watch(PgConnection& conn) {
  PGconn* raw = conn.raw();
  while (true) {
    pollfd fds[2] = {{PQsocket(raw), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const int ready = poll(fds, 2, PollMillis(poll_interval_));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if ((fds[1].revents & POLLIN) != 0) return true;
    if (ready == 0) {
      wake_();  // The fallback poll.
      continue;
    }
    if (PQconsumeInput(raw) == 0) return false;
    bool notified = false;
    while (PGnotify* notify = PQnotifies(raw)) {
      notified = true;
      PQfreemem(notify);
    }
    if (notified) wake_();
    if (PQstatus(raw) != CONNECTION_OK ||
        (!notified && (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL)) != 0)) {
      return false;
    }
  }
}

}  // namespace tokens
