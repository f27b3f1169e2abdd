// Crash consistency: a mixed create / rotate / delete load against the real
// token_service binary, which is killed with SIGKILL at random moments and
// restarted on the same data directory. After every restart:
//   * every acknowledged create (or rotation) verifies: its digest is in a
//     WatchTokens snapshot, and a real verifier that stayed up across the
//     crash answers ALLOWED for the value;
//   * every value acknowledged as deleted or rotated away is in no snapshot
//     and the verifier answers REVOKED_TOKEN for it (it remembers revoked
//     values);
//   * `PRAGMA integrity_check` of the crashed database file is "ok";
//   * the revision never goes backwards and grows by at least the number of
//     acknowledged changes.
// Calls that were in flight at the kill have an unknown outcome; the test
// learns it from the snapshot after the restart and holds it from then on.
//
// Trials: RELIABILITY_TRIALS (default 4, `make reliability` runs 25). Prints
// one `reliability summary:` line with the counts.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/token_value.h"
#include "gtest/gtest.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "tests/testing/server_process.h"
#include "tests/testing/sqlite_integrity.h"

namespace tokens::testing {
namespace {

constexpr int kWorkers = 2;

int TrialsFromEnv() {
  const char* env = std::getenv("RELIABILITY_TRIALS");
  int trials = env != nullptr ? std::atoi(env) : 0;
  return trials > 0 ? trials : 4;
}

std::string DigestBytesOf(const std::string& value) {
  return DigestToBytes(DigestOf(value));
}

// A token one worker owns, with the value the service acknowledged last.
struct LiveToken {
  std::string id;
  std::string value;
  std::string deployment;
};

// An operation whose reply never came (the process died under it).
struct PendingOp {
  enum Kind { kCreate, kRotate, kDelete } kind;
  LiveToken token;  // kRotate / kDelete: the token before the call.
};

// What one worker knows. Only its own thread touches it while the load runs.
struct WorkerModel {
  std::vector<LiveToken> live;
  std::vector<PendingOp> pending;
  int acked_creates = 0;
  int acked_rotates = 0;
  int acked_deletes = 0;
  int acked_changes_this_trial = 0;
};

struct Counts {
  int trials = 0;
  int kills = 0;
  int acked_creates = 0;
  int acked_rotates = 0;
  int acked_deletes = 0;
  int uncertain = 0;
  int uncertain_applied = 0;
  int live_checked = 0;
  int dead_checked = 0;
  int lost = 0;
  int resurrected = 0;
  int integrity_failures = 0;
  int revision_regressions = 0;
};

class CrashConsistencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = NewTempDir("crash") + "/var";
    StartService("127.0.0.1:0");
    port_ = service_->address().substr(service_->address().rfind(':') + 1);
    admin_key_ = *ReadKeyFile(data_dir_ + "/admin.key");
    verifier_key_ = *ReadKeyFile(data_dir_ + "/verifier.key");
    auto verifier = ServerProcess::Start(
        RunfilePath("verifier/token_verifier"),
        {"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
         "--token-service", service_->address(), "--key-file",
         data_dir_ + "/verifier.key", "--max-staleness", "60s",
         // Checks revoked values by the thousand on purpose: no throttling.
         "--failed-check-burst", "0"},
        /*listen_lines=*/2);
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    verifier_ = *std::move(verifier);
    verifier_stub_ = v1::Verifier::NewStub(grpc::CreateChannel(
        verifier_->address(), grpc::InsecureChannelCredentials()));
  }

  void StartService(const std::string& listen) {
    auto service =
        ServerProcess::Start(RunfilePath("services/token_service"),
                             {"--listen", listen, "--data-dir", data_dir_});
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = *std::move(service);
    channel_ = grpc::CreateChannel(service_->address(),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::TokenService::NewStub(channel_);
  }

  std::unique_ptr<grpc::ClientContext> As(const std::string& key) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(10));
    ctx->AddMetadata("authorization", "Bearer " + key);
    return ctx;
  }

  // One random operation; updates the worker's model by its outcome.
  void RandomOp(v1::TokenService::Stub* stub, std::mt19937* rng,
                WorkerModel* model, int worker) {
    const int dice = std::uniform_int_distribution<int>(0, 9)(*rng);
    if (model->live.size() < 3 || dice < 5) {
      v1::CreateTokenRequest request;
      request.set_deployment_id(absl::StrCat("dep-", worker));
      request.set_name(absl::StrCat("t", model->acked_creates));
      v1::CreateTokenResponse response;
      grpc::Status status =
          stub->CreateToken(As(admin_key_).get(), request, &response);
      if (status.ok()) {
        model->live.push_back({response.token().id(), response.secret(),
                               request.deployment_id()});
        ++model->acked_creates;
        ++model->acked_changes_this_trial;
      } else {
        model->pending.push_back({PendingOp::kCreate, {}});
      }
      return;
    }
    const size_t index =
        std::uniform_int_distribution<size_t>(0, model->live.size() - 1)(*rng);
    LiveToken token = model->live[index];
    model->live.erase(model->live.begin() + index);
    if (dice < 8) {
      v1::RotateTokenRequest request;
      request.set_id(token.id);
      v1::RotateTokenResponse response;
      grpc::Status status =
          stub->RotateToken(As(admin_key_).get(), request, &response);
      if (status.ok()) {
        AddDead(token.value);
        model->live.push_back({token.id, response.secret(), token.deployment});
        ++model->acked_rotates;
        ++model->acked_changes_this_trial;
      } else {
        model->pending.push_back({PendingOp::kRotate, token});
      }
    } else {
      v1::DeleteTokenRequest request;
      request.set_id(token.id);
      google::protobuf::Empty response;
      grpc::Status status =
          stub->DeleteToken(As(admin_key_).get(), request, &response);
      if (status.ok()) {
        AddDead(token.value);
        ++model->acked_deletes;
        ++model->acked_changes_this_trial;
      } else {
        model->pending.push_back({PendingOp::kDelete, token});
      }
    }
  }

  // A full WatchTokens snapshot: digest bytes -> token id, and its revision.
  bool Snapshot(std::map<std::string, std::string>* digests,
                std::set<std::string>* ids, int64_t* revision) {
    auto ctx = As(verifier_key_);
    v1::WatchTokensRequest request;
    auto reader = stub_->WatchTokens(ctx.get(), request);
    v1::WatchTokensResponse message;
    bool complete = false;
    while (reader->Read(&message)) {
      for (const v1::TokenChange& c : message.changes()) {
        (*digests)[c.secret_digest()] = c.token_id();
        if (!c.previous_digest().empty()) {
          (*digests)[c.previous_digest()] = c.token_id();
        }
        ids->insert(c.token_id());
      }
      if (message.snapshot_complete()) {
        *revision = message.revision();
        complete = true;
        break;
      }
    }
    ctx->TryCancel();
    reader->Finish();
    return complete;
  }

  // Runs PRAGMA integrity_check on the database file as the crash left it.
  std::string IntegrityCheck() {
    return SqliteIntegrityCheck(data_dir_ + "/tokens.db", /*read_only=*/false);
  }

  void AddDead(const std::string& value) {
    std::lock_guard<std::mutex> lock(dead_mu_);
    dead_.push_back(value);
  }

  v1::Reason VerifierReason(const std::string& value,
                            const std::string& deployment) {
    v1::CheckRequest request;
    request.set_token(value);
    request.set_deployment_id(deployment);
    request.set_operation("deployment.get");
    v1::CheckResponse response;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(5));
    if (!verifier_stub_->Check(&ctx, request, &response).ok()) {
      return v1::REASON_UNSPECIFIED;
    }
    return response.reason();
  }

  std::string data_dir_;
  std::string port_;
  std::string admin_key_;
  std::string verifier_key_;
  std::unique_ptr<ServerProcess> service_;
  std::unique_ptr<ServerProcess> verifier_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TokenService::Stub> stub_;
  std::unique_ptr<v1::Verifier::Stub> verifier_stub_;
  // Values that must never verify again (acknowledged deleted or rotated
  // away, or found so after a crash).
  std::vector<std::string> dead_;
  std::mutex dead_mu_;
};

TEST_F(CrashConsistencyTest, AcknowledgedChangesSurviveKillNine) {
  const int trials = TrialsFromEnv();
  std::mt19937 rng(std::random_device{}());
  Counts counts;
  WorkerModel models[kWorkers];
  int64_t last_revision = 0;

  for (int trial = 0; trial < trials; ++trial) {
    ++counts.trials;
    // The load: each worker owns its tokens, so no two calls race on one.
    std::atomic<bool> running{true};
    std::atomic<int> acked{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < kWorkers; ++w) {
      models[w].acked_changes_this_trial = 0;
      workers.emplace_back([&, w] {
        std::mt19937 worker_rng(rng() + w);
        auto stub = v1::TokenService::NewStub(channel_);
        while (running.load()) {
          const int before = models[w].acked_changes_this_trial;
          RandomOp(stub.get(), &worker_rng, &models[w], w);
          if (models[w].acked_changes_this_trial > before) ++acked;
        }
      });
    }
    // Kill at a random point of the load, with calls in flight.
    const int kill_after = std::uniform_int_distribution<int>(3, 40)(rng);
    ASSERT_TRUE(
        WaitFor([&] { return acked.load() >= kill_after; }, absl::Seconds(60)));
    // Workers finish the call in flight (which the kill interrupts) and stop.
    running = false;
    service_->Stop(SIGKILL);
    ++counts.kills;
    for (auto& t : workers) t.join();

    const std::string integrity = IntegrityCheck();
    if (integrity != "ok") {
      ++counts.integrity_failures;
      ADD_FAILURE() << "integrity_check after kill " << trial << ": "
                    << integrity;
    }

    StartService(absl::StrCat("127.0.0.1:", port_));
    std::map<std::string, std::string> digests;
    std::set<std::string> ids;
    int64_t revision = -1;
    ASSERT_TRUE(Snapshot(&digests, &ids, &revision));

    int acked_changes = 0;
    std::vector<LiveToken> live_values;
    for (WorkerModel& model : models) {
      acked_changes += model.acked_changes_this_trial;
      // Learn the outcome of the calls the crash interrupted.
      for (const PendingOp& op : model.pending) {
        ++counts.uncertain;
        if (op.kind == PendingOp::kCreate) continue;  // Value never seen.
        const bool old_value_alive =
            digests.count(DigestBytesOf(op.token.value)) > 0;
        const bool applied = op.kind == PendingOp::kRotate
                                 ? !old_value_alive
                                 : ids.count(op.token.id) == 0;
        if (applied) {
          ++counts.uncertain_applied;
          dead_.push_back(op.token.value);
        } else {
          model.live.push_back(op.token);
        }
      }
      model.pending.clear();
      live_values.insert(live_values.end(), model.live.begin(),
                         model.live.end());
    }

    for (const LiveToken& token : live_values) {
      ++counts.live_checked;
      if (digests.count(DigestBytesOf(token.value)) == 0) {
        ++counts.lost;
        ADD_FAILURE() << "acknowledged value lost after kill " << trial;
      }
    }
    for (const std::string& value : dead_) {
      ++counts.dead_checked;
      if (digests.count(DigestBytesOf(value)) > 0) {
        ++counts.resurrected;
        ADD_FAILURE() << "revoked value back after kill " << trial;
      }
    }
    if (revision < last_revision + acked_changes) {
      ++counts.revision_regressions;
      ADD_FAILURE() << "revision " << revision << " after kill " << trial
                    << ", expected >= " << last_revision << " + "
                    << acked_changes;
    }
    last_revision = revision;

    // The verifier stayed up across the crash: it must converge to exactly
    // the same answers.
    EXPECT_TRUE(WaitFor(
        [&] {
          for (const LiveToken& token : live_values) {
            if (VerifierReason(token.value, token.deployment) != v1::ALLOWED) {
              return false;
            }
          }
          for (const std::string& value : dead_) {
            if (VerifierReason(value, "dep-0") != v1::REVOKED_TOKEN) {
              return false;
            }
          }
          return true;
        },
        absl::Seconds(30)))
        << "verifier did not converge after kill " << trial;
  }

  for (const WorkerModel& model : models) {
    counts.acked_creates += model.acked_creates;
    counts.acked_rotates += model.acked_rotates;
    counts.acked_deletes += model.acked_deletes;
  }
  std::printf(
      "reliability summary: crash trials=%d kills=%d acked creates=%d "
      "rotates=%d deletes=%d uncertain=%d (applied %d) live values "
      "checked=%d revoked values checked=%d lost=%d resurrected=%d "
      "integrity failures=%d revision regressions=%d\n",
      counts.trials, counts.kills, counts.acked_creates, counts.acked_rotates,
      counts.acked_deletes, counts.uncertain, counts.uncertain_applied,
      counts.live_checked, counts.dead_checked, counts.lost, counts.resurrected,
      counts.integrity_failures, counts.revision_regressions);
  std::fflush(stdout);
  EXPECT_EQ(counts.lost, 0);
  EXPECT_EQ(counts.resurrected, 0);
  EXPECT_GE(counts.kills, trials);
}

}  // namespace
}  // namespace tokens::testing
