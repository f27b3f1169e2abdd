// fanout_bench: many WatchTokens streams on one TokenService, and how long a
// change takes to reach all of them.
//
// Opens --streams streams spread over --channels connections (a distinct
// channel argument each forces separate connections), every one resuming from
// the current revision as a verifier does after a restart. Then, --changes
// times: DeleteToken, and the time from DeleteToken returning until every
// stream has received that revision. Prints one line
//
//   RESULT streams=N changes=K p50_ms= p99_ms= max_ms= connect_s=
//          rss_per_stream_kb= store_reads_per_change= snapshots_built=
//          service_cpu_ms_per_change= client_cpu_ms_per_change=
//
// rss_per_stream_kb comes from --service_pid's VmRSS before and after the
// streams are open (idle); the store figures from the service's /metrics
// (--metrics HOST:PORT). The CPU figures (user + system time of the service,
// from /proc, and of this client, over the measured changes) say what one
// change costs each side, which a shared machine's noise affects far less
// than the latencies. Deletes tokens it created itself, one per change.
//
// With --restart_command (a shell command that kill -9s TokenService and
// starts it again on the same addresses) it then measures a reconnect storm:
// every stream reconnects as a verifier does (channel reconnect backoff
// 100 ms..2 s, stream backoff 100 ms doubling to 5 s with equal jitter,
// resuming from its revision), and prints
//
//   STORM streams=N recovered_s= snapshots= catch_up_reads=
//
// recovered_s: from the restart command returning until every stream is
// current again; snapshots and catch_up_reads: the new process's counters.
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/http_get.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "TokenService address");
ABSL_FLAG(std::string, admin_key_file, "", "admin key file");
ABSL_FLAG(std::string, verifier_key_file, "", "verifier key file");
ABSL_FLAG(int, streams, 1000, "WatchTokens streams");
ABSL_FLAG(int, channels, 100, "connections the streams are spread over");
ABSL_FLAG(int, changes, 50, "DeleteToken calls measured");
ABSL_FLAG(int, queues, 10,
          "completion queues (one thread each) the streams' connections are "
          "spread over");
ABSL_FLAG(std::string, metrics, "", "TokenService /metrics HOST:PORT");
ABSL_FLAG(int, service_pid, 0, "TokenService pid, for its RSS");
ABSL_FLAG(double, timeout, 60, "seconds to wait for any one step");
ABSL_FLAG(std::string, restart_command, "",
          "shell command that kill -9s and restarts TokenService on the same "
          "addresses; empty = no reconnect storm");

namespace tokens {
namespace {

using Clock = std::chrono::steady_clock;

std::string ReadKey(const std::string& path) {
  std::ifstream in(path);
  std::string key;
  in >> key;
  return key;
}

int64_t RssKb(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "VmRSS:")) {
      int64_t kb = 0;
      std::vector<std::string> parts =
          absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kb)) return kb;
    }
  }
  return -1;
}

// User + system CPU seconds of process `pid` so far (-1 when unknown).
double ProcessCpuSeconds(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses: state is the
  // first, utime the 12th and stime the 13th.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::vector<std::string> fields =
      absl::StrSplit(stat.substr(close + 2), ' ', absl::SkipEmpty());
  int64_t utime = 0;
  int64_t stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return -1;
  }
  return static_cast<double>(utime + stime) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

// This process's user + system CPU seconds so far.
double OwnCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) /
             1e6;
}

// GET /metrics; "" on failure.
std::string Metrics(const std::string& address) {
  absl::StatusOr<std::string> page =
      HttpGet(address, "/metrics", absl::Seconds(absl::GetFlag(FLAGS_timeout)));
  return page.ok() ? *std::move(page) : "";
}

int64_t Sample(const std::string& page, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(page, '\n')) {
    if (absl::StartsWith(line, series + " ")) {
      int64_t value = -1;
      if (absl::SimpleAtoi(line.substr(series.size() + 1), &value)) {
        return value;
      }
    }
  }
  return -1;
}

// What every stream reports to: how many have reached `target`, and when the
// last one did.
struct Progress {
  std::atomic<int64_t> target{0};
  // Streams opened before this generation do not count (the storm counts
  // reconnected streams only).
  std::atomic<int> min_generation{0};
  std::atomic<int> reached{0};
  std::atomic<int> want{0};
  absl::Mutex mu;
  Clock::time_point all_at ABSL_GUARDED_BY(mu);
  bool all ABSL_GUARDED_BY(mu) = false;
  std::atomic<int> failed{0};

  void Arm(int64_t revision, int streams) {
    absl::MutexLock lock(&mu);
    want.store(streams);
    all = false;
    reached.store(0);
    target.store(revision);
  }
  // Lock-free but for the last stream, so the client's own bookkeeping stays
  // small next to what it measures.
  void Reached() {
    if (reached.fetch_add(1) + 1 != want.load()) return;
    const Clock::time_point now = Clock::now();
    absl::MutexLock lock(&mu);
    all = true;
    all_at = now;
  }
  // Waits until every stream reached the target; when they did.
  bool Wait(absl::Duration timeout, Clock::time_point* at) {
    absl::MutexLock lock(&mu);
    if (!mu.AwaitWithTimeout(absl::Condition(&all), timeout)) return false;
    *at = all_at;
    return true;
  }
};

class Stream;

// Streams that ended, reopened after a jittered backoff by one thread.
class Reconnector {
 public:
  virtual ~Reconnector() = default;
  virtual void Ended(Stream* stream) = 0;
};

// One WatchTokens stream on the async API, driven by its connection's
// completion queue (one queue and one thread per connection). Not the callback
// API: Debian's libgrpc is built with its debug checks, so every completion
// on a queue scans a list of every operation outstanding on that queue, and
// the callback API puts all 10,000 streams (two operations each) on one
// queue, a fifth of the client's time. Here --queues queues (10: 1,000 streams
// each) share the streams, and only a read is outstanding while a stream is
// open (Finish after the last read). More queues mean more threads switching
// on the client's core.
class Stream final {
 public:
  Stream(v1::TokenService::Stub* stub, grpc::CompletionQueue* cq,
         const std::string& key, int64_t since_revision, Progress* progress,
         int index = 0, int generation = 0, Reconnector* reconnector = nullptr,
         int backoff_ms = 100)
      : progress_(progress),
        index_(index),
        generation_(generation),
        backoff_ms_(backoff_ms),
        reconnector_(reconnector),
        revision_(since_revision) {
    context_.AddMetadata("authorization", "Bearer " + key);
    v1::WatchTokensRequest request;
    request.set_since_revision(since_revision);
    request.set_resume(true);
    reader_ = stub->PrepareAsyncWatchTokens(&context_, request, cq);
    reader_->StartCall(&started_);
  }

  // A completion of one of this stream's operations (`tag` is one of its
  // Op members), on its queue's thread.
  static void Complete(void* tag, bool ok) {
    Op* op = static_cast<Op*>(tag);
    op->stream->OnComplete(op->kind, ok);
  }

  int index() const { return index_; }
  int generation() const { return generation_; }
  int64_t revision() const { return revision_.load(); }
  // The next backoff: reset after a stream that got messages, else doubled.
  int next_backoff_ms() const {
    return got_message_.load() ? 100 : std::min(5000, backoff_ms_ * 2);
  }
  int backoff_ms() const { return backoff_ms_; }
  void Cancel() {
    cancelled_.store(true);
    context_.TryCancel();
  }
  void WaitDone() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
  }

 private:
  enum class Kind { kStarted, kRead, kFinished };
  struct Op {
    Stream* stream;
    Kind kind;
  };

  void OnComplete(Kind kind, bool ok) {
    switch (kind) {
      case Kind::kStarted:
      case Kind::kRead:
        if (kind == Kind::kRead && ok) OnMessage();
        if (ok) {
          reader_->Read(&message_, &read_);
        } else {
          reader_->Finish(&status_, &finished_);
        }
        return;
      case Kind::kFinished:
        OnDone();
        return;
    }
  }

  void OnMessage() {
    const int64_t revision = message_.revision();
    revision_.store(revision);
    got_message_.store(true);
    const int64_t target = progress_->target.load();
    if (revision >= target && counted_ != target &&
        generation_ >= progress_->min_generation.load()) {
      counted_ = target;
      progress_->Reached();
    }
  }

  void OnDone() {
    if (!cancelled_.load()) {
      if (reconnector_ != nullptr) {
        reconnector_->Ended(this);
      } else {
        progress_->failed.fetch_add(1);
        std::fprintf(stderr, "stream ended: %d %s\n", status_.error_code(),
                     status_.error_message().c_str());
      }
    }
    absl::MutexLock lock(&mu_);
    done_ = true;
  }

  Progress* const progress_;
  const int index_;
  const int generation_;
  const int backoff_ms_;
  Reconnector* const reconnector_;
  std::atomic<int64_t> revision_;
  std::atomic<bool> got_message_{false};
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientAsyncReader<v1::WatchTokensResponse>> reader_;
  Op started_{this, Kind::kStarted};
  Op read_{this, Kind::kRead};
  Op finished_{this, Kind::kFinished};
  // Only touched on the queue's thread, one operation at a time.
  v1::WatchTokensResponse message_;
  grpc::Status status_;
  int64_t counted_ = -1;
  std::atomic<bool> cancelled_{false};
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

// A completion queue and the thread that drives its streams.
struct Queue {
  grpc::CompletionQueue cq;
  std::thread thread;

  void Drive() {
    void* tag = nullptr;
    bool ok = false;
    while (cq.Next(&tag, &ok)) Stream::Complete(tag, ok);
  }
};

// A connection: its stub, and the queue its streams are on.
struct Connection {
  v1::TokenService::Stub* stub = nullptr;
  grpc::CompletionQueue* cq = nullptr;
};

// Reopens ended streams, like a verifier's FeedClient: after
// JitteredBackoff(backoff) = backoff/2 + uniform * backoff/2, resuming from
// the stream's revision.
class StormReconnector final : public Reconnector {
 public:
  StormReconnector(std::vector<Connection>* connections, std::string key,
                   Progress* progress,
                   std::vector<std::unique_ptr<Stream>>* streams)
      : connections_(connections),
        key_(std::move(key)),
        progress_(progress),
        streams_(streams),
        thread_([this] { Run(); }) {}
  ~StormReconnector() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }
  void Ended(Stream* stream) override {
    const int backoff = stream->next_backoff_ms();
    absl::MutexLock lock(&mu_);
    const double jitter = absl::Uniform(rng_, 0.0, 1.0);
    due_.push_back(
        {absl::Now() + absl::Milliseconds(backoff / 2 + jitter * backoff / 2),
         stream->index(), stream->generation() + 1, stream->revision(),
         backoff});
  }
  // Ended streams stay here until the end (a reactor may still be inside
  // OnDone when it is replaced).
  std::vector<std::unique_ptr<Stream>> graveyard;

 private:
  struct Due {
    absl::Time at;
    int index;
    int generation;
    int64_t revision;
    int backoff_ms;
  };
  void Run() {
    absl::MutexLock lock(&mu_);
    while (!stopping_) {
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(5));
      const absl::Time now = absl::Now();
      std::vector<Due> ready;
      for (size_t i = 0; i < due_.size();) {
        if (due_[i].at <= now) {
          ready.push_back(due_[i]);
          due_[i] = due_.back();
          due_.pop_back();
        } else {
          ++i;
        }
      }
      for (const Due& d : ready) {
        graveyard.push_back(std::move((*streams_)[d.index]));
        Connection& connection =
            (*connections_)[d.index % connections_->size()];
        (*streams_)[d.index] = std::make_unique<Stream>(
            connection.stub, connection.cq, key_, d.revision, progress_,
            d.index, d.generation, this, d.backoff_ms);
      }
    }
  }

  std::vector<Connection>* const connections_;
  const std::string key_;
  Progress* const progress_;
  std::vector<std::unique_ptr<Stream>>* const streams_;
  absl::Mutex mu_;
  absl::BitGen rng_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Due> due_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// Ends the process on a failure while streams are open (their calls and
// queue threads cannot be torn down in order then).
[[noreturn]] void Abandon() {
  std::fflush(stdout);
  std::_Exit(1);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

int Run() {
  const int n = absl::GetFlag(FLAGS_streams);
  const int k = absl::GetFlag(FLAGS_changes);
  const int nchannels = std::max(1, absl::GetFlag(FLAGS_channels));
  const absl::Duration timeout = absl::Seconds(absl::GetFlag(FLAGS_timeout));
  const std::string admin = ReadKey(absl::GetFlag(FLAGS_admin_key_file));
  const std::string verifier = ReadKey(absl::GetFlag(FLAGS_verifier_key_file));

  std::vector<std::unique_ptr<v1::TokenService::Stub>> stubs;
  for (int i = 0; i < nchannels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("bench.fanout.channel", i);
    args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 64 << 20);
    // As the verifier's channel (verifier/verifier_server.cc).
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    stubs.push_back(v1::TokenService::NewStub(
        grpc::CreateCustomChannel(absl::GetFlag(FLAGS_target),
                                  grpc::InsecureChannelCredentials(), args)));
  }
  // The watch streams' side of each connection (the stub's channel, and a
  // completion queue with its thread).
  std::vector<Connection> connections(stubs.size());
  for (size_t i = 0; i < stubs.size(); ++i) {
    connections[i].stub = stubs[i].get();
  }
  auto admin_context = [&] {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("authorization", "Bearer " + admin);
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(30));
    return context;
  };

  // The tokens to delete.
  std::vector<std::string> ids;
  for (int i = 0; i < k; ++i) {
    v1::CreateTokenRequest request;
    request.set_deployment_id("bench-fanout");
    request.set_name(absl::StrCat("fanout ", i));
    v1::CreateTokenResponse response;
    grpc::Status status =
        stubs[0]->CreateToken(admin_context().get(), request, &response);
    if (!status.ok()) {
      std::fprintf(stderr, "CreateToken: %s\n", status.error_message().c_str());
      return 1;
    }
    ids.push_back(response.token().id());
  }
  // The current revision, from a snapshot.
  int64_t revision = -1;
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + verifier);
    v1::WatchTokensRequest request;
    auto reader = stubs[0]->WatchTokens(&context, request);
    v1::WatchTokensResponse message;
    while (reader->Read(&message)) {
      if (message.snapshot_complete()) {
        revision = message.revision();
        break;
      }
    }
    context.TryCancel();
    reader->Finish();
  }
  if (revision < 0) {
    std::fprintf(stderr, "no snapshot\n");
    return 1;
  }

  const int pid = absl::GetFlag(FLAGS_service_pid);
  const int64_t rss_before = pid > 0 ? RssKb(pid) : -1;
  const std::string restart = absl::GetFlag(FLAGS_restart_command);
  Progress progress;
  progress.Arm(revision, n);
  const absl::Time connect_start = absl::Now();
  std::vector<std::unique_ptr<Stream>> streams;
  streams.reserve(n);
  std::unique_ptr<StormReconnector> reconnector;
  if (!restart.empty()) {
    reconnector = std::make_unique<StormReconnector>(&connections, verifier,
                                                     &progress, &streams);
  }
  const int nqueues = std::clamp(absl::GetFlag(FLAGS_queues), 1, nchannels);
  std::vector<std::unique_ptr<Queue>> queues;
  for (int i = 0; i < nqueues; ++i) {
    queues.push_back(std::make_unique<Queue>());
    Queue* queue = queues.back().get();
    queue->thread = std::thread([queue] { queue->Drive(); });
  }
  for (int i = 0; i < nchannels; ++i) {
    connections[i].cq = &queues[i % nqueues]->cq;
  }
  for (int i = 0; i < n; ++i) {
    Connection& connection = connections[i % nchannels];
    streams.push_back(std::make_unique<Stream>(connection.stub, connection.cq,
                                               verifier, revision, &progress, i,
                                               0, reconnector.get()));
  }
  Clock::time_point at;
  if (!progress.Wait(timeout, &at)) {
    std::fprintf(stderr, "only %d of %d streams connected\n",
                 progress.reached.load(), n);
    Abandon();
  }
  const double connect_s = absl::ToDoubleSeconds(absl::Now() - connect_start);
  // Idle streams: let the allocator settle before reading RSS.
  absl::SleepFor(absl::Milliseconds(500));
  const int64_t rss_after = pid > 0 ? RssKb(pid) : -1;
  const std::string metrics = absl::GetFlag(FLAGS_metrics);
  const std::string before = Metrics(metrics);
  const double service_cpu_before = pid > 0 ? ProcessCpuSeconds(pid) : -1;
  const double client_cpu_before = OwnCpuSeconds();

  std::vector<double> latencies_ms;
  for (int i = 0; i < k; ++i) {
    ++revision;
    progress.Arm(revision, n);
    v1::DeleteTokenRequest request;
    request.set_id(ids[i]);
    google::protobuf::Empty empty;
    grpc::Status status = stubs[i % nchannels]->DeleteToken(
        admin_context().get(), request, &empty);
    const Clock::time_point returned = Clock::now();
    if (!status.ok()) {
      std::fprintf(stderr, "DeleteToken: %s\n", status.error_message().c_str());
      Abandon();
    }
    if (!progress.Wait(timeout, &at)) {
      std::fprintf(stderr, "change %d reached only %d of %d streams\n", i,
                   progress.reached.load(), n);
      Abandon();
    }
    latencies_ms.push_back(std::max(
        0.0, std::chrono::duration<double, std::milli>(at - returned).count()));
  }
  const double service_cpu_after = pid > 0 ? ProcessCpuSeconds(pid) : -1;
  const double client_cpu_ms_per_change =
      (OwnCpuSeconds() - client_cpu_before) * 1e3 / k;
  const double service_cpu_ms_per_change =
      service_cpu_before >= 0 && service_cpu_after >= 0
          ? (service_cpu_after - service_cpu_before) * 1e3 / k
          : -1;
  const std::string after = Metrics(metrics);
  const auto reads = [](const std::string& page) {
    return Sample(page,
                  "token_service_feed_store_reads_total{reader=\"tail\"}") +
           Sample(page,
                  "token_service_feed_store_reads_total{reader=\"catch_up\"}");
  };
  const double reads_per_change =
      before.empty() || after.empty()
          ? -1
          : static_cast<double>(reads(after) - reads(before)) / k;

  std::string storm;
  if (!restart.empty()) {
    // Every stream must come back on the new process, at the revision it had.
    progress.min_generation.store(1);
    progress.Arm(revision, n);
    if (std::system(restart.c_str()) != 0) {
      std::fprintf(stderr, "restart command failed\n");
      Abandon();
    }
    const Clock::time_point restarted = Clock::now();
    if (!progress.Wait(timeout, &at)) {
      std::fprintf(stderr, "after the restart only %d of %d streams are back\n",
                   progress.reached.load(), n);
      Abandon();
    }
    const std::string page = Metrics(metrics);
    storm = absl::StrCat(
        "STORM streams=", n,
        " recovered_s=", std::chrono::duration<double>(at - restarted).count(),
        " snapshots=", Sample(page, "token_service_snapshots_sent_total"),
        " catch_up_reads=",
        Sample(page,
               "token_service_feed_store_reads_total{reader=\"catch_up\"}"),
        "\n");
  }

  for (auto& stream : streams) stream->Cancel();
  for (auto& stream : streams) stream->WaitDone();
  // Nothing is outstanding on the queues any more: drain and join them before
  // any stream (the reconnector's included) goes.
  for (auto& queue : queues) queue->cq.Shutdown();
  for (auto& queue : queues) queue->thread.join();
  reconnector.reset();
  std::printf(
      "RESULT streams=%d channels=%d changes=%d p50_ms=%.2f p99_ms=%.2f "
      "max_ms=%.2f connect_s=%.2f rss_per_stream_kb=%.1f "
      "store_reads_per_change=%.3f snapshots_built=%lld failed_streams=%d "
      "service_cpu_ms_per_change=%.2f client_cpu_ms_per_change=%.2f\n",
      n, nchannels, k, Percentile(latencies_ms, 0.5),
      Percentile(latencies_ms, 0.99),
      *std::max_element(latencies_ms.begin(), latencies_ms.end()), connect_s,
      rss_before > 0 && rss_after > 0
          ? static_cast<double>(rss_after - rss_before) / n
          : -1.0,
      reads_per_change,
      static_cast<long long>(
          Sample(after, "token_service_snapshots_built_total")),
      progress.failed.load(), service_cpu_ms_per_change,
      client_cpu_ms_per_change);
  std::printf("%s", storm.c_str());
  return progress.failed.load() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace tokens

int main(int argc, char** argv) {
  // As in the servers: no lock-graph bookkeeping on every Mutex operation.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::ParseCommandLine(argc, argv);
  return tokens::Run();
}
