#include "services/token_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <openssl/rand.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "storage/sqlite_token_store.h"

namespace tokens {
namespace {

// The HMAC key for page tokens, kept in the data directory so tokens survive a
// restart.
absl::StatusOr<std::string> LoadOrCreatePageKey(const std::string& data_dir) {
  const std::string path = absl::StrCat(data_dir, "/page_token.key");
  if (access(path.c_str(), F_OK) != 0) {
    unsigned char key[32];
    if (RAND_bytes(key, sizeof(key)) != 1) {
      return absl::InternalError("CSPRNG unavailable");
    }
    absl::Status written = WritePrivateFile(
        path, std::string(reinterpret_cast<char*>(key), sizeof(key)));
    if (!written.ok()) return written;
  }
  return ReadFile(path);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenServer>> TokenServer::BuildAndStart(
    const TokenServerOptions& options, Clock* clock) {
  auto credentials = ServerCredentialsFrom(options.tls);
  if (!credentials.ok()) return credentials.status();
  std::unique_ptr<TokenServer> server(new TokenServer);
  if (absl::Status s = MakePrivateDirectory(options.data_dir); !s.ok()) {
    return s;
  }
  auto callers = CallerRegistry::LoadOrCreate(options.data_dir);
  if (!callers.ok()) return callers.status();
  server->callers_ = *std::move(callers);

  auto page_key = LoadOrCreatePageKey(options.data_dir);
  if (!page_key.ok()) return page_key.status();
  server->pages_ = std::make_unique<PageTokenCodec>(*page_key);

  SqliteTokenStoreOptions store_options;
  store_options.path = absl::StrCat(options.data_dir, "/tokens.db");
  store_options.synchronous_full = options.synchronous_full;
  store_options.change_retention = options.change_retention;
  auto store = SqliteTokenStore::Open(store_options);
  if (!store.ok()) return store.status();
  server->store_ = *std::move(store);

  server->feed_ = std::make_unique<ChangeFeed>(options.heartbeat_interval);
  TokenManagerOptions manager_options;
  manager_options.max_expiration_days = options.max_expiration_days;
  server->manager_ = std::make_unique<TokenManager>(
      server->store_.get(), clock, server->pages_.get(), server->feed_.get(),
      manager_options);
  server->pool_ = std::make_unique<WorkPool>(options.work_threads,
                                             /*max_queued=*/10000);
  server->service_ = std::make_unique<TokenService>(
      server->manager_.get(), server->callers_.get(), server->store_.get(),
      server->feed_.get(), server->pool_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, *credentials, &server->port_);
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen));
  }
  server->server_->GetHealthCheckService()->SetServingStatus(true);
  return server;
}

void TokenServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  feed_->CloseAll();
  server_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoMilliseconds(grace));
  server_->Wait();
}

TokenServer::~TokenServer() {
  if (server_ != nullptr) Shutdown();
}

}  // namespace tokens
