#include "verifier/usage_reporter.h"

#include <grpcpp/grpcpp.h>

#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "common/grpc_status.h"
#include "common/json_log.h"
#include "common/proto_time.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"

namespace tokens {

namespace {

absl::Status ReportTo(v1::TokenService::Stub* stub, const std::string& key,
                      const v1::ReportUsageRequest& request) {
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + key);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  google::protobuf::Empty response;
  return FromGrpcStatus(stub->ReportUsage(&context, request, &response));
}

}  // namespace

UsageSender MakeGrpcUsageSender(const TokenServiceTargets* targets,
                                std::string key) {
  return [targets, key = std::move(key)](
             const std::vector<UsageEntry>& batch) -> absl::Status {
    v1::ReportUsageRequest request;
    for (const UsageEntry& entry : batch) {
      v1::TokenUsage* usage = request.add_usages();
      usage->set_token_id(entry.token_id);
      TimeToProto(entry.last_used_time, usage->mutable_last_used_time());
    }
    const size_t first = targets->current();
    absl::Status status;
    for (size_t i = 0; i < targets->size(); ++i) {
      const size_t target = (first + i) % targets->size();
      status = ReportTo(targets->stub(target), key, request);
      if (status.ok()) return status;
      // With one address, usage.report_failed says it all.
      if (targets->size() > 1) {
        JsonLog("usage.replica_failed", "warn")
            .Str("target", targets->address(target))
            .Str("error", status.ToString());
      }
    }
    return status;
  };
}

UsageReporter::UsageReporter(UsageSender sender, absl::Duration interval,
                             Metrics* metrics)
    : sender_(std::move(sender)), interval_(interval), metrics_(metrics) {}

UsageReporter::~UsageReporter() { Stop(); }

UsageReporter::Shard& UsageReporter::ShardOf(const std::string& token_id) {
  const size_t hash = absl::Hash<absl::string_view>{}(
      absl::string_view(token_id.data(), token_id.size()));
  return shards_[hash % kShards];
}

void UsageReporter::Record(const std::string& token_id, absl::Time when) {
  Shard& shard = ShardOf(token_id);
  absl::MutexLock lock(&shard.mu);
  auto [it, inserted] = shard.pending.try_emplace(token_id, when);
  if (!inserted && it->second < when) it->second = when;
}

void UsageReporter::Start() {
  thread_ = std::thread([this] { Run(); });
}

void UsageReporter::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void UsageReporter::Run() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      const bool stopping =
          mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval_);
      if (stopping) break;
    }
    Flush().IgnoreError();
  }
  // One last attempt so that uses seen just before shutdown are not lost.
  Flush().IgnoreError();
}

absl::Status UsageReporter::Flush() {
  absl::MutexLock flush_lock(&flush_mu_);
  std::array<Pending, kShards> batches;
  bool empty = true;
  for (size_t i = 0; i < kShards; ++i) {
    absl::MutexLock lock(&shards_[i].mu);
    batches[i].swap(shards_[i].pending);
    empty = empty && batches[i].empty();
  }
  if (empty) return absl::OkStatus();

  absl::Status first_error;
  std::vector<UsageEntry> chunk;
  std::vector<UsageEntry> failed;
  auto send = [&] {
    absl::Status status = sender_(chunk);
    if (metrics_ != nullptr) metrics_->RecordUsageReport(status.ok());
    if (!status.ok()) {
      if (first_error.ok()) first_error = status;
      failed.insert(failed.end(), chunk.begin(), chunk.end());
    }
    chunk.clear();
  };
  for (const Pending& batch : batches) {
    for (const auto& [token_id, when] : batch) {
      chunk.push_back(UsageEntry{token_id, when});
      if (chunk.size() == kMaxBatch) send();
    }
  }
  if (!chunk.empty()) send();

  if (!failed.empty()) {
    JsonLog("usage.report_failed", "warn")
        .Int("entries", static_cast<int64_t>(failed.size()))
        .Str("error", first_error.ToString());
    for (const UsageEntry& entry : failed) {
      Record(entry.token_id, entry.last_used_time);
    }
  }
  return first_error;
}

}  // namespace tokens
