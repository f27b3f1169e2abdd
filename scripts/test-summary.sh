#!/usr/bin/env bash
# Prints `N passed, N failed` counting test cases (not Bazel targets) from the JUnit XML files
# of the given test targets; a target without a result file counts as one failed case.
# Usage: test-summary.sh TESTLOGS_DIR TARGET...
set -uo pipefail
logs=$1
shift
passed=0
failed=0
unbuilt=" ${UNBUILT:-} "
unbuilt=${unbuilt//$'\n'/ }
for target in "$@"; do
  if [[ "$unbuilt" == *" $target "* ]]; then
    echo "not run (failed to build): $target" >&2
    failed=$((failed + 1))
    continue
  fi
  path=${target#//}
  path=${path/://}
  xml="$logs/$path/test.xml"
  if [ ! -f "$xml" ]; then
    echo "no result for $target" >&2
    failed=$((failed + 1))
    continue
  fi
  # One <testsuite ...> element per line carries tests=, failures=, errors=, skipped=.
  read -r t f <<<"$(grep -o '<testsuite [^>]*' "$xml" | awk '
    function attr(name,   m) { if (match($0, name "=\"[0-9]+\"")) { m = substr($0, RSTART, RLENGTH); gsub(/[^0-9]/, "", m); return m + 0 } return 0 }
    { t += attr("tests"); f += attr("failures") + attr("errors") }
    END { print t + 0, f + 0 }')"
  if [ "$t" -eq 0 ] && grep -q '<failure\|<error' "$xml"; then t=1; f=1; fi
  failed=$((failed + f))
  passed=$((passed + t - f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
