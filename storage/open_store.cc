#include "storage/open_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "storage/postgres_token_store.h"
#include "storage/sqlite_token_store.h"

namespace tokens {

absl::StatusOr<OpenedStore> OpenStore(const StoreOptions& options) {
  OpenedStore opened;
  if (options.database.empty()) {
    SqliteTokenStoreOptions sqlite;
    sqlite.path = absl::StrCat(options.data_dir, "/tokens.db");
    sqlite.synchronous_full = options.synchronous_full;
    sqlite.change_retention = options.change_retention;
    sqlite.revoked_retention = options.revoked_retention;
    sqlite.notification_outbox = options.notification_outbox;
    auto store = SqliteTokenStore::Open(sqlite);
    if (!store.ok()) return store.status();
    opened.store = *std::move(store);
    return opened;
  }
  PostgresTokenStoreOptions postgres;
  postgres.url = options.database;
  postgres.pool_size = options.pool_size;
  postgres.change_retention = options.change_retention;
  postgres.revoked_retention = options.revoked_retention;
  postgres.notification_outbox = options.notification_outbox;
  auto store = PostgresTokenStore::Open(postgres);
  if (!store.ok()) return store.status();
  opened.cluster = store->get();
  opened.store = *std::move(store);
  return opened;
}

}  // namespace tokens
