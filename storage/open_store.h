// OpenStore: the one place that picks the database. Without a database URL it
// is the embedded SQLite file `tokens.db` in the data directory (one
// TokenService process); with one it is PostgreSQL, shared by any number of
// stateless TokenService replicas, which also keeps their ClusterState.
#ifndef STORAGE_OPEN_STORE_H_
#define STORAGE_OPEN_STORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/cluster_state.h"
#include "storage/token_store.h"

namespace tokens {

struct StoreOptions {
  // Holds tokens.db when `database` is empty.
  std::string data_dir;
  // A libpq URI (postgresql://user@host:port/db?...); empty = SQLite.
  std::string database;
  // PostgreSQL connections kept open.
  int pool_size = 8;
  // SQLite synchronous=FULL (PostgreSQL's durability is the server's).
  bool synchronous_full = true;
  // Change-log entries kept for verifiers to resume from. On PostgreSQL the
  // first replica's value is stored and every replica uses that one.
  int64_t change_retention = 100000;
  // How long revoked values are remembered after their revoke_time (>= 0).
  absl::Duration revoked_retention = absl::Hours(24 * 30);
  // Queue notified audit events in the outbox (TokenService --notify-url).
  bool notification_outbox = false;
};

struct OpenedStore {
  std::unique_ptr<TokenStore> store;
  // What replicas share (callers, secrets), owned by `store`; null for SQLite,
  // whose data directory holds those as files.
  ClusterState* cluster = nullptr;
};

// Errors: InvalidArgument for a bad option or URL (the message names
// --database), PermissionDenied when PostgreSQL refuses the credentials or has
// no such database, what the SQLite store's Open returns. A PostgreSQL server
// that cannot be reached yet is no error: the store answers Unavailable until
// it can.
absl::StatusOr<OpenedStore> OpenStore(const StoreOptions& options);

}  // namespace tokens

#endif  // STORAGE_OPEN_STORE_H_
