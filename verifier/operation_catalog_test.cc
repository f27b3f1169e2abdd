#include "verifier/operation_catalog.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace tokens {
namespace {

bool TokenMay(std::string_view name) {
  const OperationInfo* op = FindOperation(name);
  return op != nullptr && DeploymentTokenMayPerform(*op);
}

TEST(OperationCatalogTest, EveryOperationTheSpecAllowsIsPermitted) {
  for (const char* name :
       {"deployment.get", "deployment.update", "deployment.delete",
        "deployment.logs.get", "deployment.metrics.get",
        "deployment.deploys.get", "deployment.deploys.create",
        "deployment.deploys.update", "deployment.hibernation.update"}) {
    EXPECT_TRUE(TokenMay(name)) << name;
  }
  for (const char* verb : {"get", "create", "update", "delete"}) {
    EXPECT_TRUE(TokenMay(std::string("deployment.envVars.") + verb)) << verb;
    for (const char* thing : {"connections", "variables", "pools"}) {
      const std::string name =
          std::string("deployment.airflow.") + thing + "." + verb;
      EXPECT_TRUE(TokenMay(name)) << name;
    }
  }
}

TEST(OperationCatalogTest, DeniedExamplesAreKnownButNotPermitted) {
  for (const char* name :
       {"workspace.alerts.create", "workspace.update",
        "workspace.members.create", "deployment.create",
        "deployment.apiTokens.create", "deployment.apiTokens.update",
        "deployment.apiTokens.delete", "deployment.apiTokens.rotate",
        "organization.update", "organization.members.create"}) {
    const OperationInfo* op = FindOperation(name);
    ASSERT_NE(op, nullptr) << name;
    EXPECT_FALSE(DeploymentTokenMayPerform(*op)) << name;
  }
}

TEST(OperationCatalogTest, DeploymentCreateIsWorkspaceLevelEvenForOperators) {
  const OperationInfo* op = FindOperation("deployment.create");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(op->level, OperationLevel::kWorkspace);
  EXPECT_LE(op->least_role, WorkspaceRole::kWorkspaceOperator);
}

TEST(OperationCatalogTest, UnknownNamesAreNotFound) {
  EXPECT_EQ(FindOperation(""), nullptr);
  EXPECT_EQ(FindOperation("deployment.envvars.create"), nullptr);  // case
  EXPECT_EQ(FindOperation("deployment.envVars.create "), nullptr);
  EXPECT_EQ(FindOperation("deployment.*"), nullptr);
}

TEST(OperationCatalogTest, NamesAreUniqueAndPermissionFollowsLevelAndRole) {
  std::set<std::string_view> names;
  for (const OperationInfo& op : AllOperations()) {
    EXPECT_TRUE(names.insert(op.name).second) << op.name;
    EXPECT_EQ(FindOperation(op.name), &op);
    EXPECT_EQ(DeploymentTokenMayPerform(op),
              op.level == OperationLevel::kDeployment &&
                  op.least_role <= WorkspaceRole::kWorkspaceOperator)
        << op.name;
  }
}

}  // namespace
}  // namespace tokens
