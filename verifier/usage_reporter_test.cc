#include "verifier/usage_reporter.h"

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

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

}  // namespace
}  // namespace tokens
