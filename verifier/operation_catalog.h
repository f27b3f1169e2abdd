// OperationCatalog: the one declarative table of every operation the platform
// knows, with its level (deployment / workspace / organization) and the least
// role that may perform it.
//
// A Deployment API token has the permissions of the Workspace Operator role,
// limited to Deployment-level operations: it may perform exactly the operations
// whose level is kDeployment and whose least role is Workspace Operator or
// lower.
//
// The catalog is immutable and built once; every function here is thread-safe.
#ifndef VERIFIER_OPERATION_CATALOG_H_
#define VERIFIER_OPERATION_CATALOG_H_

#include <string_view>

#include "absl/types/span.h"

namespace tokens {

enum class OperationLevel { kDeployment, kWorkspace, kOrganization };

// Roles in increasing order of power: a role may do everything a lower one may.
enum class WorkspaceRole {
  kWorkspaceMember = 1,
  kWorkspaceOperator = 2,
  kWorkspaceOwner = 3,
  kOrganizationOwner = 4,
};

struct OperationInfo {
  std::string_view name;  // such as `deployment.envVars.create`
  OperationLevel level;
  WorkspaceRole least_role;  // the least powerful role that may perform it
};

// Every known operation, in catalog order.
absl::Span<const OperationInfo> AllOperations();

// The operation named `name`, or nullptr when it is not in the catalog.
const OperationInfo* FindOperation(std::string_view name);

// True when a Deployment API token may perform `op` (on its own Deployment).
bool DeploymentTokenMayPerform(const OperationInfo& op);

}  // namespace tokens

#endif  // VERIFIER_OPERATION_CATALOG_H_
