#include "cli/scan_remote.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tokens::cli {

absl::StatusOr<std::vector<v1::TokenLookup>> LookupDigests(
    AdminSession& session, const std::vector<Digest>& digests) {
  std::vector<v1::TokenLookup> results;
  for (size_t begin = 0; begin < digests.size(); begin += kScanBatch) {
    const size_t end = std::min(digests.size(), begin + kScanBatch);
    v1::LookupTokensRequest request;
    for (size_t i = begin; i < end; ++i) {
      request.add_digests(DigestToBytes(digests[i]));
    }
    v1::LookupTokensResponse response;
    absl::Status status = session.Convert(session.stub().LookupTokens(
        session.NewCall().get(), request, &response));
    if (!status.ok()) return status;
    if (response.results_size() != static_cast<int>(end - begin)) {
      return absl::InternalError(
          absl::StrCat("TokenService answered ", response.results_size(),
                       " lookups for ", end - begin, " digests"));
    }
    for (v1::TokenLookup& lookup : *response.mutable_results()) {
      results.push_back(std::move(lookup));
    }
  }
  return results;
}

absl::StatusOr<LeakReport> ReportDigests(AdminSession& session,
                                         const std::vector<Digest>& digests,
                                         const std::string& location) {
  LeakReport report;
  for (size_t begin = 0; begin < digests.size(); begin += kScanBatch) {
    const size_t end = std::min(digests.size(), begin + kScanBatch);
    v1::ReportLeakedTokensRequest request;
    for (size_t i = begin; i < end; ++i) {
      request.add_digests(DigestToBytes(digests[i]));
    }
    request.set_location(location);
    v1::ReportLeakedTokensResponse response;
    absl::Status status = session.Convert(session.stub().ReportLeakedTokens(
        session.NewCall().get(), request, &response));
    if (!status.ok()) return status;
    report.received += response.received();
    for (v1::LeakResult& result : *response.mutable_results()) {
      report.results.push_back(std::move(result));
    }
  }
  // Per-entry results come whole or not at all (admin or reporter).
  if (report.results.size() != digests.size()) report.results.clear();
  return report;
}

}  // namespace tokens::cli
