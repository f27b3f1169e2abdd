#include "services/caller_registry.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/file_util.h"

namespace tokens {

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
  auto registry = std::make_unique<CallerRegistry>();
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> parts =
        absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (parts.size() != 3 || parts[2].size() != 64 ||
        (parts[1] != "admin" && parts[1] != "verifier")) {
      return absl::InvalidArgumentError(
          absl::StrCat("credentials line ", line_number,
                       ": want `<name> <admin|verifier> <sha256-hex>`"));
    }
    registry->by_digest_[parts[2]] =
        Principal{parts[0], parts[1] == "admin" ? CallerRole::kAdmin
                                                : CallerRole::kVerifier};
  }
  return registry;
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
  auto it = by_digest_.find(KeyDigestHex(key));
  if (it == by_digest_.end()) {
    return absl::UnauthenticatedError("unknown caller key");
  }
  return it->second;
}

}  // namespace tokens
