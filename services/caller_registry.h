// CallerRegistry: who may call TokenService, by the SHA-256 of each caller's
// key (keys themselves are never stored).
//
// With the SQLite default it is loaded from the credentials file in the data
// directory, one line per caller: `<name> <role> <sha256-hex of key>`. On first
// start (no credentials file) LoadOrCreate generates one admin and one verifier
// key, writes them to `admin.key` and `verifier.key` (mode 0600) for the quick
// start, and records their digests in `credentials` (mode 0600).
//
// With PostgreSQL the callers live in the database (storage/cluster_state.h):
// the registry starts empty and not loaded (Authenticate answers Unavailable)
// and ClusterSync Replace()s its contents whenever it reads the table.
//
// Thread-safe.
#ifndef SERVICES_CALLER_REGISTRY_H_
#define SERVICES_CALLER_REGISTRY_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "storage/cluster_state.h"

namespace tokens {

// kCallerRoleNames (storage/cluster_state.h) in this order.
enum class CallerRole { kAdmin, kVerifier, kReporter };

// The role a credentials-file name spells; nullopt for any other name.
std::optional<CallerRole> CallerRoleFromName(const std::string& name);

// An authenticated caller.
struct Principal {
  std::string name;
  CallerRole role = CallerRole::kAdmin;
};

class CallerRegistry {
 public:
  static constexpr char kCredentialsFile[] = "credentials";
  static constexpr char kAdminKeyFile[] = "admin.key";
  static constexpr char kVerifierKeyFile[] = "verifier.key";

  // Reads `data_dir/credentials`, creating it and the two key files when
  // absent. Errors: Internal when a file cannot be read or written;
  // InvalidArgument on a bad line.
  static absl::StatusOr<std::unique_ptr<CallerRegistry>> LoadOrCreate(
      const std::string& data_dir);

  // Parses credentials-file text.
  static absl::StatusOr<std::unique_ptr<CallerRegistry>> Parse(
      const std::string& text);

  // An empty registry that is not loaded yet (for callers in a database).
  static std::unique_ptr<CallerRegistry> NotLoaded();

  // Replaces every caller; the registry is loaded from now on. InvalidArgument
  // (and nothing changes) when a record has a bad role or digest.
  absl::Status Replace(const std::vector<CallerRecord>& callers);

  // The principal owning `key`; Unauthenticated when no caller has it,
  // Unavailable while the registry is not loaded.
  absl::StatusOr<Principal> Authenticate(const std::string& key) const;

  // A new random caller key (`tkk_` + 64 hex characters).
  static absl::StatusOr<std::string> GenerateKey();
  static std::string KeyDigestHex(const std::string& key);

 private:
  mutable absl::Mutex mu_;
  bool loaded_ ABSL_GUARDED_BY(mu_) = true;
  absl::flat_hash_map<std::string, Principal> by_digest_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tokens

#endif  // SERVICES_CALLER_REGISTRY_H_
