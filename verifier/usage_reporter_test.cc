#include "verifier/usage_reporter.h"

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"

namespace tokens {
namespace {

class FakeSender {
 public:
  UsageSender AsSender() {
    return [this](const UsageBatch& batch) {
      batches.push_back(batch.usages);
      calls.push_back(batch);
      return fail ? absl::UnavailableError("down") : absl::OkStatus();
    };
  }
  bool fail = false;
  // The usages of each call, and each whole call.
  std::vector<std::vector<UsageEntry>> batches;
  std::vector<UsageBatch> calls;
};

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

TEST(UsageReporterTest, SendsTheLatestTimePerToken) {
  FakeSender sender;
  Metrics metrics;
  UsageReporter reporter(sender.AsSender(), absl::Seconds(10), &metrics);
  reporter.Record("tok_a", kT0 + absl::Seconds(2));
  reporter.Record("tok_a", kT0);  // older: ignored
  reporter.Record("tok_b", kT0 + absl::Seconds(1));
  ASSERT_TRUE(reporter.Flush().ok());
  ASSERT_EQ(sender.batches.size(), 1u);
  ASSERT_EQ(sender.batches[0].size(), 2u);
  for (const UsageEntry& entry : sender.batches[0]) {
    EXPECT_EQ(entry.last_used_time, entry.token_id == "tok_a"
                                        ? kT0 + absl::Seconds(2)
                                        : kT0 + absl::Seconds(1));
  }
  // Nothing new: nothing sent.
  ASSERT_TRUE(reporter.Flush().ok());
  EXPECT_EQ(sender.batches.size(), 1u);
}

TEST(UsageReporterTest, FailedBatchIsRetriedAtTheNextFlush) {
  FakeSender sender;
  Metrics metrics;
  UsageReporter reporter(sender.AsSender(), absl::Seconds(10), &metrics);
  reporter.Record("tok_a", kT0);
  sender.fail = true;
  EXPECT_EQ(reporter.Flush().code(), absl::StatusCode::kUnavailable);
  reporter.Record("tok_a", kT0 + absl::Seconds(5));
  sender.fail = false;
  ASSERT_TRUE(reporter.Flush().ok());
  ASSERT_EQ(sender.batches.size(), 2u);
  ASSERT_EQ(sender.batches[1].size(), 1u);
  EXPECT_EQ(sender.batches[1][0].last_used_time, kT0 + absl::Seconds(5));
}

TEST(UsageReporterTest, SplitsLargeBatches) {
  FakeSender sender;
  UsageReporter reporter(sender.AsSender(), absl::Seconds(10), nullptr);
  for (size_t i = 0; i < UsageReporter::kMaxBatch + 1; ++i) {
    reporter.Record("tok_" + std::to_string(i), kT0);
  }
  ASSERT_TRUE(reporter.Flush().ok());
  ASSERT_EQ(sender.batches.size(), 2u);
  EXPECT_EQ(sender.batches[0].size(), UsageReporter::kMaxBatch);
  EXPECT_EQ(sender.batches[1].size(), 1u);
}

TEST(UsageReporterTest, StopSendsWhatIsPending) {
  FakeSender sender;
  UsageReporter reporter(sender.AsSender(), absl::Hours(1), nullptr);
  reporter.Start();
  reporter.Record("tok_a", kT0);
  reporter.Stop();
  ASSERT_EQ(sender.batches.size(), 1u);
  EXPECT_EQ(sender.batches[0][0].token_id, "tok_a");
}

// Records land in shards by token id; a flush gathers every shard, and
// concurrent recorders lose nothing.
TEST(UsageReporterTest, ConcurrentRecordsAreAllSentWithTheirLatestTime) {
  FakeSender sender;
  UsageReporter reporter(sender.AsSender(), absl::Seconds(10), nullptr);
  constexpr int kThreads = 4;
  constexpr int kTokens = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&reporter, t] {
      for (int i = 0; i < kTokens; ++i) {
        reporter.Record("tok_" + std::to_string(i), kT0 + absl::Seconds(t));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_TRUE(reporter.Flush().ok());
  std::map<std::string, absl::Time> sent;
  for (const auto& batch : sender.batches) {
    for (const UsageEntry& entry : batch) {
      EXPECT_TRUE(sent.emplace(entry.token_id, entry.last_used_time).second)
          << "sent twice: " << entry.token_id;
    }
  }
  ASSERT_EQ(sent.size(), static_cast<size_t>(kTokens));
  for (const auto& [token_id, when] : sent) {
    EXPECT_EQ(when, kT0 + absl::Seconds(kThreads - 1)) << token_id;
  }
}

TEST(UsageReporterTest, UsesCarryTheClientOfTheLatestUse) {
  FakeSender sender;
  UsageReporter reporter(sender.AsSender(), absl::Seconds(10), nullptr);
  reporter.Record("tok_a", kT0 + absl::Seconds(1), "203.0.113.1");
  reporter.Record("tok_a", kT0, "203.0.113.2");  // older: ignored
  reporter.Record("tok_a", kT0 + absl::Seconds(2), "203.0.113.3");
  ASSERT_TRUE(reporter.Flush().ok());
  ASSERT_EQ(sender.batches.size(), 1u);
  ASSERT_EQ(sender.batches[0].size(), 1u);
  EXPECT_EQ(sender.batches[0][0].client_address, "203.0.113.3");
  EXPECT_EQ(sender.batches[0][0].last_used_time, kT0 + absl::Seconds(2));
}

TEST(UsageReporterTest, ReuseSightingsAreCountedPerTokenAndClient) {
  FakeSender sender;
  UsageReporter reporter(sender.AsSender(), absl::Seconds(10), nullptr,
                         "verifier-7");
  reporter.RecordReuse("tok_a", kT0, "203.0.113.1");
  reporter.RecordReuse("tok_a", kT0 + absl::Seconds(3), "203.0.113.1");
  reporter.RecordReuse("tok_a", kT0 + absl::Seconds(1), "203.0.113.1");
  reporter.RecordReuse("tok_a", kT0, "203.0.113.2");
  reporter.RecordReuse("tok_b", kT0, "");
  ASSERT_TRUE(reporter.Flush().ok());
  ASSERT_EQ(sender.calls.size(), 1u);
  const UsageBatch& call = sender.calls[0];
  EXPECT_EQ(call.verifier_name, "verifier-7");
  EXPECT_TRUE(call.usages.empty());
  std::map<std::pair<std::string, std::string>, ReuseEntry> got;
  for (const ReuseEntry& s : call.sightings) {
    got[{s.token_id, s.client_address}] = s;
  }
  ASSERT_EQ(got.size(), 3u);
  const ReuseEntry& a1 = got[{"tok_a", "203.0.113.1"}];
  EXPECT_EQ(a1.count, 3);
  EXPECT_EQ(a1.time, kT0 + absl::Seconds(3));
  EXPECT_EQ((got[{"tok_a", "203.0.113.2"}].count), 1);
  EXPECT_EQ((got[{"tok_b", ""}].count), 1);
  // Reported once.
  ASSERT_TRUE(reporter.Flush().ok());
  EXPECT_EQ(sender.calls.size(), 1u);
}

TEST(UsageReporterTest, FailedSightingsAreRetriedWithTheirCountsAdded) {
  FakeSender sender;
  Metrics metrics;
  UsageReporter reporter(sender.AsSender(), absl::Seconds(10), &metrics, "v");
  reporter.Record("tok_live", kT0);
  reporter.RecordReuse("tok_a", kT0, "203.0.113.1");
  reporter.RecordReuse("tok_a", kT0, "203.0.113.1");
  sender.fail = true;
  EXPECT_FALSE(reporter.Flush().ok());
  reporter.RecordReuse("tok_a", kT0 + absl::Seconds(5), "203.0.113.1");
  sender.fail = false;
  ASSERT_TRUE(reporter.Flush().ok());
  ASSERT_EQ(sender.calls.size(), 2u);
  const UsageBatch& retry = sender.calls[1];
  ASSERT_EQ(retry.sightings.size(), 1u);
  EXPECT_EQ(retry.sightings[0].count, 3);
  EXPECT_EQ(retry.sightings[0].time, kT0 + absl::Seconds(5));
  ASSERT_EQ(retry.usages.size(), 1u) << "and the usage with them";
  EXPECT_EQ(retry.usages[0].token_id, "tok_live");
}

TEST(UsageReporterTest, PendingSightingsAreBoundedAndTheRestCounted) {
  FakeSender sender;
  Metrics metrics;
  UsageReporter reporter(sender.AsSender(), absl::Seconds(10), &metrics);
  for (size_t i = 0; i < UsageReporter::kMaxPendingSightings + 5; ++i) {
    reporter.RecordReuse("tok_a", kT0, "client-" + std::to_string(i));
  }
  // A pair already pending still counts.
  reporter.RecordReuse("tok_a", kT0, "client-0");
  EXPECT_EQ(metrics.reuse_sightings_dropped(), 5u);
  ASSERT_TRUE(reporter.Flush().ok());
  ASSERT_EQ(sender.calls.size(), 1u);
  EXPECT_EQ(sender.calls[0].sightings.size(),
            UsageReporter::kMaxPendingSightings);
}

// Record and RecordReuse from many threads while the reporter's own thread
// flushes: nothing is lost, nothing is counted twice.
TEST(UsageReporterTest, ConcurrentSightingsWhileFlushingAreAllCounted) {
  absl::Mutex mu;
  int64_t counted = 0;
  UsageReporter reporter(
      [&](const UsageBatch& batch) {
        absl::MutexLock lock(&mu);
        for (const ReuseEntry& s : batch.sightings) counted += s.count;
        return absl::OkStatus();
      },
      absl::Milliseconds(1), nullptr);
  reporter.Start();
  constexpr int kThreads = 4;
  constexpr int kEach = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&reporter, t] {
      for (int i = 0; i < kEach; ++i) {
        reporter.RecordReuse("tok_" + std::to_string(i % 7), kT0,
                             "10.0.0." + std::to_string(t));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  reporter.Stop();  // a last flush
  absl::MutexLock lock(&mu);
  EXPECT_EQ(counted, int64_t{kThreads} * kEach);
}

// A TokenService replica that only answers ReportUsage, with `code`, and
// counts the calls and the token ids it was sent.
class FakeUsageReplica final : public v1::TokenService::Service {
 public:
  explicit FakeUsageReplica(grpc::StatusCode code) : code_(code) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
    address_ = absl::StrCat("127.0.0.1:", port);
  }
  ~FakeUsageReplica() override {
    server_->Shutdown(std::chrono::system_clock::now());
  }

  grpc::Status ReportUsage(grpc::ServerContext* context,
                           const v1::ReportUsageRequest* request,
                           google::protobuf::Empty*) override {
    absl::MutexLock lock(&mu_);
    ++calls_;
    for (const v1::TokenUsage& usage : request->usages()) {
      token_ids_.push_back(usage.token_id());
    }
    last_request_ = *request;
    if (code_ == grpc::StatusCode::OK) return grpc::Status::OK;
    return grpc::Status(code_, "refused");
  }

  const std::string& address() const { return address_; }
  void set_code(grpc::StatusCode code) {
    absl::MutexLock lock(&mu_);
    code_ = code;
  }
  int calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::vector<std::string> token_ids() {
    absl::MutexLock lock(&mu_);
    return token_ids_;
  }
  v1::ReportUsageRequest last_request() {
    absl::MutexLock lock(&mu_);
    return last_request_;
  }

 private:
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  absl::Mutex mu_;
  grpc::StatusCode code_ ABSL_GUARDED_BY(mu_);
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> token_ids_ ABSL_GUARDED_BY(mu_);
  v1::ReportUsageRequest last_request_ ABSL_GUARDED_BY(mu_);
};

TEST(GrpcUsageSenderTest, TriesTheFeedsReplicaFirstThenTheOthers) {
  FakeUsageReplica a(grpc::StatusCode::OK);
  FakeUsageReplica b(grpc::StatusCode::UNAVAILABLE);
  FakeUsageReplica c(grpc::StatusCode::OK);
  auto targets =
      TokenServiceTargets::Connect({a.address(), b.address(), c.address()},
                                   grpc::InsecureChannelCredentials());
  UsageSender send = MakeGrpcUsageSender(targets.get(), "verifier-key");
  UsageBatch batch;
  batch.usages = {{"tok_a", kT0, ""}};

  ASSERT_TRUE(send(batch).ok());
  EXPECT_EQ(a.calls(), 1) << "the current one";
  EXPECT_EQ(b.calls() + c.calls(), 0);

  // The feed moved to b, which refuses: c takes it, a is not asked.
  targets->MoveTo(1);
  ASSERT_TRUE(send(batch).ok());
  EXPECT_EQ(b.calls(), 1);
  EXPECT_EQ(c.calls(), 1);
  EXPECT_EQ(a.calls(), 1);
  EXPECT_EQ(c.token_ids(), std::vector<std::string>{"tok_a"});
}

TEST(GrpcUsageSenderTest, SendsTheNameClientsAndReuseSightings) {
  FakeUsageReplica a(grpc::StatusCode::OK);
  auto targets = TokenServiceTargets::Connect(
      {a.address()}, grpc::InsecureChannelCredentials());
  Metrics metrics;
  UsageReporter reporter(MakeGrpcUsageSender(targets.get(), "verifier-key"),
                         absl::Hours(1), &metrics, "sidecar-3");
  reporter.Record("tok_a", kT0, "203.0.113.9");
  reporter.RecordReuse("tok_b", kT0 + absl::Seconds(1), "2001:db8::7");
  reporter.RecordReuse("tok_b", kT0 + absl::Seconds(2), "2001:db8::7");
  // An address TokenService would refuse goes as unknown, not as a refused
  // report.
  reporter.RecordReuse("tok_c", kT0, "unix:/run/app socket");
  ASSERT_TRUE(reporter.Flush().ok());
  const v1::ReportUsageRequest request = a.last_request();
  EXPECT_EQ(request.verifier_name(), "sidecar-3");
  ASSERT_EQ(request.usages_size(), 1);
  EXPECT_EQ(request.usages(0).client_address(), "203.0.113.9");
  ASSERT_EQ(request.reuse_sightings_size(), 2);
  for (const v1::ReuseSighting& s : request.reuse_sightings()) {
    if (s.token_id() == "tok_b") {
      EXPECT_EQ(s.client_address(), "2001:db8::7");
      EXPECT_EQ(s.count(), 2);
      EXPECT_EQ(s.time().seconds(), absl::ToUnixSeconds(kT0) + 2);
    } else {
      EXPECT_EQ(s.token_id(), "tok_c");
      EXPECT_EQ(s.client_address(), "");
      EXPECT_EQ(s.count(), 1);
    }
  }
}

TEST(GrpcUsageSenderTest, AllReplicasDownKeepsTheUsageForTheNextReport) {
  FakeUsageReplica a(grpc::StatusCode::UNAVAILABLE);
  FakeUsageReplica b(grpc::StatusCode::UNAVAILABLE);
  auto targets = TokenServiceTargets::Connect(
      {a.address(), b.address()}, grpc::InsecureChannelCredentials());
  Metrics metrics;
  UsageReporter reporter(MakeGrpcUsageSender(targets.get(), "verifier-key"),
                         absl::Hours(1), &metrics);
  reporter.Record("tok_a", kT0);
  EXPECT_EQ(reporter.Flush().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(a.calls(), 1);
  EXPECT_EQ(b.calls(), 1);

  b.set_code(grpc::StatusCode::OK);
  ASSERT_TRUE(reporter.Flush().ok());
  EXPECT_EQ(b.token_ids(), (std::vector<std::string>{"tok_a", "tok_a"}))
      << "refused once, then kept and sent again";
}

}  // namespace
}  // namespace tokens
