// Where tokenctl finds its credentials and servers: flags first, then the
// environment, then the documented defaults (docs/operations.md). Pure
// functions of an environment lookup, so tests pass a map instead of touching
// the process environment. Thread-safe.
//
// The Deployment API token (what `tokenctl check` acts with):
//   1. ASTRO_API_TOKEN, when set and non-empty.
//   2. Otherwise the deprecated Deployment API key pair ASTRONOMER_KEY_ID +
//      ASTRONOMER_KEY_SECRET, when both are set: the secret is treated as the
//      token value (the id names the key and is not sent). Using it prints a
//      deprecation warning.
//   When both kinds are set, ASTRO_API_TOKEN wins and a warning says the pair
//   is ignored. A value never appears in a message.
//
// The admin key (what the management commands act with) is read from
// --admin-key-file, else TOKENS_ADMIN_KEY_FILE, else ./var/admin.key (the
// file `make run` generates).
#ifndef CLI_CREDENTIALS_H_
#define CLI_CREDENTIALS_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tokens::cli {

// Returns the variable's value, or nullopt when it is unset.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;

// The process environment.
EnvLookup ProcessEnv();

inline constexpr char kDefaultServiceAddress[] = "127.0.0.1:50051";
inline constexpr char kDefaultVerifierAddress[] = "127.0.0.1:50061";
inline constexpr char kDefaultAdminKeyFile[] = "./var/admin.key";

struct ApiToken {
  std::string value;
  // "ASTRO_API_TOKEN" or "ASTRONOMER_KEY_SECRET": names where it came from.
  std::string source;
  // Lines to print on stderr (deprecation notices), without any value.
  std::vector<std::string> warnings;
};

// The token to act with. Unauthenticated when none is set (naming the
// variables to set) or when the chosen value is not a well-formed token
// (saying which variable is malformed, never its value).
absl::StatusOr<ApiToken> ResolveApiToken(const EnvLookup& env);

// `flag` when given, else the variable when set and non-empty, else
// `fallback`.
std::string FlagEnvOrDefault(const std::optional<std::string>& flag,
                             const EnvLookup& env, const char* variable,
                             const std::string& fallback);

// Reads the admin key from `path`. Unauthenticated naming the path (never the
// key) when it cannot be read or is empty.
absl::StatusOr<std::string> ReadAdminKey(const std::string& path);

}  // namespace tokens::cli

#endif  // CLI_CREDENTIALS_H_
