#include "cli/credentials.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/token_value.h"

namespace tokens::cli {
namespace {

std::optional<std::string> NonEmpty(const EnvLookup& env, const char* name) {
  std::optional<std::string> value = env(name);
  if (value.has_value() && value->empty()) return std::nullopt;
  return value;
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

absl::StatusOr<ApiToken> ResolveApiToken(const EnvLookup& env) {
  std::optional<std::string> token = NonEmpty(env, "ASTRO_API_TOKEN");
  std::optional<std::string> key_id = NonEmpty(env, "ASTRONOMER_KEY_ID");
  std::optional<std::string> key_secret =
      NonEmpty(env, "ASTRONOMER_KEY_SECRET");
  const bool any_pair = key_id.has_value() || key_secret.has_value();

  ApiToken result;
  if (token.has_value()) {
    result.value = *token;
    result.source = "ASTRO_API_TOKEN";
    if (any_pair) {
      result.warnings.push_back(
          "warning: ASTRONOMER_KEY_ID/ASTRONOMER_KEY_SECRET (deprecated "
          "Deployment API keys) are ignored because ASTRO_API_TOKEN is set");
    }
  } else if (key_id.has_value() && key_secret.has_value()) {
    result.value = *key_secret;
    result.source = "ASTRONOMER_KEY_SECRET";
    result.warnings.push_back(
        "warning: ASTRONOMER_KEY_ID/ASTRONOMER_KEY_SECRET are deprecated; "
        "set ASTRO_API_TOKEN to a Deployment API token instead");
  } else if (any_pair) {
    return absl::UnauthenticatedError(absl::StrCat(
        "no Deployment API token: ASTRO_API_TOKEN is not set and the "
        "deprecated pair is incomplete (",
        key_id.has_value() ? "ASTRONOMER_KEY_SECRET" : "ASTRONOMER_KEY_ID",
        " is not set)"));
  } else {
    return absl::UnauthenticatedError(
        "no Deployment API token: set ASTRO_API_TOKEN");
  }
  if (!IsWellFormedTokenValue(result.value)) {
    return absl::UnauthenticatedError(absl::StrCat(
        result.source,
        " is malformed: a Deployment API token is dpt_ followed by 49 letters "
        "and digits (check for a truncated or mistyped value)"));
  }
  return result;
}

std::string FlagEnvOrDefault(const std::optional<std::string>& flag,
                             const EnvLookup& env, const char* variable,
                             const std::string& fallback) {
  if (flag.has_value()) return *flag;
  if (std::optional<std::string> value = NonEmpty(env, variable)) {
    return *value;
  }
  return fallback;
}

absl::StatusOr<std::string> ReadAdminKey(const std::string& path) {
  absl::StatusOr<std::string> key = ReadKeyFile(path);
  if (!key.ok() || key->empty()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "cannot read the admin key from ", path,
        " (start the servers with `make run`, or pass --admin-key-file or set "
        "TOKENS_ADMIN_KEY_FILE)"));
  }
  return *key;
}

}  // namespace tokens::cli
