// RETURN_IF_ERROR and ASSIGN_OR_RETURN: the one place for the early-return
// boilerplate around absl::Status and absl::StatusOr.
//
//   RETURN_IF_ERROR(store.Begin());
//   ASSIGN_OR_RETURN(TokenRecord record, store.Get(id));
#ifndef COMMON_STATUS_MACROS_H_
#define COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define RETURN_IF_ERROR(expr) \
  RETURN_IF_ERROR_IMPL_(STATUS_MACROS_CONCAT_(status_, __LINE__), expr)

#define RETURN_IF_ERROR_IMPL_(status, expr) \
  do {                                      \
    const ::absl::Status status = (expr);   \
    if (!status.ok()) return status;        \
  } while (false)

#define STATUS_MACROS_CONCAT_INNER_(a, b) a##b
#define STATUS_MACROS_CONCAT_(a, b) STATUS_MACROS_CONCAT_INNER_(a, b)

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(STATUS_MACROS_CONCAT_(status_or_, __LINE__), lhs, expr)

#define ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                           \
  if (!statusor.ok()) return statusor.status();     \
  lhs = *std::move(statusor)

#endif  // COMMON_STATUS_MACROS_H_
