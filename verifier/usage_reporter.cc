#include "verifier/usage_reporter.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "common/grpc_status.h"
#include "common/json_log.h"
#include "common/proto_time.h"
#include "common/validation.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"

namespace tokens {

namespace {

// TokenService refuses a whole report with a client address that breaks its
// rule; an address the verifier cannot report (a Unix socket path, say) is
// sent as unknown instead.
std::string Reportable(const std::string& client_address) {
  return ValidateUsageLabel("client_address", client_address,
                            kMaxClientAddressChars)
                 .ok()
             ? client_address
             : std::string();
}

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
  return
      [targets, key = std::move(key)](const UsageBatch& batch) -> absl::Status {
        v1::ReportUsageRequest request;
        request.set_verifier_name(batch.verifier_name);
        for (const UsageEntry& entry : batch.usages) {
          v1::TokenUsage* usage = request.add_usages();
          usage->set_token_id(entry.token_id);
          TimeToProto(entry.last_used_time, usage->mutable_last_used_time());
          usage->set_client_address(Reportable(entry.client_address));
        }
        for (const ReuseEntry& entry : batch.sightings) {
          v1::ReuseSighting* sighting = request.add_reuse_sightings();
          sighting->set_token_id(entry.token_id);
          TimeToProto(entry.time, sighting->mutable_time());
          sighting->set_client_address(Reportable(entry.client_address));
          sighting->set_count(entry.count);
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
                             Metrics* metrics, std::string verifier_name)
    : sender_(std::move(sender)),
      interval_(interval),
      metrics_(metrics),
      verifier_name_(std::move(verifier_name)) {}

UsageReporter::~UsageReporter() { Stop(); }

UsageReporter::Shard& UsageReporter::ShardOf(const std::string& token_id) {
  const size_t hash = absl::Hash<absl::string_view>{}(
      absl::string_view(token_id.data(), token_id.size()));
  return shards_[hash % kShards];
}

void UsageReporter::Record(const std::string& token_id, absl::Time when,
                           std::string_view client_address) {
  Shard& shard = ShardOf(token_id);
  absl::MutexLock lock(&shard.mu);
  auto [it, inserted] = shard.pending.try_emplace(token_id);
  if (inserted || it->second.when < when) {
    it->second.when = when;
    it->second.client_address.assign(client_address.data(),
                                     client_address.size());
  }
}

void UsageReporter::RecordReuse(const std::string& token_id, absl::Time when,
                                std::string_view client_address) {
  AddReuse(token_id, client_address, when, 1);
}

void UsageReporter::AddReuse(const std::string& token_id,
                             std::string_view client_address, absl::Time latest,
                             int32_t count) {
  absl::MutexLock lock(&reuse_mu_);
  auto key = std::make_pair(token_id, std::string(client_address));
  auto it = reuse_.find(key);
  if (it == reuse_.end()) {
    if (reuse_.size() >= kMaxPendingSightings) {
      if (metrics_ != nullptr) metrics_->RecordReuseSightingsDropped(count);
      return;
    }
    it = reuse_.emplace(std::move(key), Reuse{latest, 0}).first;
  }
  Reuse& reuse = it->second;
  reuse.latest = std::max(reuse.latest, latest);
  reuse.count = static_cast<int32_t>(std::min<int64_t>(
      int64_t{reuse.count} + count, std::numeric_limits<int32_t>::max()));
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
  PendingReuse reuse;
  {
    absl::MutexLock lock(&reuse_mu_);
    reuse.swap(reuse_);
  }
  if (empty && reuse.empty()) return absl::OkStatus();

  // Sightings are at most kMaxPendingSightings = kMaxBatch: they all go with
  // the first call.
  std::vector<ReuseEntry> sightings;
  sightings.reserve(reuse.size());
  for (const auto& [key, entry] : reuse) {
    sightings.push_back(
        ReuseEntry{key.first, key.second, entry.latest, entry.count});
  }

  absl::Status first_error;
  UsageBatch chunk;
  chunk.verifier_name = verifier_name_;
  chunk.sightings = std::move(sightings);
  std::vector<UsageEntry> failed;
  std::vector<ReuseEntry> failed_sightings;
  auto send = [&] {
    absl::Status status = sender_(chunk);
    if (metrics_ != nullptr) metrics_->RecordUsageReport(status.ok());
    if (!status.ok()) {
      if (first_error.ok()) first_error = status;
      failed.insert(failed.end(), chunk.usages.begin(), chunk.usages.end());
      failed_sightings.insert(failed_sightings.end(), chunk.sightings.begin(),
                              chunk.sightings.end());
    }
    chunk.usages.clear();
    chunk.sightings.clear();
  };
  for (const Pending& batch : batches) {
    for (const auto& [token_id, use] : batch) {
      chunk.usages.push_back(
          UsageEntry{token_id, use.when, use.client_address});
      if (chunk.usages.size() == kMaxBatch) send();
    }
  }
  if (!chunk.usages.empty() || !chunk.sightings.empty()) send();

  if (!failed.empty() || !failed_sightings.empty()) {
    JsonLog("usage.report_failed", "warn")
        .Int("entries", static_cast<int64_t>(failed.size()))
        .Int("reuse_sightings", static_cast<int64_t>(failed_sightings.size()))
        .Str("error", first_error.ToString());
    for (const UsageEntry& entry : failed) {
      Record(entry.token_id, entry.last_used_time, entry.client_address);
    }
    for (const ReuseEntry& entry : failed_sightings) {
      AddReuse(entry.token_id, entry.client_address, entry.time, entry.count);
    }
  }
  return first_error;
}

}  // namespace tokens
