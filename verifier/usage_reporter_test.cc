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
    return [this](const std::vector<UsageEntry>& batch) {
      batches.push_back(batch);
      return fail ? absl::UnavailableError("down") : absl::OkStatus();
    };
  }
  bool fail = false;
  std::vector<std::vector<UsageEntry>> batches;
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

 private:
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  absl::Mutex mu_;
  grpc::StatusCode code_ ABSL_GUARDED_BY(mu_);
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> token_ids_ ABSL_GUARDED_BY(mu_);
};

TEST(GrpcUsageSenderTest, TriesTheFeedsReplicaFirstThenTheOthers) {
  FakeUsageReplica a(grpc::StatusCode::OK);
  FakeUsageReplica b(grpc::StatusCode::UNAVAILABLE);
  FakeUsageReplica c(grpc::StatusCode::OK);
  auto targets =
      TokenServiceTargets::Connect({a.address(), b.address(), c.address()},
                                   grpc::InsecureChannelCredentials());
  UsageSender send = MakeGrpcUsageSender(targets.get(), "verifier-key");
  const std::vector<UsageEntry> batch = {{"tok_a", kT0}};

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
