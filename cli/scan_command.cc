// `tokenctl scan`: finds token values in files (cli/scan_files.h), prints
// where they are with a hint (never a value), and optionally asks
// TokenService whether they are live (--check) or reports them as leaked
// (--report), by digest (cli/scan_remote.h).
#include <unistd.h>

#include <limits>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/scan_files.h"
#include "cli/scan_remote.h"
#include "common/json_log.h"
#include "common/token_value.h"
#include "common/validation.h"

namespace tokens::cli {
namespace {

const std::vector<std::string> kOutputs = {"table", "json"};
// ReportLeakedTokensRequest.location's limit.

struct Finding {
  std::string path;
  uint64_t line = 0;
  uint64_t column = 0;
  std::string hint;
  size_t digest = 0;  // index into ScanResult::digests
};

struct ScanResult {
  std::vector<Finding> findings;
  std::vector<Digest> digests;  // distinct, in order of first finding
  std::map<Digest, size_t> index;
  ScanTotals totals;
};

std::string Where(const Finding& finding) {
  return absl::StrCat(finding.path, ":", finding.line, ":", finding.column);
}

std::string JsonStart(const Finding& finding) {
  return absl::StrCat("{\"path\":\"", JsonEscape(finding.path),
                      "\",\"line\":", finding.line,
                      ",\"column\":", finding.column, ",\"hint\":\"",
                      JsonEscape(finding.hint), "\"");
}

// One line for a finding; `lookup` when --check asked.
std::string FindingLine(const Finding& finding, OutputFormat format,
                        const v1::TokenLookup* lookup) {
  if (format == OutputFormat::kJson) {
    std::string line = JsonStart(finding);
    if (lookup != nullptr) {
      absl::StrAppend(&line, ",\"live\":", lookup->live() ? "true" : "false",
                      ",\"token_id\":\"", JsonEscape(lookup->token_id()),
                      "\",\"deployment_id\":\"",
                      JsonEscape(lookup->deployment_id()), "\"");
    }
    return line + "}\n";
  }
  std::string line = absl::StrCat(Where(finding), ": ", finding.hint);
  if (lookup != nullptr && lookup->live()) {
    absl::StrAppend(&line, " live: token ", lookup->token_id(),
                    " of Deployment ", lookup->deployment_id(), " \"",
                    lookup->name(), "\"");
  } else if (lookup != nullptr) {
    absl::StrAppend(&line, " not live");
  }
  return line + "\n";
}

std::string DefaultLocation() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return absl::StrCat("tokenctl scan on ", host[0] ? host : "unknown host");
}

absl::StatusOr<std::string> LocationOf(const ParsedArgs& args) {
  std::string location = args.Get("location").value_or(DefaultLocation());
  if (location.size() > static_cast<size_t>(kMaxLeakLocationBytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--location must be at most ",
                     static_cast<size_t>(kMaxLeakLocationBytes), " bytes"));
  }
  if (args.Has("location") && !args.Has("report")) {
    return absl::InvalidArgumentError("--location needs --report");
  }
  return location;
}

// Scans, printing each finding at once unless `hold` (--check prints them
// with the answers).
ScanResult RunScan(const ParsedArgs& args, CliContext& context,
                   OutputFormat format, bool hold) {
  ScanResult result;
  ScanFilesOptions options;
  options.include_git = args.Has("include-git");
  options.stdin_file = context.in;
  options.on_warning = [&](const std::string& warning) {
    std::fprintf(context.err, "tokenctl: warning: %s\n", warning.c_str());
  };
  options.on_value = [&](const FileFinding& found) {
    const Digest digest = DigestOf(found.value);
    auto [it, added] = result.index.emplace(digest, result.digests.size());
    if (added) result.digests.push_back(digest);
    result.findings.push_back({found.path, found.line, found.column,
                               ShortTokenHint(found.value), it->second});
    if (!hold) Print(context, FindingLine(result.findings.back(), format, {}));
  };
  std::vector<std::string> paths = args.positional();
  if (paths.empty()) paths.push_back(".");
  result.totals = ScanPaths(paths, options);
  return result;
}

absl::Status CheckAndPrint(AdminSession& session, const ScanResult& result,
                           CliContext& context, OutputFormat format) {
  absl::StatusOr<std::vector<v1::TokenLookup>> lookups =
      LookupDigests(session, result.digests);
  if (!lookups.ok()) return lookups.status();
  for (const Finding& finding : result.findings) {
    Print(context, FindingLine(finding, format, &(*lookups)[finding.digest]));
  }
  return absl::OkStatus();
}

// The hint of each distinct digest (that of its first finding).
std::vector<std::string> Hints(const ScanResult& result) {
  std::vector<std::string> hints(result.digests.size());
  for (auto it = result.findings.rbegin(); it != result.findings.rend(); ++it) {
    hints[it->digest] = it->hint;
  }
  return hints;
}

void PrintReport(const LeakReport& report, const ScanResult& result,
                 CliContext& context, OutputFormat format) {
  const std::vector<std::string> hints = Hints(result);
  if (format == OutputFormat::kJson) {
    std::string line = absl::StrCat(
        "{\"report\":{\"received\":", report.received, ",\"results\":[");
    for (size_t i = 0; i < report.results.size(); ++i) {
      const v1::LeakResult& entry = report.results[i];
      absl::StrAppend(
          &line, i ? "," : "", "{\"hint\":\"", JsonEscape(hints[i]),
          "\",\"outcome\":\"", v1::LeakResult::Outcome_Name(entry.outcome()),
          "\",\"token_id\":\"", JsonEscape(entry.token_id()),
          "\",\"deployment_id\":\"", JsonEscape(entry.deployment_id()), "\"}");
    }
    Print(context, line + "]}}\n");
    return;
  }
  Print(context, absl::StrCat("Reported ", result.digests.size(),
                              " distinct values as leaked (digests only); "
                              "TokenService received ",
                              report.received, ".\n"));
  for (size_t i = 0; i < report.results.size(); ++i) {
    const v1::LeakResult& entry = report.results[i];
    Print(context,
          entry.outcome() == v1::LeakResult::REVOKED
              ? absl::StrCat("  ", hints[i], ": REVOKED (token ",
                             entry.token_id(), " of Deployment ",
                             entry.deployment_id(), " is deleted now)\n")
              : absl::StrCat("  ", hints[i], ": NOT_LIVE\n"));
  }
}

void PrintSummary(const ScanResult& result, CliContext& context) {
  if (result.findings.empty()) return;
  const size_t n = result.findings.size();
  std::fprintf(context.err,
               "tokenctl scan: %zu token value%s found (%zu distinct) in %llu "
               "file%s scanned; shown as hints, never as values\n",
               n, n == 1 ? "" : "s", result.digests.size(),
               static_cast<unsigned long long>(result.totals.files),
               result.totals.files == 1 ? "" : "s");
}

int Scan(const ParsedArgs& args, CliContext& context) {
  absl::StatusOr<OutputFormat> format = OutputOf(args, kOutputs);
  if (!format.ok()) return Fail(context, format.status());
  absl::StatusOr<std::string> location = LocationOf(args);
  if (!location.ok()) return Fail(context, location.status());
  absl::Status exists = CheckPathsExist(args.positional());
  if (!exists.ok()) return Fail(context, exists);
  const bool check = args.Has("check");
  const bool report = args.Has("report");
  std::optional<AdminSession> session;
  if (check || report) {  // before scanning: fail fast on a missing key
    absl::StatusOr<AdminSession> opened =
        AdminSession::Open(args, context, "key-file");
    if (!opened.ok()) return Fail(context, opened.status());
    session.emplace(*std::move(opened));
  }
  const ScanResult result = RunScan(args, context, *format, check);
  if (check && !result.findings.empty()) {
    absl::Status status = CheckAndPrint(*session, result, context, *format);
    if (!status.ok()) return Fail(context, status);
  }
  if (report && !result.findings.empty()) {
    absl::StatusOr<LeakReport> answer =
        ReportDigests(*session, result.digests, *location);
    if (!answer.ok()) return Fail(context, answer.status());
    PrintReport(*answer, result, context, *format);
  }
  PrintSummary(result, context);
  return result.findings.empty() ? kExitOk : kExitDenied;
}

std::vector<FlagSpec> ScanFlags() {
  std::vector<FlagSpec> flags = {
      {"include-git", "", "", "also scan .git directories (skipped otherwise)"},
      {"check", "", "",
       "ask TokenService whether each value is live (admin key; by digest)"},
      {"report", "", "",
       "report the values found as leaked: TokenService revokes the live "
       "ones (reporter or admin key; by digest)"},
      {"location", "", "TEXT",
       "with --report: where they were found, at most 1024 bytes (default "
       "\"tokenctl scan on <hostname>\")"},
      OutputFlag(kOutputs),
      {"service", "", "ADDR",
       "TokenService address (default $TOKENS_SERVICE_ADDR, else "
       "127.0.0.1:50051)"},
      {"key-file", "", "PATH",
       "file holding the caller key for --check/--report (default "
       "$TOKENS_ADMIN_KEY_FILE, else ./var/admin.key)"},
      TimeoutFlag(),
  };
  for (FlagSpec& flag : TlsFlags()) flags.push_back(std::move(flag));
  return flags;
}

}  // namespace

Command ScanCommand() {
  return {
      {"scan", "[PATH...]", 0, std::numeric_limits<size_t>::max(),
       "Find Deployment API token values in files, directories or stdin (-).",
       "Prints path:line:column (1-based, column in bytes) and a hint such as "
       "dpt_Ab12…9xYz\nfor every value with a valid checksum standing on its "
       "own (not inside a longer\nrun of [A-Za-z0-9_]); never the value. "
       "Directories are walked (.git skipped,\nsymbolic links to directories "
       "not followed); no PATH scans the current directory.\nBinary files, "
       "long lines and unreadable paths are warnings and the scan goes "
       "on.\n-o json prints one JSON object per finding a line. Exits 1 when "
       "something was\nfound, 0 when clean.\n",
       ScanFlags()},
      Scan};
}

}  // namespace tokens::cli
