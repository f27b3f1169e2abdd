#include "services/cluster_sync.h"

#include <openssl/rand.h>
#include <unistd.h>

#include <cstdio>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/json_log.h"
#include "common/status_macros.h"

namespace tokens {
namespace {

constexpr char kPageTokenKey[] = "page_token_key";

absl::StatusOr<std::string> RandomBytes(int n) {
  std::string bytes(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), n) != 1) {
    return absl::InternalError("CSPRNG unavailable");
  }
  return bytes;
}

}  // namespace

ClusterSync::ClusterSync(ClusterState* cluster, CallerRegistry* callers,
                         PageTokenCodec* pages,
                         std::function<void(bool)> set_serving,
                         const Clock* clock, ClusterSyncOptions options)
    : cluster_(cluster),
      callers_(callers),
      pages_(pages),
      set_serving_(std::move(set_serving)),
      clock_(clock),
      options_(std::move(options)) {}

ClusterSync::~ClusterSync() { Stop(); }

absl::Status ClusterSync::Bootstrap() {
  ASSIGN_OR_RETURN(std::string candidate, RandomBytes(32));
  ASSIGN_OR_RETURN(std::string page_key,
                   cluster_->GetOrCreateSecret(kPageTokenKey, candidate));
  pages_->SetKey(std::move(page_key));

  struct NewCaller {
    const char* name;
    const char* file;
    std::string key;
  };
  std::vector<NewCaller> created = {
      {"admin", CallerRegistry::kAdminKeyFile, ""},
      {"verifier", CallerRegistry::kVerifierKeyFile, ""}};
  std::vector<CallerRecord> records;
  for (NewCaller& caller : created) {
    ASSIGN_OR_RETURN(caller.key, CallerRegistry::GenerateKey());
    RETURN_IF_ERROR(WritePrivateFile(
        absl::StrCat(options_.data_dir, "/.", caller.file, ".pending"),
        caller.key + "\n"));
    records.push_back(
        {caller.name, caller.name, CallerRegistry::KeyDigestHex(caller.key)});
  }
  absl::StatusOr<bool> inserted = cluster_->InitializeCallers(records);
  for (const NewCaller& caller : created) {
    const std::string pending =
        absl::StrCat(options_.data_dir, "/.", caller.file, ".pending");
    const std::string final_path =
        absl::StrCat(options_.data_dir, "/", caller.file);
    if (inserted.ok() && *inserted) {
      if (std::rename(pending.c_str(), final_path.c_str()) != 0) {
        return absl::InternalError(absl::StrCat("cannot write ", final_path));
      }
    } else {
      unlink(pending.c_str());
    }
  }
  if (!inserted.ok()) return inserted.status();
  if (*inserted) {
    JsonLog("callers.created")
        .Str("admin_key_file", absl::StrCat(options_.data_dir, "/",
                                            CallerRegistry::kAdminKeyFile))
        .Str("verifier_key_file",
             absl::StrCat(options_.data_dir, "/",
                          CallerRegistry::kVerifierKeyFile));
  }
  return absl::OkStatus();
}

absl::Status ClusterSync::SyncOnce() {
  absl::MutexLock lock(&sync_mu_);
  absl::Status status;
  if (!bootstrapped_) {
    status = Bootstrap();
    bootstrapped_ = status.ok();
  }
  if (status.ok()) {
    absl::StatusOr<std::vector<CallerRecord>> callers = cluster_->ListCallers();
    status = callers.ok() ? callers_->Replace(*callers) : callers.status();
  }
  const int reachable = status.ok() ? 1 : 0;
  if (reachable != reachable_) {
    if (reachable == 1) {
      JsonLog("database.reachable");
    } else {
      JsonLog("database.unreachable", "warning")
          .Str("error", std::string(status.message()))
          .Int("retry_ms", absl::ToInt64Milliseconds(options_.interval));
    }
    reachable_ = reachable;
  }
  set_serving_(status.ok());
  return status;
}

void ClusterSync::Start() {
  thread_ = std::thread([this] { Run(); });
}

void ClusterSync::Run() {
  while (true) {
    SyncOnce().IgnoreError();
    absl::MutexLock lock(&mu_);
    if (clock_->AwaitWithTimeout(&mu_, absl::Condition(&stopping_),
                                 options_.interval)) {
      return;
    }
  }
}

void ClusterSync::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace tokens
