#include "verifier/operation_catalog.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace tokens {
namespace {

using L = OperationLevel;
using R = WorkspaceRole;

// The catalog. Adding an operation here is the only step needed to make it
// known; whether a Deployment API token may perform it follows from its level
// and least role.
constexpr OperationInfo kOperations[] = {
    // Deployment level, up to Workspace Operator: allowed for a Deployment API
    // token.
    {"deployment.get", L::kDeployment, R::kWorkspaceMember},
    {"deployment.update", L::kDeployment, R::kWorkspaceOperator},
    {"deployment.delete", L::kDeployment, R::kWorkspaceOperator},
    {"deployment.logs.get", L::kDeployment, R::kWorkspaceMember},
    {"deployment.metrics.get", L::kDeployment, R::kWorkspaceMember},
    {"deployment.deploys.get", L::kDeployment, R::kWorkspaceMember},
    {"deployment.deploys.create", L::kDeployment, R::kWorkspaceOperator},
    {"deployment.deploys.update", L::kDeployment, R::kWorkspaceOperator},
    {"deployment.envVars.get", L::kDeployment, R::kWorkspaceOperator},
    {"deployment.envVars.create", L::kDeployment, R::kWorkspaceOperator},
    {"deployment.envVars.update", L::kDeployment, R::kWorkspaceOperator},
    {"deployment.envVars.delete", L::kDeployment, R::kWorkspaceOperator},
    {"deployment.hibernation.update", L::kDeployment, R::kWorkspaceOperator},
    {"deployment.airflow.connections.get", L::kDeployment,
     R::kWorkspaceOperator},
    {"deployment.airflow.connections.create", L::kDeployment,
     R::kWorkspaceOperator},
    {"deployment.airflow.connections.update", L::kDeployment,
     R::kWorkspaceOperator},
    {"deployment.airflow.connections.delete", L::kDeployment,
     R::kWorkspaceOperator},
    {"deployment.airflow.variables.get", L::kDeployment, R::kWorkspaceOperator},
    {"deployment.airflow.variables.create", L::kDeployment,
     R::kWorkspaceOperator},
    {"deployment.airflow.variables.update", L::kDeployment,
     R::kWorkspaceOperator},
    {"deployment.airflow.variables.delete", L::kDeployment,
     R::kWorkspaceOperator},
    {"deployment.airflow.pools.get", L::kDeployment, R::kWorkspaceOperator},
    {"deployment.airflow.pools.create", L::kDeployment, R::kWorkspaceOperator},
    {"deployment.airflow.pools.update", L::kDeployment, R::kWorkspaceOperator},
    {"deployment.airflow.pools.delete", L::kDeployment, R::kWorkspaceOperator},
    // Deployment level, above Workspace Operator: token management is not
    // Operator's.
    {"deployment.apiTokens.create", L::kDeployment, R::kWorkspaceOwner},
    {"deployment.apiTokens.update", L::kDeployment, R::kWorkspaceOwner},
    {"deployment.apiTokens.delete", L::kDeployment, R::kWorkspaceOwner},
    {"deployment.apiTokens.rotate", L::kDeployment, R::kWorkspaceOwner},
    // Workspace level: never for a Deployment API token, whatever the role.
    {"deployment.create", L::kWorkspace, R::kWorkspaceOperator},
    {"workspace.get", L::kWorkspace, R::kWorkspaceMember},
    {"workspace.update", L::kWorkspace, R::kWorkspaceOwner},
    {"workspace.delete", L::kWorkspace, R::kWorkspaceOwner},
    {"workspace.alerts.get", L::kWorkspace, R::kWorkspaceMember},
    {"workspace.alerts.create", L::kWorkspace, R::kWorkspaceOperator},
    {"workspace.members.get", L::kWorkspace, R::kWorkspaceMember},
    {"workspace.members.create", L::kWorkspace, R::kWorkspaceOwner},
    {"workspace.members.delete", L::kWorkspace, R::kWorkspaceOwner},
    // Organization level.
    {"organization.update", L::kOrganization, R::kOrganizationOwner},
    {"organization.members.create", L::kOrganization, R::kOrganizationOwner},
    {"organization.workspaces.create", L::kOrganization, R::kOrganizationOwner},
    {"organization.billing.update", L::kOrganization, R::kOrganizationOwner},
};

// Keys point into kOperations' string literals, which live forever.
using OperationIndex =
    absl::flat_hash_map<absl::string_view, const OperationInfo*>;

const OperationIndex& Index() {
  static const OperationIndex* index = [] {
    auto* map = new OperationIndex;
    for (const OperationInfo& op : kOperations) {
      map->emplace(absl::string_view(op.name.data(), op.name.size()), &op);
    }
    return map;
  }();
  return *index;
}

}  // namespace

absl::Span<const OperationInfo> AllOperations() { return kOperations; }

const OperationInfo* FindOperation(std::string_view name) {
  const auto& index = Index();
  auto it = index.find(absl::string_view(name.data(), name.size()));
  return it == index.end() ? nullptr : it->second;
}

bool DeploymentTokenMayPerform(const OperationInfo& op) {
  return op.level == OperationLevel::kDeployment &&
         op.least_role <= WorkspaceRole::kWorkspaceOperator;
}

}  // namespace tokens
