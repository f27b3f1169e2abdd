// Three TokenService replicas on one real PostgreSQL database and two
// verifiers given all three addresses. Mixed create/rotate/delete load goes
// through random replicas while each replica in turn is killed with SIGKILL
// and restarted, and once PostgreSQL itself restarts (immediate: crash
// recovery). Afterwards:
//   * every acknowledged change is there, on every replica;
//   * no deleted or rotated-away value verifies at either verifier;
//   * each verifier's revision never went back, it never skipped one (its
//     gap counter), and it never needed a snapshot after the first;
//   * no verifier answered NOT_READY at any time, since a replica was always
//     up.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/file_util.h"
#include "gtest/gtest.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "tests/testing/http_client.h"
#include "tests/testing/postgres_server.h"
#include "tests/testing/raw_grpc.h"
#include "tests/testing/server_process.h"

namespace tokens::testing {
namespace {

constexpr int kReplicas = 3;
constexpr int kServing = 1;

// A value from the verifier's Prometheus text (-1 when absent).
int64_t Metric(const std::string& http_address, const std::string& name) {
  HttpResult result = HttpGet(http_address, "/metrics");
  const std::string prefix = name + " ";
  size_t at = result.body.find("\n" + prefix);
  if (result.status != 200 || at == std::string::npos) return -1;
  at += 1 + prefix.size();
  int64_t value = -1;
  double d = 0;
  if (absl::SimpleAtod(result.body.substr(at, result.body.find('\n', at) - at),
                       &d)) {
    value = static_cast<int64_t>(d);
  }
  return value;
}

class ReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pg = PostgresServer::Launch();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = *std::move(pg);
    auto url = pg_->CreateDatabase();
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
    const std::string root = NewTempDir("replicas");
    for (int i = 0; i < kReplicas; ++i) {
      addresses_.push_back(FreeLoopbackAddress());
      data_dirs_.push_back(absl::StrCat(root, "/replica", i));
      replicas_.emplace_back();
      // The first replica creates the keys before the others start.
      ASSERT_NO_FATAL_FAILURE(StartReplica(i));
    }
    admin_key_ = *ReadKeyFile(data_dirs_[0] + "/admin.key");
    for (int v = 0; v < 2; ++v) {
      auto verifier = ServerProcess::Start(
          RunfilePath("verifier/token_verifier"),
          {"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
           "--token-service", absl::StrJoin(addresses_, ","), "--key-file",
           data_dirs_[0] + "/verifier.key"},
          /*listen_lines=*/2);
      ASSERT_TRUE(verifier.ok()) << verifier.status();
      verifier_stubs_.push_back(v1::Verifier::NewStub(grpc::CreateChannel(
          (*verifier)->address(), grpc::InsecureChannelCredentials())));
      verifiers_.push_back(*std::move(verifier));
    }
    for (int i = 0; i < kReplicas; ++i) {
      service_stubs_.push_back(v1::TokenService::NewStub(grpc::CreateChannel(
          addresses_[i], grpc::InsecureChannelCredentials())));
    }
  }

  void StartReplica(int i) {
    auto replica = ServerProcess::Start(
        RunfilePath("services/token_service"),
        {"--database", url_, "--listen", addresses_[i], "--data-dir",
         data_dirs_[i], "--cluster-sync-interval", "200ms"});
    ASSERT_TRUE(replica.ok()) << replica.status();
    replicas_[i] = *std::move(replica);
  }

  // `wait_for_ready`: wait (up to the deadline) for a channel whose replica
  // was restarted and that is still in reconnect backoff, instead of failing
  // at once as the load wants.
  std::unique_ptr<grpc::ClientContext> AsAdmin(bool wait_for_ready = false) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_wait_for_ready(wait_for_ready);
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(3));
    ctx->AddMetadata("authorization", "Bearer " + admin_key_);
    return ctx;
  }

  v1::Reason Check(int verifier, const std::string& secret) {
    v1::CheckRequest request;
    request.set_token(secret);
    request.set_deployment_id("prod");
    request.set_operation("deployment.get");
    v1::CheckResponse response;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(5));
    if (!verifier_stubs_[verifier]->Check(&ctx, request, &response).ok()) {
      return v1::REASON_UNSPECIFIED;
    }
    return response.reason();
  }

  std::unique_ptr<PostgresServer> pg_;
  std::string url_;
  std::vector<std::string> addresses_;
  std::vector<std::string> data_dirs_;
  std::vector<std::unique_ptr<ServerProcess>> replicas_;
  std::vector<std::unique_ptr<ServerProcess>> verifiers_;
  std::vector<std::unique_ptr<v1::TokenService::Stub>> service_stubs_;
  std::vector<std::unique_ptr<v1::Verifier::Stub>> verifier_stubs_;
  std::string admin_key_;
};

// What the load knows for sure: tokens whose last acknowledged value is
// `live`, and values that must never verify again.
struct Ledger {
  absl::Mutex mu;
  std::map<std::string, std::string> live;  // id -> current value
  std::vector<std::string> revoked;
  std::vector<std::string> deleted_ids;
  int acknowledged = 0;
  int failed = 0;
};

TEST_F(ReplicasTest, KillEachReplicaAndRestartPostgresLosingNothing) {
  // A sentinel that must verify at both verifiers the whole time.
  v1::CreateTokenRequest create;
  create.set_deployment_id("prod");
  create.set_name("sentinel");
  v1::CreateTokenResponse sentinel;
  ASSERT_TRUE(
      service_stubs_[0]->CreateToken(AsAdmin().get(), create, &sentinel).ok());
  for (int v = 0; v < 2; ++v) {
    ASSERT_TRUE(
        WaitFor([&] { return Check(v, sentinel.secret()) == v1::ALLOWED; },
                absl::Seconds(30)));
  }

  std::atomic<bool> stop{false};
  std::atomic<int> not_ready{0};
  std::atomic<int> checks{0};
  std::vector<std::thread> checkers;
  for (int v = 0; v < 2; ++v) {
    checkers.emplace_back([&, v] {
      while (!stop.load()) {
        v1::Reason reason = Check(v, sentinel.secret());
        checks.fetch_add(1);
        if (reason != v1::ALLOWED) {
          not_ready.fetch_add(1);
          ADD_FAILURE() << "verifier " << v << " answered "
                        << v1::Reason_Name(reason) << " for the sentinel";
        }
        absl::SleepFor(absl::Milliseconds(5));
      }
    });
  }
  // Each verifier's revision, sampled all along: it must never go back.
  std::vector<int64_t> last_revision(2, 0);
  std::atomic<int> went_back{0};
  std::thread sampler([&] {
    while (!stop.load()) {
      for (int v = 0; v < 2; ++v) {
        int64_t revision =
            Metric(verifiers_[v]->http_address(), "token_verifier_revision");
        if (revision >= 0 && revision < last_revision[v])
          went_back.fetch_add(1);
        if (revision > last_revision[v]) last_revision[v] = revision;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  });

  Ledger ledger;
  std::thread load([&] {
    std::mt19937 random(42);
    int n = 0;
    int failed_before = 0;
    while (!stop.load()) {
      {
        // A replica that is down refuses at once: do not spin on it.
        absl::MutexLock lock(&ledger.mu);
        if (ledger.failed != failed_before) {
          failed_before = ledger.failed;
          ledger.mu.Unlock();
          absl::SleepFor(absl::Milliseconds(2));
          ledger.mu.Lock();
        }
      }
      auto& stub = service_stubs_[random() % kReplicas];
      std::string victim;
      {
        absl::MutexLock lock(&ledger.mu);
        if (!ledger.live.empty() && random() % 3 != 0) {
          auto it = ledger.live.begin();
          std::advance(it, random() % ledger.live.size());
          victim = it->first;
        }
      }
      if (victim.empty()) {
        v1::CreateTokenRequest request;
        request.set_deployment_id("prod");
        request.set_name(absl::StrCat("load-", n++));
        v1::CreateTokenResponse response;
        if (stub->CreateToken(AsAdmin().get(), request, &response).ok()) {
          absl::MutexLock lock(&ledger.mu);
          ledger.live[response.token().id()] = response.secret();
          ++ledger.acknowledged;
        } else {
          absl::MutexLock lock(&ledger.mu);
          ++ledger.failed;
        }
      } else if (random() % 2 == 0) {
        v1::RotateTokenRequest request;
        request.set_id(victim);
        v1::RotateTokenResponse response;
        grpc::Status status =
            stub->RotateToken(AsAdmin().get(), request, &response);
        absl::MutexLock lock(&ledger.mu);
        if (status.ok()) {
          ledger.revoked.push_back(ledger.live[victim]);
          ledger.live[victim] = response.secret();
          ++ledger.acknowledged;
        } else {
          // In doubt: it may have committed. Stop vouching for either value.
          ledger.live.erase(victim);
          ++ledger.failed;
        }
      } else {
        v1::DeleteTokenRequest request;
        request.set_id(victim);
        google::protobuf::Empty empty;
        grpc::Status status =
            stub->DeleteToken(AsAdmin().get(), request, &empty);
        absl::MutexLock lock(&ledger.mu);
        if (status.ok()) {
          ledger.revoked.push_back(ledger.live[victim]);
          ledger.deleted_ids.push_back(victim);
          ++ledger.acknowledged;
        } else {
          ++ledger.failed;
        }
        ledger.live.erase(victim);
      }
    }
  });

  auto wait_acknowledged = [&](int more) {
    int target = 0;
    {
      absl::MutexLock lock(&ledger.mu);
      target = ledger.acknowledged + more;
    }
    EXPECT_TRUE(WaitFor(
        [&] {
          absl::MutexLock lock(&ledger.mu);
          return ledger.acknowledged >= target;
        },
        absl::Seconds(60)));
  };
  wait_acknowledged(20);
  for (int i = 0; i < kReplicas; ++i) {
    replicas_[i]->Stop(SIGKILL);
    wait_acknowledged(20);  // The others carry the load meanwhile.
    ASSERT_NO_FATAL_FAILURE(StartReplica(i));
    wait_acknowledged(10);
  }
  ASSERT_TRUE(pg_->Restart(PostgresServer::StopMode::kImmediate).ok())
      << pg_->Log();
  wait_acknowledged(20);
  stop.store(true);
  load.join();
  sampler.join();
  for (std::thread& checker : checkers) checker.join();

  // Both verifiers reach the database's latest revision.
  auto latest = QuerySql(url_, "SELECT value FROM revision_counter");
  ASSERT_TRUE(latest.ok()) << latest.status();
  int64_t revision = 0;
  ASSERT_TRUE(absl::SimpleAtoi(*latest, &revision));
  for (int v = 0; v < 2; ++v) {
    EXPECT_TRUE(WaitFor(
        [&] {
          return Metric(verifiers_[v]->http_address(),
                        "token_verifier_revision") == revision;
        },
        absl::Seconds(30)))
        << "verifier " << v << " at "
        << Metric(verifiers_[v]->http_address(), "token_verifier_revision")
        << ", database at " << revision;
    EXPECT_EQ(Metric(verifiers_[v]->http_address(),
                     "token_verifier_feed_revision_gaps_total"),
              0);
    EXPECT_EQ(
        Metric(verifiers_[v]->http_address(), "token_verifier_snapshots_total"),
        1)
        << "a failover took a snapshot instead of resuming";
    // Killing each replica in turn moved every verifier at least once.
    EXPECT_GE(Metric(verifiers_[v]->http_address(),
                     "token_verifier_feed_failovers_total"),
              1);
  }
  EXPECT_EQ(went_back.load(), 0);
  EXPECT_EQ(not_ready.load(), 0);
  EXPECT_GT(checks.load(), 100);

  absl::MutexLock lock(&ledger.mu);
  EXPECT_GT(ledger.acknowledged, 100);
  for (const auto& [id, secret] : ledger.live) {
    for (int r = 0; r < kReplicas; ++r) {
      v1::GetTokenRequest get;
      get.set_id(id);
      v1::Token token;
      grpc::Status status =
          service_stubs_[r]->GetToken(AsAdmin(true).get(), get, &token);
      ASSERT_TRUE(status.ok())
          << id << " on replica " << r << ": " << status.error_message();
      EXPECT_EQ(token.short_token().substr(0, 8), secret.substr(0, 8));
    }
    for (int v = 0; v < 2; ++v) EXPECT_EQ(Check(v, secret), v1::ALLOWED) << id;
  }
  for (const std::string& id : ledger.deleted_ids) {
    v1::GetTokenRequest get;
    get.set_id(id);
    v1::Token token;
    EXPECT_EQ(service_stubs_[1]
                  ->GetToken(AsAdmin(true).get(), get, &token)
                  .error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  for (const std::string& secret : ledger.revoked) {
    for (int v = 0; v < 2; ++v) {
      EXPECT_EQ(Check(v, secret), v1::REVOKED_TOKEN);
    }
  }
  std::printf("acknowledged %d changes (%d failed or in doubt), %d checks\n",
              ledger.acknowledged, ledger.failed, checks.load());
}

}  // namespace
}  // namespace tokens::testing
