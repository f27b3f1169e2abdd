#!/usr/bin/env bash
# make test: formatting (make lint), then every test target twice, first under ASan+UBSan
# (--config=asan, its own output directory and symlinks), then as built normally. Ends with
# one line `N passed, N failed, N skipped` counting test cases of both passes, and exits 1 on
# any failure, lint error or target that did not build.
set -uo pipefail
cd "$(dirname "$0")/.."
BAZEL=${BAZEL:-bazel}
status=0

echo "== lint =="
scripts/lint.sh || status=1

targets=$($BAZEL query --noshow_progress 'tests(//...)' 2>/dev/null)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
totals=()
run_pass() {  # name, bazel args...
  local name=$1
  shift
  echo "== $name =="
  $BAZEL test "$@" $targets 2>&1 | tee "$log" || status=1
  local unbuilt summary
  unbuilt=$(grep -oE '^//[^ ]+ +(FAILED TO BUILD|NO STATUS)' "$log" | cut -d' ' -f1)
  summary=$(UNBUILT="$unbuilt" scripts/test-summary.sh \
    "$($BAZEL info "$@" bazel-testlogs 2>/dev/null)" $targets) || status=1
  echo "$name: $summary"
  totals+=("$summary")
}
run_pass "ASan+UBSan pass" --config=asan
run_pass "normal pass"

printf '%s\n' "${totals[@]}" | awk -F'[ ,]+' '
  { p += $1; f += $3; s += $5 }
  END { print p " passed, " f " failed, " s " skipped" }'
exit $status
