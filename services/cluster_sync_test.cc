#include "services/cluster_sync.h"

#include <sys/stat.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/fake_clock.h"
#include "common/file_util.h"
#include "gtest/gtest.h"

namespace tokens {
namespace {

// The database every replica shares, in memory; `down` makes it unreachable.
class FakeClusterState : public ClusterState {
 public:
  std::atomic<bool> down{false};

  absl::StatusOr<std::string> GetOrCreateSecret(
      const std::string& name, const std::string& candidate) override {
    absl::MutexLock lock(&mu_);
    if (down) return absl::UnavailableError("database unreachable");
    return secrets_.emplace(name, candidate).first->second;
  }
  absl::StatusOr<bool> InitializeCallers(
      const std::vector<CallerRecord>& callers) override {
    absl::MutexLock lock(&mu_);
    if (down) return absl::UnavailableError("database unreachable");
    if (!callers_.empty()) return false;
    for (const CallerRecord& caller : callers) callers_[caller.name] = caller;
    return true;
  }
  absl::StatusOr<std::vector<CallerRecord>> ListCallers() override {
    absl::MutexLock lock(&mu_);
    if (down) return absl::UnavailableError("database unreachable");
    std::vector<CallerRecord> out;
    for (const auto& [name, caller] : callers_) out.push_back(caller);
    return out;
  }
  absl::Status AddCaller(const CallerRecord& caller) override {
    absl::MutexLock lock(&mu_);
    if (!callers_.emplace(caller.name, caller).second) {
      return absl::AlreadyExistsError("taken");
    }
    return absl::OkStatus();
  }
  absl::Status RemoveCaller(const std::string& name) override {
    absl::MutexLock lock(&mu_);
    return callers_.erase(name) == 1 ? absl::OkStatus()
                                     : absl::NotFoundError(name);
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::string> secrets_;
  std::map<std::string, CallerRecord> callers_;
};

std::string NewDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name);
  EXPECT_TRUE(MakePrivateDirectory(dir).ok());
  return dir;
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// One replica's share of the cluster: its registry, page codec and health.
struct Replica {
  explicit Replica(FakeClusterState* cluster, const std::string& dir,
                   const Clock* clock)
      : callers(CallerRegistry::NotLoaded()),
        pages(std::string()),
        sync(cluster, callers.get(), &pages, [this](bool s) { serving = s; },
             clock, {dir, absl::Seconds(1)}) {}
  std::unique_ptr<CallerRegistry> callers;
  PageTokenCodec pages;
  bool serving = false;
  ClusterSync sync;
};

TEST(ClusterSyncTest, FirstReplicaCreatesKeysLaterOnesShareThem) {
  FakeClusterState cluster;
  FakeClock clock;
  const std::string dir_a = NewDir("first");
  const std::string dir_b = NewDir("second");
  Replica a(&cluster, dir_a, &clock);
  ASSERT_TRUE(a.sync.SyncOnce().ok());
  EXPECT_TRUE(a.serving);
  auto admin_key = ReadKeyFile(dir_a + "/admin.key");
  auto verifier_key = ReadKeyFile(dir_a + "/verifier.key");
  ASSERT_TRUE(admin_key.ok());
  ASSERT_TRUE(verifier_key.ok());
  struct stat st;
  ASSERT_EQ(stat((dir_a + "/admin.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_FALSE(Exists(dir_a + "/.admin.key.pending"));

  Replica b(&cluster, dir_b, &clock);
  ASSERT_TRUE(b.sync.SyncOnce().ok());
  // The later replica writes no keys and accepts the first one's.
  EXPECT_FALSE(Exists(dir_b + "/admin.key"));
  EXPECT_FALSE(Exists(dir_b + "/verifier.key"));
  EXPECT_FALSE(Exists(dir_b + "/.admin.key.pending"));
  auto admin = b.callers->Authenticate(*admin_key);
  ASSERT_TRUE(admin.ok()) << admin.status();
  EXPECT_EQ(admin->name, "admin");
  EXPECT_EQ(admin->role, CallerRole::kAdmin);
  auto verifier = b.callers->Authenticate(*verifier_key);
  ASSERT_TRUE(verifier.ok());
  EXPECT_EQ(verifier->role, CallerRole::kVerifier);

  // A page token made by one replica decodes on the other.
  ListCursor cursor;
  cursor.time = absl::FromUnixSeconds(1700000000);
  cursor.id = "tok_1";
  const TokenListing listing{"dep-1"};
  auto decoded = b.pages.DecodeTokenPage(
      a.pages.EncodeTokenPage(listing, cursor), listing);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->id, "tok_1");
}

TEST(ClusterSyncTest, UnreachableDatabaseMeansNotServingUntilItAnswers) {
  FakeClusterState cluster;
  cluster.down = true;
  FakeClock clock;
  Replica a(&cluster, NewDir("down"), &clock);
  a.serving = true;
  absl::Status status = a.sync.SyncOnce();
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_FALSE(a.serving);
  EXPECT_TRUE(absl::IsUnavailable(a.callers->Authenticate("tkk_x").status()));

  cluster.down = false;
  ASSERT_TRUE(a.sync.SyncOnce().ok());
  EXPECT_TRUE(a.serving);
  // Once loaded, an unknown key is unauthenticated, not unavailable.
  EXPECT_TRUE(
      absl::IsUnauthenticated(a.callers->Authenticate("tkk_x").status()));

  // Down again later: health follows, and the callers already read stay.
  cluster.down = true;
  EXPECT_FALSE(a.sync.SyncOnce().ok());
  EXPECT_FALSE(a.serving);
}

TEST(ClusterSyncTest, AddedAndRemovedCallersReachEveryReplica) {
  FakeClusterState cluster;
  FakeClock clock;
  Replica a(&cluster, NewDir("add-a"), &clock);
  Replica b(&cluster, NewDir("add-b"), &clock);
  ASSERT_TRUE(a.sync.SyncOnce().ok());
  ASSERT_TRUE(b.sync.SyncOnce().ok());

  auto key = CallerRegistry::GenerateKey();
  ASSERT_TRUE(key.ok());
  ASSERT_TRUE(
      cluster.AddCaller({"ci", "admin", CallerRegistry::KeyDigestHex(*key)})
          .ok());
  EXPECT_FALSE(b.callers->Authenticate(*key).ok());
  ASSERT_TRUE(b.sync.SyncOnce().ok());
  EXPECT_TRUE(b.callers->Authenticate(*key).ok());

  ASSERT_TRUE(cluster.RemoveCaller("ci").ok());
  ASSERT_TRUE(b.sync.SyncOnce().ok());
  EXPECT_TRUE(absl::IsUnauthenticated(b.callers->Authenticate(*key).status()));
}

TEST(ClusterSyncTest, ThreadSyncsEveryIntervalOfTheClock) {
  FakeClusterState cluster;
  FakeClock clock;
  Replica a(&cluster, NewDir("thread"), &clock);
  a.sync.Start();
  auto key = CallerRegistry::GenerateKey();
  ASSERT_TRUE(key.ok());
  ASSERT_TRUE(
      cluster.AddCaller({"ci", "verifier", CallerRegistry::KeyDigestHex(*key)})
          .ok());
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!a.callers->Authenticate(*key).ok() && absl::Now() < deadline) {
    clock.Advance(absl::Seconds(1));
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_TRUE(a.callers->Authenticate(*key).ok());
  a.sync.Stop();
}

}  // namespace
}  // namespace tokens
