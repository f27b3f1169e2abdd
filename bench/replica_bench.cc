// replica_bench: TokenService replicas on one PostgreSQL database.
//
//   --mode=propagation  --changes times each, alternating: CreateToken through
//       --cross (another replica) and through --watch, and the time from
//       CreateToken returning (commit acknowledged) until the token's UPSERT
//       arrives on a WatchTokens stream of --watch (the verifier key) and,
//       with --verifier, until that verifier answers Check ALLOWED. Prints
//         RESULT cross_p50_ms= cross_p99_ms= cross_max_ms= same_p50_ms= ...
//       (verifier_cross_... and verifier_same_... with --verifier).
//       "same" (created through the watched replica) is the reference.
//   --mode=failover  The verifier at --verifier (gRPC) / --verifier_http
//       (/metrics) must be attached to --expect_target and current. Kills
//       --kill_pid (that replica) with SIGKILL, creates a token through
//       --create and polls Check until it is ALLOWED, while /metrics is
//       polled every 5 ms. Prints
//         RESULT recovery_ms= not_ready_checks= ready_samples=
//                not_ready_samples= metrics_failures= failovers= target_after=
//       recovery_ms: from the kill until the new token is allowed.
//
// Exit code 1 when a step times out or a call fails.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/http_get.h"
#include "bench/load_engine.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"

ABSL_FLAG(std::string, mode, "propagation", "propagation | failover");
ABSL_FLAG(std::string, cross, "", "propagation: replica the tokens come from");
ABSL_FLAG(std::string, watch, "", "propagation: replica whose feed is timed");
ABSL_FLAG(std::string, create, "", "failover: replica that stays up");
ABSL_FLAG(std::string, verifier, "", "verifier gRPC address");
ABSL_FLAG(std::string, verifier_http, "", "failover: verifier HTTP address");
ABSL_FLAG(std::string, expect_target, "", "failover: the verifier's feed now");
ABSL_FLAG(int, kill_pid, 0, "failover: the replica to kill -9");
ABSL_FLAG(std::string, admin_key_file, "", "admin key file");
ABSL_FLAG(std::string, verifier_key_file, "", "verifier key file");
ABSL_FLAG(int, changes, 100, "propagation: changes of each kind");
ABSL_FLAG(double, settle, 0.5, "failover: seconds of /metrics after recovery");
ABSL_FLAG(double, timeout, 30, "seconds any one step may take");
ABSL_FLAG(bool, verbose, false, "propagation: every sample on stderr");

namespace tokens::bench {
namespace {

constexpr char kDeployment[] = "bench-replicas";

std::string ReadKey(const std::string& path) {
  std::ifstream in(path);
  std::string key;
  in >> key;
  return key;
}

std::unique_ptr<v1::TokenService::Stub> ServiceStub(const std::string& target) {
  return v1::TokenService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
}

double Ms(int64_t nanos) { return static_cast<double>(nanos) / 1e6; }

absl::Duration Timeout() { return absl::Seconds(absl::GetFlag(FLAGS_timeout)); }

// CreateToken through `stub`; the token's id and value, or false.
bool Create(v1::TokenService::Stub* stub, const std::string& bearer, int n,
            std::string* id, std::string* secret) {
  grpc::ClientContext context;
  context.AddMetadata("authorization", bearer);
  context.set_deadline(absl::ToChronoTime(absl::Now() + Timeout()));
  v1::CreateTokenRequest request;
  request.set_deployment_id(kDeployment);
  request.set_name(absl::StrFormat("replica bench %d %d", getpid(), n));
  v1::CreateTokenResponse response;
  const grpc::Status status = stub->CreateToken(&context, request, &response);
  if (!status.ok()) {
    std::fprintf(stderr, "CreateToken: %s\n", status.error_message().c_str());
    return false;
  }
  *id = response.token().id();
  *secret = response.secret();
  return true;
}

v1::Reason Check(v1::Verifier::Stub* stub, const std::string& secret) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  v1::CheckRequest request;
  request.set_token(secret);
  request.set_deployment_id(kDeployment);
  request.set_operation("deployment.get");
  v1::CheckResponse response;
  if (!stub->Check(&context, request, &response).ok()) {
    return v1::REASON_UNSPECIFIED;
  }
  return response.reason();
}

// Polls Check until ALLOWED; counts NOT_READY answers. False on timeout.
bool WaitAllowed(v1::Verifier::Stub* stub, const std::string& secret,
                 int* not_ready) {
  const absl::Time deadline = absl::Now() + Timeout();
  while (true) {
    const v1::Reason reason = Check(stub, secret);
    if (reason == v1::ALLOWED) return true;
    if (reason == v1::NOT_READY) ++*not_ready;
    if (absl::Now() > deadline) return false;
  }
}

// The p-quantile (nearest rank, rounding down) of `ms`, sorted in place.
double Quantile(std::vector<double>& ms, double q) {
  std::sort(ms.begin(), ms.end());
  const size_t i = static_cast<size_t>(q * static_cast<double>(ms.size()));
  return ms[std::min(i, ms.size() - 1)];
}

std::string Summary(const std::string& name, std::vector<double> ms) {
  return absl::StrFormat("%s_n=%d %s_p50_ms=%.2f %s_p99_ms=%.2f %s_max_ms=%.2f",
                         name, ms.size(), name, Quantile(ms, 0.5), name,
                         Quantile(ms, 0.99), name, ms.back());
}

// A WatchTokens stream, read on its own thread, noting when each token's
// UPSERT arrives.
class Watcher {
 public:
  Watcher(const std::string& target, const std::string& key)
      : stub_(ServiceStub(target)) {
    context_.AddMetadata("authorization", "Bearer " + key);
    thread_ = std::thread([this] { Read(); });
  }
  ~Watcher() {
    context_.TryCancel();
    thread_.join();
  }

  // Waits until the stream has delivered its snapshot.
  bool WaitLive() {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&live_), Timeout());
  }

  // When `id` arrived (MonotonicNanos), or -1 after the timeout.
  int64_t WaitFor(const std::string& id) {
    absl::MutexLock lock(&mu_);
    auto arrived = [&] { return seen_.count(id) > 0 || ended_; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&arrived), Timeout()) ||
        seen_.count(id) == 0) {
      return -1;
    }
    return seen_[id];
  }

 private:
  void Read() {
    v1::WatchTokensRequest request;  // A snapshot first, then changes.
    auto reader = stub_->WatchTokens(&context_, request);
    v1::WatchTokensResponse message;
    while (reader->Read(&message)) {
      const int64_t now = MonotonicNanos();
      absl::MutexLock lock(&mu_);
      if (message.kind() == v1::WatchTokensResponse::SNAPSHOT) {
        live_ = live_ || message.snapshot_complete();
        continue;
      }
      if (message.kind() == v1::WatchTokensResponse::HEARTBEAT) continue;
      for (const v1::TokenChange& change : message.changes()) {
        if (change.type() == v1::TokenChange::UPSERT) {
          seen_.emplace(change.token_id(), now);
        }
      }
    }
    const grpc::Status status = reader->Finish();
    absl::MutexLock lock(&mu_);
    if (!live_) {
      std::fprintf(stderr, "WatchTokens: %s\n", status.error_message().c_str());
    }
    ended_ = true;
  }

  std::unique_ptr<v1::TokenService::Stub> stub_;
  grpc::ClientContext context_;
  absl::Mutex mu_;
  bool live_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, int64_t> seen_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

int RunPropagation() {
  const std::string bearer =
      "Bearer " + ReadKey(absl::GetFlag(FLAGS_admin_key_file));
  auto cross = ServiceStub(absl::GetFlag(FLAGS_cross));
  auto same = ServiceStub(absl::GetFlag(FLAGS_watch));
  std::unique_ptr<v1::Verifier::Stub> verifier;
  if (!absl::GetFlag(FLAGS_verifier).empty()) {
    verifier = v1::Verifier::NewStub(grpc::CreateChannel(
        absl::GetFlag(FLAGS_verifier), grpc::InsecureChannelCredentials()));
  }
  Watcher watcher(absl::GetFlag(FLAGS_watch),
                  ReadKey(absl::GetFlag(FLAGS_verifier_key_file)));
  if (!watcher.WaitLive()) {
    std::fprintf(stderr, "WatchTokens delivered no snapshot\n");
    return 1;
  }
  // [0]: through --cross, [1]: through --watch; feed and verifier.
  std::vector<double> feed[2], checked[2];
  int not_ready = 0;
  for (int n = 0; n < 2 * absl::GetFlag(FLAGS_changes); ++n) {
    const int kind = n % 2;
    std::string id, secret;
    if (!Create(kind == 0 ? cross.get() : same.get(), bearer, n, &id,
                &secret)) {
      return 1;
    }
    const int64_t acknowledged = MonotonicNanos();
    if (verifier != nullptr) {
      if (!WaitAllowed(verifier.get(), secret, &not_ready)) {
        std::fprintf(stderr, "the verifier never allowed %s\n", id.c_str());
        return 1;
      }
      checked[kind].push_back(Ms(MonotonicNanos() - acknowledged));
    }
    const int64_t seen = watcher.WaitFor(id);
    if (seen < 0) {
      std::fprintf(stderr, "%s never arrived on WatchTokens\n", id.c_str());
      return 1;
    }
    // The change can beat the CreateToken answer to the client: 0 then.
    feed[kind].push_back(Ms(std::max<int64_t>(0, seen - acknowledged)));
    if (absl::GetFlag(FLAGS_verbose)) {
      std::fprintf(stderr, "%s %s feed_ms=%.2f verifier_ms=%.2f\n",
                   kind == 0 ? "cross" : "same", id.c_str(), feed[kind].back(),
                   checked[kind].empty() ? 0.0 : checked[kind].back());
    }
  }
  std::string line = absl::StrCat("RESULT ", Summary("cross", feed[0]), " ",
                                  Summary("same", feed[1]));
  if (verifier != nullptr) {
    absl::StrAppend(&line, " ", Summary("verifier_cross", checked[0]), " ",
                    Summary("verifier_same", checked[1]),
                    " not_ready_checks=", not_ready);
  }
  std::printf("%s\n", line.c_str());
  return 0;
}

// GET /metrics; "" on failure.
std::string Metrics(const std::string& address) {
  absl::StatusOr<std::string> page = HttpGet(address, "/metrics", Timeout());
  return page.ok() ? *std::move(page) : "";
}

// The text after `prefix` on the line that starts with it, up to `end`.
std::string Field(const std::string& page, const std::string& prefix,
                  char end) {
  for (absl::string_view line : absl::StrSplit(page, '\n')) {
    if (absl::StartsWith(line, prefix)) {
      line.remove_prefix(prefix.size());
      return std::string(line.substr(0, line.find(end)));
    }
  }
  return "";
}

std::string Target(const std::string& page) {
  return Field(page, "token_verifier_feed_target_info{target=\"", '"');
}
std::string Ready(const std::string& page) {
  return Field(page, "token_verifier_ready ", '\n');
}
std::string Failovers(const std::string& page) {
  return Field(page, "token_verifier_feed_failovers_total ", '\n');
}

// Polls token_verifier_ready every 5 ms until stopped.
struct ReadyMonitor {
  std::atomic<bool> stop{false};
  std::atomic<int> samples{0}, not_ready{0}, failures{0};

  void Run(const std::string& address) {
    while (!stop.load()) {
      const std::string page = Metrics(address);
      if (page.empty()) {
        ++failures;
      } else {
        ++samples;
        if (Ready(page) != "1") ++not_ready;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  }
};

bool Gone(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string pid_field, comm, state;
  return !(in >> pid_field >> comm >> state) || state == "Z";
}

int RunFailover() {
  const std::string bearer =
      "Bearer " + ReadKey(absl::GetFlag(FLAGS_admin_key_file));
  const std::string http = absl::GetFlag(FLAGS_verifier_http);
  const int pid = absl::GetFlag(FLAGS_kill_pid);
  auto service = ServiceStub(absl::GetFlag(FLAGS_create));
  auto verifier = v1::Verifier::NewStub(grpc::CreateChannel(
      absl::GetFlag(FLAGS_verifier), grpc::InsecureChannelCredentials()));
  const std::string before = Metrics(http);
  if (Target(before) != absl::GetFlag(FLAGS_expect_target) ||
      Ready(before) != "1" || pid <= 0) {
    std::fprintf(stderr, "the verifier is not ready on %s: target %s\n",
                 absl::GetFlag(FLAGS_expect_target).c_str(),
                 Target(before).c_str());
    return 1;
  }
  // The verifier is current: it has a token made through the other replica.
  std::string id, secret;
  int not_ready = 0;
  if (!Create(service.get(), bearer, 0, &id, &secret) ||
      !WaitAllowed(verifier.get(), secret, &not_ready)) {
    std::fprintf(stderr, "the verifier does not follow the replicas\n");
    return 1;
  }
  ReadyMonitor monitor;
  std::thread monitor_thread([&] { monitor.Run(http); });
  absl::SleepFor(absl::Milliseconds(50));  // Some samples before the kill.

  const int64_t killed = MonotonicNanos();
  kill(pid, SIGKILL);
  while (!Gone(pid)) absl::SleepFor(absl::Microseconds(200));
  const bool recovered = Create(service.get(), bearer, 1, &id, &secret) &&
                         WaitAllowed(verifier.get(), secret, &not_ready);
  const int64_t allowed = MonotonicNanos();
  absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_settle)));
  monitor.stop = true;
  monitor_thread.join();
  if (!recovered) {
    std::fprintf(stderr, "the verifier never allowed a token after the kill\n");
    return 1;
  }
  const std::string after = Metrics(http);
  int64_t failovers_before = 0, failovers_after = 0;
  if (!absl::SimpleAtoi(Failovers(before), &failovers_before) ||
      !absl::SimpleAtoi(Failovers(after), &failovers_after)) {
    std::fprintf(stderr, "no token_verifier_feed_failovers_total\n");
    return 1;
  }
  std::printf(
      "RESULT recovery_ms=%.1f not_ready_checks=%d ready_samples=%d "
      "not_ready_samples=%d metrics_failures=%d failovers=%d target_after=%s\n",
      Ms(allowed - killed), not_ready, monitor.samples.load(),
      monitor.not_ready.load(), monitor.failures.load(),
      static_cast<int>(failovers_after - failovers_before),
      Target(after).c_str());
  return 0;
}

}  // namespace
}  // namespace tokens::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "propagation") return tokens::bench::RunPropagation();
  if (mode == "failover") return tokens::bench::RunFailover();
  std::fprintf(stderr, "unknown --mode %s\n", mode.c_str());
  return 2;
}
