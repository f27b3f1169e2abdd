#include "services/caller_registry.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/file_util.h"
#include "common/status_macros.h"

namespace tokens {
namespace {

bool IsCallerRecordValid(const CallerRecord& caller) {
  if (caller.name.empty() || !IsCallerRoleName(caller.role) ||
      caller.key_digest_hex.size() != 64) {
    return false;
  }
  for (char c : caller.key_digest_hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> CallerRegistry::GenerateKey() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return absl::InternalError("CSPRNG unavailable");
  }
  return absl::StrCat(
      "tkk_", absl::BytesToHexString(absl::string_view(
                  reinterpret_cast<const char*>(bytes), sizeof(bytes))));
}

std::string CallerRegistry::KeyDigestHex(const std::string& key) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(),
         digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

absl::StatusOr<std::unique_ptr<CallerRegistry>> CallerRegistry::Parse(
    const std::string& text) {
  std::vector<CallerRecord> callers;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> parts =
        absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (parts.size() != 3 ||
        !IsCallerRecordValid({parts[0], parts[1], parts[2]})) {
      return absl::InvalidArgumentError(absl::StrCat(
          "credentials line ", line_number,
          ": want `<name> <admin|verifier|reporter> <sha256-hex>`"));
    }
    callers.push_back({parts[0], parts[1], parts[2]});
  }
  auto registry = std::make_unique<CallerRegistry>();
  RETURN_IF_ERROR(registry->Replace(callers));
  return registry;
}

std::unique_ptr<CallerRegistry> CallerRegistry::NotLoaded() {
  auto registry = std::make_unique<CallerRegistry>();
  absl::MutexLock lock(&registry->mu_);
  registry->loaded_ = false;
  return registry;
}

std::optional<CallerRole> CallerRoleFromName(const std::string& name) {
  constexpr CallerRole kRoles[] = {CallerRole::kAdmin, CallerRole::kVerifier,
                                   CallerRole::kReporter};
  static_assert(std::size(kRoles) == std::size(kCallerRoleNames));
  for (size_t i = 0; i < std::size(kRoles); ++i) {
    if (name == kCallerRoleNames[i]) return kRoles[i];
  }
  return std::nullopt;
}

absl::Status CallerRegistry::Replace(const std::vector<CallerRecord>& callers) {
  absl::flat_hash_map<std::string, Principal> by_digest;
  for (const CallerRecord& caller : callers) {
    if (!IsCallerRecordValid(caller)) {
      return absl::InvalidArgumentError(
          absl::StrCat("caller '", caller.name, "': want role ",
                       kCallerRoleList, " and a sha256 hex digest"));
    }
    by_digest[absl::AsciiStrToLower(caller.key_digest_hex)] =
        Principal{caller.name, *CallerRoleFromName(caller.role)};
  }
  absl::MutexLock lock(&mu_);
  by_digest_ = std::move(by_digest);
  loaded_ = true;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CallerRegistry>> CallerRegistry::LoadOrCreate(
    const std::string& data_dir) {
  const std::string path = absl::StrCat(data_dir, "/", kCredentialsFile);
  if (access(path.c_str(), F_OK) != 0) {
    auto admin_key = GenerateKey();
    auto verifier_key = GenerateKey();
    if (!admin_key.ok()) return admin_key.status();
    if (!verifier_key.ok()) return verifier_key.status();
    std::string text = absl::StrCat(
        "# TokenService callers: <name> <role> <sha256 of key>. Keys are not "
        "stored here.\n",
        "admin admin ", KeyDigestHex(*admin_key), "\n", "verifier verifier ",
        KeyDigestHex(*verifier_key), "\n");
    for (const auto& [file, content] :
         {std::pair<std::string, std::string>{kAdminKeyFile, *admin_key + "\n"},
          {kVerifierKeyFile, *verifier_key + "\n"},
          {kCredentialsFile, text}}) {
      absl::Status written =
          WritePrivateFile(absl::StrCat(data_dir, "/", file), content);
      if (!written.ok()) return written;
    }
  }
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  return Parse(*text);
}

absl::StatusOr<Principal> CallerRegistry::Authenticate(
    const std::string& key) const {
  const std::string digest = KeyDigestHex(key);
  absl::ReaderMutexLock lock(&mu_);
  if (!loaded_) {
    return absl::UnavailableError(
        "TokenService has not read its callers from the database yet");
  }
  auto it = by_digest_.find(digest);
  if (it == by_digest_.end()) {
    return absl::UnauthenticatedError("unknown caller key");
  }
  return it->second;
}

}  // namespace tokens
