#include "services/callers_command.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "services/caller_registry.h"
#include "storage/open_store.h"

namespace tokens {
namespace {

constexpr char kUsage[] =
    "usage: token_service callers list|add NAME admin|verifier|remove NAME "
    "--database URL";

int Fail(std::FILE* err, const absl::Status& status) {
  std::fprintf(err, "%s\n", std::string(status.message()).c_str());
  return absl::IsInvalidArgument(status) || absl::IsPermissionDenied(status) ||
                 absl::IsAlreadyExists(status) || absl::IsNotFound(status)
             ? 2
             : 1;
}

bool IsCallerName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

int RunCallersCommand(const std::vector<std::string>& args,
                      const std::string& database, std::FILE* out,
                      std::FILE* err) {
  if (args.empty()) {
    std::fprintf(err, "%s\n", kUsage);
    return 2;
  }
  const std::string& verb = args[0];
  const size_t want = verb == "list" ? 1 : verb == "add" ? 3 : 2;
  if ((verb != "list" && verb != "add" && verb != "remove") ||
      args.size() != want) {
    std::fprintf(err, "%s\n", kUsage);
    return 2;
  }
  if (database.empty()) {
    std::fprintf(err,
                 "--database: callers are kept in PostgreSQL; with the SQLite "
                 "default edit the data directory's credentials file\n");
    return 2;
  }
  if (verb != "list" && !IsCallerName(args[1])) {
    std::fprintf(err, "NAME: 1-64 letters, digits, '-', '_' or '.', got '%s'\n",
                 args[1].c_str());
    return 2;
  }
  if (verb == "add" && !IsCallerRoleName(args[2])) {
    std::fprintf(err, "ROLE: want %s, got '%s'\n", kCallerRoleList,
                 args[2].c_str());
    return 2;
  }

  StoreOptions options;
  options.database = database;
  options.pool_size = 1;
  auto opened = OpenStore(options);
  if (!opened.ok()) return Fail(err, opened.status());
  ClusterState* cluster = opened->cluster;

  if (verb == "list") {
    auto callers = cluster->ListCallers();
    if (!callers.ok()) return Fail(err, callers.status());
    for (const CallerRecord& caller : *callers) {
      std::fprintf(out, "%s %s\n", caller.name.c_str(), caller.role.c_str());
    }
    return 0;
  }
  if (verb == "remove") {
    if (absl::Status removed = cluster->RemoveCaller(args[1]); !removed.ok()) {
      return Fail(err, removed);
    }
    std::fprintf(err, "removed caller %s\n", args[1].c_str());
    return 0;
  }
  auto key = CallerRegistry::GenerateKey();
  if (!key.ok()) return Fail(err, key.status());
  if (absl::Status added = cluster->AddCaller(
          {args[1], args[2], CallerRegistry::KeyDigestHex(*key)});
      !added.ok()) {
    return Fail(err, added);
  }
  // The key is shown this once; only its digest is stored.
  std::fprintf(out, "%s\n", key->c_str());
  std::fprintf(err, "added caller %s (%s); the key above is shown once\n",
               args[1].c_str(), args[2].c_str());
  return 0;
}

}  // namespace tokens
