// CallerRegistry: who may call TokenService. Loaded from the credentials file
// in the data directory, which holds one line per caller: `<name> <role>
// <sha256-hex of key>`; keys themselves are never stored there. Immutable after
// loading, so thread-safe.
//
// On first start (no credentials file) LoadOrCreate generates one admin and one
// verifier key, writes them to `admin.key` and `verifier.key` (mode 0600) for
// the quick start, and records their digests in `credentials` (mode 0600).
#ifndef SERVICES_CALLER_REGISTRY_H_
#define SERVICES_CALLER_REGISTRY_H_

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace tokens {

enum class CallerRole { kAdmin, kVerifier };

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

  // The principal owning `key`; Unauthenticated when no caller has it.
  absl::StatusOr<Principal> Authenticate(const std::string& key) const;

  // A new random caller key (`tkk_` + 64 hex characters).
  static absl::StatusOr<std::string> GenerateKey();
  static std::string KeyDigestHex(const std::string& key);

 private:
  absl::flat_hash_map<std::string, Principal> by_digest_;
};

}  // namespace tokens

#endif  // SERVICES_CALLER_REGISTRY_H_
