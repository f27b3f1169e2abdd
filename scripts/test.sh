#!/usr/bin/env bash
# make test: formatting (make lint), then the test targets twice: first under ASan+UBSan
# (--config=asan, its own output directory and symlinks) every target except the whole-system
# ones (//tests/e2e, whose servers the other suites already run instrumented, and the benchmark
# smoke run, whose load clients only measure), then every target as built normally. Ends with
# one line `N passed, N failed, N skipped` counting test cases of both passes, and exits 1 on
# any failure, lint error or target that did not build.
set -uo pipefail
cd "$(dirname "$0")/.."
BAZEL=${BAZEL:-bazel}
status=0

echo "== lint =="
scripts/lint.sh || status=1

targets=$($BAZEL query --noshow_progress 'tests(//...)' 2>/dev/null)
asan_targets=$($BAZEL query --noshow_progress \
  'tests(//...) except tests(//tests/e2e/...) except //bench:bench_smoke_test' 2>/dev/null)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
totals=()
run_pass() {  # name, targets, bazel args...
  local name=$1 targets=$2
  shift 2
  echo "== $name =="
  # shellcheck disable=SC2086  # one target per word
  $BAZEL test "$@" $targets 2>&1 | tee "$log" || status=1
  local unbuilt summary
  unbuilt=$(grep -oE '^//[^ ]+ +(FAILED TO BUILD|NO STATUS)' "$log" | cut -d' ' -f1)
  summary=$(UNBUILT="$unbuilt" scripts/test-summary.sh \
    "$($BAZEL info "$@" bazel-testlogs 2>/dev/null)" $targets) || status=1
  echo "$name: $summary"
  totals+=("$summary")
}
run_pass "ASan+UBSan pass" "$asan_targets" --config=asan
run_pass "normal pass" "$targets"

printf '%s\n' "${totals[@]}" | awk -F'[ ,]+' '
  { p += $1; f += $3; s += $5 }
  END { print p " passed, " f " failed, " s " skipped" }'
exit $status
