// The token_service binary serving a few hundred WatchTokens streams at once
// from its watch cache, over several connections: every stream sees every
// change, in order, with no gap and no duplicate; the store is read once per
// change whatever the stream count (from /metrics); a verifier that applied an
// empty store's snapshot (revision 0) resumes instead of taking another.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/file_util.h"
#include "common/json_log.h"
#include "gtest/gtest.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "tests/testing/server_process.h"

namespace tokens::testing {
namespace {

constexpr int kStreams = 300;
constexpr int kChannels = 12;
constexpr int kChanges = 30;
constexpr absl::Duration kHang = absl::Seconds(60);

// GET `target` over a fresh HTTP/1.0 connection; the body ("" on failure).
std::string HttpGetBody(const std::string& address, const std::string& target) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port)) return "";
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  const std::string request =
      absl::StrCat("GET ", target, " HTTP/1.0\r\nHost: test\r\n\r\n");
  if (write(fd, request.data(), request.size()) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return "";
  }
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) {
    response.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

// The value of one sample line of a Prometheus text page (-1 when absent).
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

// One WatchTokens stream read with the callback API; records what it got.
class Watcher final : public grpc::ClientReadReactor<v1::WatchTokensResponse> {
 public:
  Watcher(v1::TokenService::Stub* stub, const std::string& key,
          int64_t since_revision, bool resume)
      : base_revision_(resume ? since_revision : -1) {
    context_.AddMetadata("authorization", "Bearer " + key);
    request_.set_since_revision(since_revision);
    request_.set_resume(resume);
    stub->async()->WatchTokens(&context_, &request_, this);
    StartRead(&message_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    {
      absl::MutexLock lock(&mu_);
      if (message_.kind() == v1::WatchTokensResponse::SNAPSHOT) {
        if (message_.snapshot_complete()) base_revision_ = message_.revision();
      }
      if (message_.kind() == v1::WatchTokensResponse::CHANGES) {
        for (const auto& change : message_.changes()) {
          revisions_.push_back(change.revision());
        }
      }
      kinds_.push_back(message_.kind());
      revision_ = message_.revision();
    }
    StartRead(&message_);
  }
  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    done_ = true;
    status_ = status;
  }

  // Waits until the stream is at `revision` (or ended).
  bool WaitForRevision(int64_t revision) {
    absl::MutexLock lock(&mu_);
    auto there = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return done_ || (base_revision_ >= 0 && revision_ >= revision);
    };
    return mu_.AwaitWithTimeout(absl::Condition(&there), kHang) && !done_;
  }
  bool WaitForMessages(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return done_ || kinds_.size() >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kHang) && !done_;
  }
  void Cancel() { context_.TryCancel(); }
  void WaitDone() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
  }

  std::vector<int64_t> revisions() {
    absl::MutexLock lock(&mu_);
    return revisions_;
  }
  std::vector<v1::WatchTokensResponse::Kind> kinds() {
    absl::MutexLock lock(&mu_);
    return kinds_;
  }
  // The revision of the snapshot taken, or the one resumed from (-1 while
  // neither).
  int64_t base_revision() {
    absl::MutexLock lock(&mu_);
    return base_revision_;
  }

 private:
  grpc::ClientContext context_;
  v1::WatchTokensRequest request_;
  v1::WatchTokensResponse message_;
  absl::Mutex mu_;
  std::vector<int64_t> revisions_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::WatchTokensResponse::Kind> kinds_ ABSL_GUARDED_BY(mu_);
  int64_t base_revision_ ABSL_GUARDED_BY(mu_);
  int64_t revision_ ABSL_GUARDED_BY(mu_) = -1;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

class WatchFanoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    JsonLog::SetEnabled(false);
    data_dir_ = NewTempDir("watch_fanout") + "/var";
    auto process =
        ServerProcess::Start(RunfilePath("services/token_service"),
                             {"--listen", "127.0.0.1:0", "--data-dir",
                              data_dir_, "--http-listen", "127.0.0.1:0"},
                             /*listen_lines=*/2);
    ASSERT_TRUE(process.ok()) << process.status();
    service_ = *std::move(process);
    ASSERT_FALSE(service_->http_address().empty());
    admin_key_ = ReadKeyFile(data_dir_ + "/admin.key").value();
    verifier_key_ = ReadKeyFile(data_dir_ + "/verifier.key").value();
    for (int i = 0; i < kChannels; ++i) {
      // A distinct argument per channel: its own connection.
      grpc::ChannelArguments args;
      args.SetInt("tokens.test.channel", i);
      stubs_.push_back(v1::TokenService::NewStub(grpc::CreateCustomChannel(
          service_->address(), grpc::InsecureChannelCredentials(), args)));
    }
  }

  void TearDown() override {
    for (auto& watcher : watchers_) watcher->Cancel();
    for (auto& watcher : watchers_) watcher->WaitDone();
    watchers_.clear();
  }

  Watcher* Open(int64_t since, bool resume) {
    watchers_.push_back(std::make_unique<Watcher>(
        stubs_[watchers_.size() % stubs_.size()].get(), verifier_key_, since,
        resume));
    return watchers_.back().get();
  }

  std::string Metrics() {
    return HttpGetBody(service_->http_address(), "/metrics");
  }

  template <typename Request, typename Response, typename Call>
  grpc::Status AsAdmin(Call call, const Request& request, Response* response) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + admin_key_);
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    return ((*stubs_[0]).*call)(&context, request, response);
  }

  int64_t CreateToken(const std::string& name) {
    v1::CreateTokenRequest request;
    request.set_deployment_id("dep-1");
    request.set_name(name);
    v1::CreateTokenResponse response;
    grpc::Status status =
        AsAdmin(&v1::TokenService::Stub::CreateToken, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    created_.push_back(response.token().id());
    return ++revision_;
  }
  int64_t DeleteToken(const std::string& id) {
    v1::DeleteTokenRequest request;
    request.set_id(id);
    google::protobuf::Empty empty;
    grpc::Status status =
        AsAdmin(&v1::TokenService::Stub::DeleteToken, request, &empty);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return ++revision_;
  }

  std::string data_dir_;
  std::string admin_key_;
  std::string verifier_key_;
  std::unique_ptr<ServerProcess> service_;
  std::vector<std::unique_ptr<v1::TokenService::Stub>> stubs_;
  std::vector<std::unique_ptr<Watcher>> watchers_;
  std::vector<std::string> created_;
  int64_t revision_ = 0;  // The store's: one per create or delete.
};

TEST_F(WatchFanoutTest, EveryStreamSeesEveryChangeInOrderWithoutGaps) {
  CreateToken("before the streams");
  for (int i = 0; i < kStreams; ++i) Open(0, /*resume=*/false);
  for (auto& watcher : watchers_) {
    ASSERT_TRUE(watcher->WaitForRevision(1));
  }
  const std::string before = Metrics();
  ASSERT_EQ(Sample(before, "token_service_watchers"), kStreams) << before;
  const int64_t tail_before =
      Sample(before, "token_service_feed_store_reads_total{reader=\"tail\"}");

  // Creates and deletes, interleaved, while every stream is open.
  for (int i = 0; i < kChanges; ++i) {
    if (i % 3 == 2) {
      DeleteToken(created_[created_.size() - 1]);
      created_.pop_back();
    } else {
      CreateToken(absl::StrCat("token ", i));
    }
  }
  for (auto& watcher : watchers_) {
    ASSERT_TRUE(watcher->WaitForRevision(revision_));
    const int64_t from = watcher->base_revision();
    std::vector<int64_t> want;
    for (int64_t r = from + 1; r <= revision_; ++r) want.push_back(r);
    ASSERT_EQ(watcher->revisions(), want) << "from snapshot at " << from;
  }

  const std::string after = Metrics();
  const int64_t tail_reads =
      Sample(after, "token_service_feed_store_reads_total{reader=\"tail\"}") -
      tail_before;
  EXPECT_GE(tail_reads, 1);
  EXPECT_LE(tail_reads, kChanges) << "one store read per change at most";
  EXPECT_EQ(Sample(after,
                   "token_service_feed_store_reads_total{reader=\"catch_up\"}"),
            0);
  EXPECT_EQ(Sample(after, "token_service_snapshots_sent_total"), kStreams);
  EXPECT_EQ(Sample(after, "token_service_watch_window_newest_revision"),
            revision_);
  EXPECT_EQ(Sample(after, "token_service_watchers_cut_off_total"), 0);
}

TEST_F(WatchFanoutTest, ResumingStreamsReadFromTheWindowNotTheStore) {
  for (int i = 0; i < 10; ++i) CreateToken(absl::StrCat("t", i));
  for (int i = 0; i < 100; ++i) Open(3 + i % 5, /*resume=*/true);
  for (auto& watcher : watchers_) {
    ASSERT_TRUE(watcher->WaitForMessages(1));
  }
  for (size_t i = 0; i < watchers_.size(); ++i) {
    ASSERT_TRUE(watchers_[i]->WaitForRevision(revision_));
    std::vector<int64_t> want;
    for (int64_t r = 3 + static_cast<int64_t>(i) % 5 + 1; r <= revision_; ++r) {
      want.push_back(r);
    }
    EXPECT_EQ(watchers_[i]->revisions(), want);
  }
  const std::string page = Metrics();
  EXPECT_EQ(
      Sample(page, "token_service_feed_store_reads_total{reader=\"catch_up\"}"),
      0);
  EXPECT_EQ(
      Sample(page, "token_service_feed_store_reads_total{reader=\"snapshot\"}"),
      0);
}

TEST_F(WatchFanoutTest, EmptyStoreSnapshotAtRevisionZeroIsNotSentAgain) {
  // A new verifier asks for a snapshot: an empty store's carries revision 0.
  Watcher* fresh = Open(0, /*resume=*/false);
  ASSERT_TRUE(fresh->WaitForRevision(0));
  EXPECT_EQ(fresh->base_revision(), 0);
  // Having applied it, it reconnects with resume: a heartbeat, no snapshot.
  Watcher* resumed = Open(0, /*resume=*/true);
  ASSERT_TRUE(resumed->WaitForMessages(1));
  EXPECT_EQ(resumed->kinds().front(), v1::WatchTokensResponse::HEARTBEAT);
  const std::string page = Metrics();
  EXPECT_EQ(Sample(page, "token_service_snapshots_sent_total"), 1);
  // And it gets the first change when it comes.
  CreateToken("first");
  ASSERT_TRUE(resumed->WaitForMessages(2));
  EXPECT_EQ(resumed->revisions(), std::vector<int64_t>{1});
}

TEST_F(WatchFanoutTest, MetricsPageListsTheFeedFigures) {
  const std::string page = Metrics();
  for (const char* series : {
           "token_service_watchers",
           "token_service_watch_window_changes",
           "token_service_watch_window_bytes",
           "token_service_watch_window_oldest_revision",
           "token_service_watch_window_newest_revision",
           "token_service_watchers_cut_off_total",
           "token_service_feed_store_reads_total{reader=\"tail\"}",
           "token_service_feed_store_reads_total{reader=\"catch_up\"}",
           "token_service_feed_store_reads_total{reader=\"snapshot\"}",
           "token_service_feed_changes_read_total",
           "token_service_snapshots_built_total",
           "token_service_snapshots_shared_total",
           "token_service_snapshots_sent_total",
       }) {
    EXPECT_GE(Sample(page, series), 0) << series << " in\n" << page;
  }
  EXPECT_EQ(HttpGetBody(service_->http_address(), "/healthz"), "ok\n");
}

}  // namespace
}  // namespace tokens::testing
