// The notifier against a real SQLite store with the outbox on and a real local
// HTTP(S) receiver (common/http_server.h on 127.0.0.1). Time is a FakeClock:
// the tests move it only while the notifier waits on it, and wait for what
// they check with conditions, never for a duration.
#include "services/notifier.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/fake_clock.h"
#include "common/http_client.h"
#include "common/http_client_test_certs.h"
#include "common/http_server.h"
#include "common/token_value.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/sqlite_token_store.h"
#include "storage/token_store.h"

namespace tokens {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

namespace http = boost::beast::http;

constexpr char kKey[] = "notify-test-key-0123456789abcdef";

std::string TempDir() { return std::getenv("TEST_TMPDIR"); }

// A fresh path for a database file, unique in the test run.
std::string DbPath() {
  static int n = 0;
  const std::string path = absl::StrCat(
      TempDir(), "/",
      ::testing::UnitTest::GetInstance()->current_test_info()->name(), "_", ++n,
      ".db");
  for (const char* suffix : {"", "-wal", "-shm"}) {
    unlink((path + suffix).c_str());
  }
  return path;
}

std::unique_ptr<SqliteTokenStore> OpenStore(const std::string& path) {
  SqliteTokenStoreOptions options;
  options.path = path;
  options.synchronous_full = false;
  options.notification_outbox = true;
  absl::StatusOr<std::unique_ptr<SqliteTokenStore>> store =
      SqliteTokenStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

// HMAC-SHA256 as the receiver checks it, independently of the notifier.
std::string ExpectedSignature(const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), kKey, static_cast<int>(sizeof(kKey) - 1),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac,
       &length);
  std::string hex = "sha256=";
  for (unsigned int i = 0; i < length; ++i) {
    char byte[3];
    std::snprintf(byte, sizeof(byte), "%02x", mac[i]);
    hex += byte;
  }
  return hex;
}

struct Received {
  std::string target;
  std::string content_type;
  std::string event;
  std::string signature;
  int64_t delivery = 0;
  std::string body;
  int answer = 0;  // the status the receiver answered
};

// The webhook receiver: records every request, answers the statuses it is
// told (then 200), and holds requests open while on hold.
class Receiver {
 public:
  explicit Receiver(const std::string& address = "127.0.0.1:0",
                    const HttpTlsFiles& tls = {}) {
    auto server = HttpServer::Start(
        address,
        [this](const HttpRequest& request, std::string_view) {
          return Answer(request);
        },
        tls);
    EXPECT_TRUE(server.ok()) << server.status();
    if (server.ok()) server_ = *std::move(server);
  }
  ~Receiver() {
    Release();
    if (server_ != nullptr) server_->Stop();
  }

  int port() const { return server_->port(); }

  // The next requests get these statuses, in order; then 200.
  void AnswerNext(std::vector<int> statuses) {
    absl::MutexLock lock(&mu_);
    statuses_.insert(statuses_.end(), statuses.begin(), statuses.end());
  }
  // Requests from now on wait (unanswered) until Release.
  void Hold() {
    absl::MutexLock lock(&mu_);
    hold_ = true;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    hold_ = false;
  }
  void AwaitHeld(int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return held_ >= n; };
    mu_.Await(absl::Condition(&enough));
  }
  int held() {
    absl::MutexLock lock(&mu_);
    return held_;
  }

  std::vector<Received> received() {
    absl::MutexLock lock(&mu_);
    return received_;
  }
  // Delivery ids answered with a 2xx.
  std::set<int64_t> accepted() {
    absl::MutexLock lock(&mu_);
    std::set<int64_t> ids;
    for (const Received& r : received_) {
      if (r.answer == 200) ids.insert(r.delivery);
    }
    return ids;
  }

 private:
  HttpResponse Answer(const HttpRequest& request) {
    absl::MutexLock lock(&mu_);
    Received r;
    r.target = std::string(request.target());
    r.content_type = std::string(request[http::field::content_type]);
    r.event = std::string(request["X-Tokens-Event"]);
    r.signature = std::string(request["X-Tokens-Signature-256"]);
    EXPECT_TRUE(absl::SimpleAtoi(std::string(request["X-Tokens-Delivery"]),
                                 &r.delivery));
    r.body = request.body();
    if (!statuses_.empty()) {
      r.answer = statuses_.front();
      statuses_.pop_front();
    } else {
      r.answer = 200;
    }
    ++held_;
    mu_.Await(absl::Condition(
        +[](bool* hold) { return !*hold; }, &hold_));
    --held_;
    received_.push_back(r);
    return MakeHttpResponse(static_cast<http::status>(r.answer), 11, "ok\n");
  }

  absl::Mutex mu_;
  std::deque<int> statuses_ ABSL_GUARDED_BY(mu_);
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  int held_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Received> received_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<HttpServer> server_;
};

// Moves the clock a second at a time, each time the notifier waits on it,
// until `done`. No real time passes for the notifier's waits.
void DriveUntil(FakeClock& clock, const std::function<bool()>& done,
                absl::Duration step = absl::Seconds(1)) {
  for (int steps = 0; !done(); ++steps) {
    ASSERT_LT(steps, 100000) << "the condition never held";
    clock.AwaitWaiters(1);
    clock.Advance(step);
  }
}

class NotifierTest : public ::testing::Test {
 protected:
  NotifierTest() : path_(DbPath()), store_(OpenStore(path_)) {}

  NotifierOptions Options(const std::string& url) {
    NotifierOptions options;
    options.url = url;
    options.hmac_key = kKey;
    return options;
  }
  std::string HttpUrlOf(const Receiver& receiver) {
    return absl::StrCat("http://127.0.0.1:", receiver.port(), "/hooks/tokens");
  }

  std::unique_ptr<Notifier> StartNotifier(NotifierOptions options) {
    absl::StatusOr<std::unique_ptr<Notifier>> notifier =
        Notifier::Start(std::move(options), store_.get(), &clock_);
    EXPECT_TRUE(notifier.ok()) << notifier.status();
    return notifier.ok() ? *std::move(notifier) : nullptr;
  }

  AuditEntry Audit(const std::string& action, const std::string& token_id) {
    AuditEntry audit;
    audit.time = clock_.Now();
    audit.principal = "admin";
    audit.action = action;
    audit.token_id = token_id;
    audit.deployment_id = "dep-1";
    audit.outcome = "OK";
    return audit;
  }

  TokenRecord Token(const std::string& id,
                    absl::Time expire_time = absl::InfiniteFuture()) {
    TokenRecord token;
    token.id = id;
    token.deployment_id = "dep-1";
    token.name = "name of " + id;
    token.short_token = "dpt_Ab12...9xYz";
    token.secret_digest = DigestOf("dpt_value_of_" + id);
    token.create_time = clock_.Now();
    token.update_time = clock_.Now();
    token.expire_time = expire_time;
    token.created_by = "admin";
    token.updated_by = "admin";
    return token;
  }

  void Create(const std::string& id,
              absl::Time expire_time = absl::InfiniteFuture()) {
    absl::StatusOr<int64_t> created =
        store_->Create(Token(id, expire_time), Audit("token.create", id));
    ASSERT_TRUE(created.ok()) << created.status();
  }

  // Every audit id the outbox queued so far (create, rotate, delete, ...).
  std::set<int64_t> NotifiedIds() {
    absl::StatusOr<std::vector<AuditEntry>> audit =
        store_->ListAudit("dep-1", 0, 1000);
    EXPECT_TRUE(audit.ok()) << audit.status();
    std::set<int64_t> ids;
    for (const AuditEntry& entry : *audit) {
      if (entry.outcome == "OK" && entry.action != "token.update") {
        ids.insert(entry.id);
      }
    }
    return ids;
  }

  // What the outbox still holds, due or not (claims it: call at the end).
  std::vector<PendingNotification> Outbox() {
    absl::StatusOr<std::vector<PendingNotification>> left =
        store_->ClaimNotifications(clock_.Now() + absl::Hours(24 * 365),
                                   absl::Seconds(1), 1000);
    EXPECT_TRUE(left.ok()) << left.status();
    return left.ok() ? *left : std::vector<PendingNotification>{};
  }

  FakeClock clock_;
  std::string path_;
  std::unique_ptr<SqliteTokenStore> store_;
};

TEST(NotificationJsonTest, RendersEveryFieldEscaped) {
  AuditEntry event;
  event.id = 42;
  event.time = absl::FromUnixSeconds(1767225600);
  event.principal = "ci \"deployer\"";
  event.action = "token.expiring";
  event.token_id = "tok-1";
  event.deployment_id = "dep-1";
  event.outcome = "OK";
  event.detail = "days=7\nexpire_time=2026-01-08T00:00:00Z \\ \x01";
  EXPECT_EQ(RenderNotificationJson(event),
            "{\"id\":42,\"event\":\"token.expiring\","
            "\"time\":\"2026-01-01T00:00:00Z\",\"token_id\":\"tok-1\","
            "\"deployment_id\":\"dep-1\",\"principal\":\"ci \\\"deployer\\\"\","
            "\"outcome\":\"OK\",\"detail\":\"days=7\\nexpire_time=2026-01-"
            "08T00:00:00Z \\\\ \\u0001\"}");
  event.time += absl::Milliseconds(250);
  EXPECT_THAT(RenderNotificationJson(event),
              HasSubstr("\"time\":\"2026-01-01T00:00:00.25Z\""));
}

TEST(NotificationJsonTest, SignatureIsHmacSha256Hex) {
  // RFC 4231, test case 2.
  EXPECT_EQ(SignNotification("Jefe", "what do ya want for nothing?"),
            "sha256="
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(NotificationBackoffTest, DoublesToTheMaximumWithJitterBelow) {
  NotifierOptions options;
  options.jitter = 0;
  EXPECT_EQ(NotificationBackoff(options, 1, 0.9), absl::Seconds(1));
  EXPECT_EQ(NotificationBackoff(options, 2, 0.9), absl::Seconds(2));
  EXPECT_EQ(NotificationBackoff(options, 5, 0.9), absl::Seconds(16));
  EXPECT_EQ(NotificationBackoff(options, 9, 0.9), absl::Seconds(256));
  EXPECT_EQ(NotificationBackoff(options, 10, 0.9), absl::Minutes(5));
  EXPECT_EQ(NotificationBackoff(options, 1000000, 0.9), absl::Minutes(5));
  options.jitter = 0.5;
  EXPECT_EQ(NotificationBackoff(options, 3, 0), absl::Seconds(4));
  EXPECT_EQ(NotificationBackoff(options, 3, 0.5), absl::Seconds(3));
  EXPECT_GT(NotificationBackoff(options, 3, 0.999999), absl::Seconds(2));
  EXPECT_EQ(NotificationBackoff(options, 40, 0), absl::Minutes(5));
}

class NotifierFlagsTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = absl::StrCat(TempDir(), "/", name);
    FILE* file = std::fopen(path.c_str(), "w");
    EXPECT_NE(file, nullptr);
    std::fputs(content.c_str(), file);
    std::fclose(file);
    return path;
  }
  void ExpectInvalid(const std::string& url, const std::string& key_file,
                     const std::string& ca_file, const std::string& flag) {
    absl::StatusOr<NotifierOptions> options =
        NotifierOptionsFromFlags(url, key_file, ca_file);
    ASSERT_FALSE(options.ok()) << url << " " << key_file << " " << ca_file;
    EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string message(options.status().message());
    EXPECT_THAT(message, ::testing::StartsWith(flag)) << message;
    EXPECT_THAT(message, Not(HasSubstr(kKey)));
  }
};

TEST_F(NotifierFlagsTest, GoodFlagsGiveOptions) {
  const std::string key = Write("good.key", absl::StrCat("  ", kKey, "\n"));
  absl::StatusOr<NotifierOptions> options =
      NotifierOptionsFromFlags("https://hooks.example/x?y", key, "");
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->url, "https://hooks.example/x?y");
  EXPECT_EQ(options->hmac_key, kKey);
  EXPECT_EQ(options->ca_file, "");
  EXPECT_EQ(options->poll_interval, absl::Seconds(1));
  EXPECT_EQ(options->request_timeout, absl::Seconds(10));
  EXPECT_EQ(options->initial_backoff, absl::Seconds(1));
  EXPECT_EQ(options->max_backoff, absl::Minutes(5));
  EXPECT_EQ(options->lease, absl::Seconds(60));

  absl::StatusOr<testing::WebhookTestCerts> certs =
      testing::MakeWebhookTestCerts(TempDir());
  ASSERT_TRUE(certs.ok()) << certs.status();
  options =
      NotifierOptionsFromFlags("https://hooks.example/", key, certs->ca_cert);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->ca_file, certs->ca_cert);
}

TEST_F(NotifierFlagsTest, BadValuesNameTheFlag) {
  const std::string key = Write("flags.key", kKey);
  const std::string empty = Write("empty.key", " \n");
  const std::string short_key = Write("short.key", "abc");
  const std::string not_pem = Write("not.pem", "not a certificate\n");
  const std::string missing = TempDir() + "/missing";

  ExpectInvalid("ftp://hooks.example/", key, "", "--notify-url");
  ExpectInvalid("hooks.example/path", key, "", "--notify-url");
  ExpectInvalid("http://user:pw@hooks.example/", key, "", "--notify-url");
  ExpectInvalid("", key, "", "--notify-url");
  ExpectInvalid("https://hooks.example/", "", "", "--notify-key-file");
  ExpectInvalid("https://hooks.example/", missing, "", "--notify-key-file");
  ExpectInvalid("https://hooks.example/", TempDir(), "", "--notify-key-file");
  ExpectInvalid("https://hooks.example/", empty, "", "--notify-key-file");
  ExpectInvalid("https://hooks.example/", short_key, "", "--notify-key-file");
  ExpectInvalid("https://hooks.example/", key, missing, "--notify-ca-file");
  ExpectInvalid("https://hooks.example/", key, not_pem, "--notify-ca-file");
  ExpectInvalid("https://hooks.example/", key, empty, "--notify-ca-file");
  ExpectInvalid("http://hooks.example/", key, not_pem, "--notify-ca-file");
}

TEST_F(NotifierTest, StartRejectsBadOptions) {
  NotifierOptions options = Options("gopher://x/");
  EXPECT_EQ(Notifier::Start(options, store_.get(), &clock_).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options("http://127.0.0.1:1/");
  options.hmac_key.clear();
  EXPECT_EQ(Notifier::Start(options, store_.get(), &clock_).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options("http://127.0.0.1:1/");
  options.lease = options.request_timeout;
  EXPECT_EQ(Notifier::Start(options, store_.get(), &clock_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(NotifierTest, DeliversEveryNotifiedEventSignedWithItsFields) {
  Receiver receiver;
  auto notifier = StartNotifier(Options(HttpUrlOf(receiver)));

  Create("tok-1");
  TokenUpdate update;
  update.name = "renamed";
  update.now = clock_.Now();
  update.updated_by = "admin";
  ASSERT_TRUE(
      store_->Update("tok-1", update, Audit("token.update", "tok-1")).ok());
  Rotation rotation;
  rotation.new_digest = DigestOf("dpt_rotated_value");
  rotation.short_token = "dpt_Rt12...9xYz";
  rotation.now = clock_.Now();
  rotation.updated_by = "admin";
  ASSERT_TRUE(
      store_->Rotate("tok-1", rotation, Audit("token.rotate", "tok-1")).ok());
  ReuseSighting sighting;
  sighting.token_id = "tok-1";
  sighting.time = clock_.Now();
  sighting.verifier_name = "verifier-a";
  sighting.client_address = "10.0.0.7";
  AuditEntry reuse = Audit("token.reuse_detected", "tok-1");
  reuse.principal = "verifier-a";
  reuse.deployment_id.clear();  // the store fills it
  ASSERT_TRUE(store_->RecordReuse(sighting, reuse).ok());
  Create("tok-2", clock_.Now() + absl::Hours(24 * 5));
  Create("tok-3", clock_.Now() - absl::Seconds(1));
  absl::StatusOr<std::vector<ExpiryNotice>> notices =
      store_->RecordExpiryNotices(clock_.Now(), {30, 7, 1, 0}, "expiry-sweep");
  ASSERT_TRUE(notices.ok()) << notices.status();
  ASSERT_EQ(notices->size(), 2u);
  AuditEntry denied = Audit("token.delete", "tok-1");
  denied.outcome = "PERMISSION_DENIED";
  ASSERT_TRUE(store_->RecordAudit(denied).ok());
  AuditEntry deleted = Audit("token.delete", "tok-1");
  deleted.deployment_id.clear();
  ASSERT_TRUE(store_->Delete("tok-1", deleted).ok());
  notifier->Wake();

  // create x3, rotate, reuse_detected, expiring, expired, delete; not the
  // update nor the denied delete.
  const std::set<int64_t> expected = NotifiedIds();
  ASSERT_EQ(expected.size(), 8u);
  DriveUntil(clock_, [&] { return receiver.accepted() == expected; });
  notifier->Stop();

  absl::StatusOr<std::vector<AuditEntry>> audit =
      store_->ListAudit("dep-1", 0, 1000);
  ASSERT_TRUE(audit.ok());
  std::map<int64_t, AuditEntry> by_id;
  for (const AuditEntry& entry : *audit) by_id[entry.id] = entry;
  std::multiset<std::string> events;
  for (const Received& r : receiver.received()) {
    SCOPED_TRACE(r.body);
    ASSERT_EQ(by_id.count(r.delivery), 1);
    const AuditEntry& entry = by_id[r.delivery];
    events.insert(r.event);
    EXPECT_EQ(r.target, "/hooks/tokens");
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(r.event, entry.action);
    EXPECT_EQ(r.signature, ExpectedSignature(r.body));
    EXPECT_EQ(r.body, RenderNotificationJson(entry));
    EXPECT_THAT(r.body,
                HasSubstr(absl::StrCat("{\"id\":", r.delivery, ",\"event\":\"",
                                       r.event, "\",\"time\":\"2026-01-01T")));
    EXPECT_THAT(r.body, HasSubstr("\"deployment_id\":\"dep-1\""));
    EXPECT_THAT(r.body, HasSubstr("\"outcome\":\"OK\""));
    // No value, no digest.
    EXPECT_THAT(r.body, Not(HasSubstr("dpt_")));
    for (const std::string& value : {std::string("dpt_value_of_tok-1"),
                                     std::string("dpt_rotated_value")}) {
      EXPECT_THAT(r.body, Not(HasSubstr(DigestPrefixHex(DigestOf(value)))));
    }
  }
  EXPECT_EQ(events, (std::multiset<std::string>{
                        "token.create", "token.create", "token.create",
                        "token.rotate", "token.reuse_detected",
                        "token.expiring", "token.expired", "token.delete"}));
  for (const Received& r : receiver.received()) {
    if (r.event == "token.create") {
      EXPECT_THAT(r.body, HasSubstr("\"principal\":\"admin\""));
    }
    if (r.event == "token.reuse_detected") {
      EXPECT_THAT(r.body, HasSubstr("\"token_id\":\"tok-1\""));
      EXPECT_THAT(r.body, HasSubstr("\"principal\":\"verifier-a\""));
    }
    if (r.event == "token.expiring") {
      EXPECT_THAT(r.body, HasSubstr("\"token_id\":\"tok-2\""));
      EXPECT_THAT(r.body, HasSubstr("\"principal\":\"expiry-sweep\""));
    }
  }
  const NotifierStats stats = notifier->stats();
  EXPECT_EQ(stats.delivered_total, 8);
  EXPECT_EQ(stats.failed_attempts_total, 0);
  EXPECT_EQ(stats.consecutive_failures, 0);
  EXPECT_NE(stats.last_delivery_time, absl::InfinitePast());
  EXPECT_THAT(Outbox(), IsEmpty());
}

TEST_F(NotifierTest, ServerErrorsAreRetriedUntilAccepted) {
  Receiver receiver;
  receiver.AnswerNext({500, 503, 500});
  auto notifier = StartNotifier(Options(HttpUrlOf(receiver)));
  for (const char* id : {"tok-a", "tok-b", "tok-c"}) Create(id);
  notifier->Wake();
  const std::set<int64_t> expected = NotifiedIds();
  ASSERT_EQ(expected.size(), 3u);
  DriveUntil(clock_, [&] { return receiver.accepted() == expected; });
  notifier->Stop();

  // Three refusals, each redelivered under the same delivery id and body.
  std::map<int64_t, std::set<std::string>> bodies;
  int refused = 0;
  for (const Received& r : receiver.received()) {
    bodies[r.delivery].insert(r.body);
    EXPECT_EQ(r.signature, ExpectedSignature(r.body));
    if (r.answer != 200) ++refused;
  }
  EXPECT_EQ(refused, 3);
  for (const auto& [id, seen] : bodies) EXPECT_EQ(seen.size(), 1) << id;
  const NotifierStats stats = notifier->stats();
  EXPECT_EQ(stats.failed_attempts_total, 3);
  EXPECT_EQ(stats.delivered_total, 3);
  EXPECT_EQ(stats.consecutive_failures, 0);
  EXPECT_THAT(Outbox(), IsEmpty());
}

// Holds a port while nothing listens on it: connections are refused, and a
// receiver can take the port over later (both sockets use SO_REUSEADDR, and
// this one never listens).
class RefusingPort {
 public:
  RefusingPort() : socket_(ioc_) {
    socket_.open(boost::asio::ip::tcp::v4());
    socket_.set_option(boost::asio::socket_base::reuse_address(true));
    socket_.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
  }
  int port() const { return socket_.local_endpoint().port(); }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
};

TEST_F(NotifierTest, ReceiverDownThenUpGetsEveryEvent) {
  RefusingPort down;
  auto notifier = StartNotifier(
      Options(absl::StrCat("http://127.0.0.1:", down.port(), "/hook")));
  for (int i = 0; i < 5; ++i) Create(absl::StrCat("tok-", i));
  notifier->Wake();
  const std::set<int64_t> expected = NotifiedIds();
  ASSERT_EQ(expected.size(), 5u);
  DriveUntil(clock_,
             [&] { return notifier->stats().failed_attempts_total >= 4; });
  EXPECT_GE(notifier->stats().consecutive_failures, 4);
  // Failing, it tries one row at a time; a failed batch puts the rest back
  // unattempted. So every row is still waiting.
  Receiver receiver(absl::StrCat("127.0.0.1:", down.port()));
  DriveUntil(clock_, [&] { return receiver.accepted() == expected; });
  notifier->Stop();
  EXPECT_EQ(notifier->stats().delivered_total, 5);
  EXPECT_EQ(notifier->stats().consecutive_failures, 0);
  EXPECT_THAT(Outbox(), IsEmpty());
  EXPECT_THAT(notifier->RenderMetrics(),
              HasSubstr("token_service_notifications_delivered_total 5\n"));
}

TEST_F(NotifierTest, SlowReceiverNeverBlocksWritesOrWake) {
  Receiver receiver;
  receiver.Hold();
  NotifierOptions options = Options(HttpUrlOf(receiver));
  // The held request must not time out, however slow the machine.
  options.request_timeout = absl::Hours(1);
  options.lease = absl::Hours(2);
  auto notifier = StartNotifier(options);
  Create("tok-first");
  notifier->Wake();
  receiver.AwaitHeld(1);

  // The receiver holds the notifier's request open: writes (what every RPC
  // does), Wake (what every RPC calls after its write), stats and metrics
  // all return meanwhile.
  for (int i = 0; i < 20; ++i) {
    Create(absl::StrCat("tok-", i));
    notifier->Wake();
  }
  Rotation rotation;
  rotation.new_digest = DigestOf("dpt_rotated");
  rotation.now = clock_.Now();
  rotation.updated_by = "admin";
  ASSERT_TRUE(
      store_->Rotate("tok-1", rotation, Audit("token.rotate", "tok-1")).ok());
  ASSERT_TRUE(store_->Delete("tok-2", Audit("token.delete", "tok-2")).ok());
  notifier->Wake();
  EXPECT_EQ(notifier->stats().delivered_total, 0);
  EXPECT_THAT(notifier->RenderMetrics(),
              HasSubstr("token_service_notifications_delivered_total 0\n"));
  EXPECT_EQ(receiver.held(), 1);  // still holding the first request

  receiver.Release();
  const std::set<int64_t> expected = NotifiedIds();
  ASSERT_EQ(expected.size(), 23u);
  DriveUntil(clock_, [&] { return receiver.accepted() == expected; });
  notifier->Stop();
  EXPECT_THAT(Outbox(), IsEmpty());
}

TEST_F(NotifierTest, StopEndsAHeldDeliveryAndANewNotifierDeliversIt) {
  Receiver receiver;
  receiver.Hold();
  NotifierOptions options = Options(HttpUrlOf(receiver));
  options.request_timeout = absl::Hours(1);
  options.lease = absl::Hours(2);
  auto notifier = StartNotifier(options);
  receiver.AnswerNext({500});  // for the held request, which nobody reads
  Create("tok-held");
  notifier->Wake();
  receiver.AwaitHeld(1);
  notifier->Stop();  // returns although the receiver never answers
  notifier.reset();
  receiver.Release();

  // The row stays in the outbox, leased: due again when the lease ends.
  const std::set<int64_t> expected = NotifiedIds();
  ASSERT_EQ(expected.size(), 1u);
  notifier = StartNotifier(options);
  DriveUntil(
      clock_, [&] { return receiver.accepted() == expected; },
      absl::Minutes(1));
  EXPECT_EQ(receiver.received().size(), 2u);
  EXPECT_EQ(notifier->stats().failed_attempts_total, 0);
  notifier->Stop();
  EXPECT_THAT(Outbox(), IsEmpty());
}

TEST_F(NotifierTest, UndeliveredEventsSurviveARestart) {
  Receiver receiver;
  receiver.AnswerNext(std::vector<int>(1000, 500));  // refuses everything
  auto notifier = StartNotifier(Options(HttpUrlOf(receiver)));
  for (int i = 0; i < 4; ++i) Create(absl::StrCat("tok-", i));
  notifier->Wake();
  DriveUntil(clock_,
             [&] { return notifier->stats().failed_attempts_total >= 3; });
  const std::set<int64_t> expected = NotifiedIds();
  ASSERT_EQ(expected.size(), 4u);

  // TokenService stops, its database closes; a new one opens the same file.
  notifier.reset();
  store_.reset();
  store_ = OpenStore(path_);
  Receiver healthy;
  notifier = StartNotifier(Options(HttpUrlOf(healthy)));
  DriveUntil(clock_, [&] { return healthy.accepted() == expected; });
  notifier->Stop();
  EXPECT_THAT(Outbox(), IsEmpty());
  EXPECT_THAT(receiver.accepted(), IsEmpty());
}

class NotifierHttpsTest : public NotifierTest {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::WebhookTestCerts> certs =
        testing::MakeWebhookTestCerts(TempDir());
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
  }
  testing::WebhookTestCerts certs_;
};

TEST_F(NotifierHttpsTest, DeliversOverTlsTrustingTheCaFile) {
  Receiver receiver("127.0.0.1:0", {certs_.server_cert, certs_.server_key});
  NotifierOptions options = Options(
      absl::StrCat("https://localhost:", receiver.port(), "/hooks/tokens"));
  options.ca_file = certs_.ca_cert;
  auto notifier = StartNotifier(options);
  Create("tok-tls");
  notifier->Wake();
  const std::set<int64_t> expected = NotifiedIds();
  DriveUntil(clock_, [&] { return receiver.accepted() == expected; });
  notifier->Stop();
  ASSERT_EQ(receiver.received().size(), 1u);
  const Received r = receiver.received()[0];
  EXPECT_EQ(r.signature, ExpectedSignature(r.body));
  EXPECT_EQ(r.event, "token.create");
  EXPECT_THAT(Outbox(), IsEmpty());
}

TEST_F(NotifierHttpsTest, AWrongCaFailsDeliveryAndKeepsRetrying) {
  Receiver receiver("127.0.0.1:0", {certs_.server_cert, certs_.server_key});
  const std::string url =
      absl::StrCat("https://localhost:", receiver.port(), "/hooks/tokens");
  NotifierOptions options = Options(url);
  options.ca_file = certs_.other_ca_cert;
  auto notifier = StartNotifier(options);
  Create("tok-tls");
  notifier->Wake();
  DriveUntil(clock_,
             [&] { return notifier->stats().failed_attempts_total >= 3; });
  notifier.reset();
  EXPECT_THAT(receiver.received(), IsEmpty());  // no request got through

  // With the right CA the same row is delivered: nothing was lost.
  options.ca_file = certs_.ca_cert;
  notifier = StartNotifier(options);
  const std::set<int64_t> expected = NotifiedIds();
  DriveUntil(clock_, [&] { return receiver.accepted() == expected; });
  notifier->Stop();
  EXPECT_THAT(Outbox(), IsEmpty());
}

}  // namespace
}  // namespace tokens
