#!/usr/bin/env bash
# Prints `N passed, N failed, N skipped` counting test cases (not Bazel targets) from the JUnit
# XML files of the given test targets. A skipped case (GTEST_SKIP, disabled) counts as skipped,
# never as passed; a target without a result file counts as one failed case.
# Usage: test-summary.sh TESTLOGS_DIR TARGET...
set -uo pipefail
logs=$1
shift
passed=0
failed=0
skipped=0
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
  # One <testsuite ...> element per line carries tests=, failures=, errors=, skipped=,
  # disabled=. Bazel's own XML for a non-gtest test (sh_test) has tests="1".
  read -r t f s <<<"$(grep -o '<testsuite [^>]*' "$xml" | awk '
    function attr(name,   m) { if (match($0, " " name "=\"[0-9]+\"")) { m = substr($0, RSTART, RLENGTH); gsub(/[^0-9]/, "", m); return m + 0 } return 0 }
    { t += attr("tests"); f += attr("failures") + attr("errors"); s += attr("skipped") + attr("disabled") }
    END { print t + 0, f + 0, s + 0 }')"
  if [ "$t" -eq 0 ] && grep -q '<failure\|<error' "$xml"; then t=1; f=1; fi
  # gtest's XML counts a GTEST_SKIP case in tests= and marks it result="skipped"; count those
  # too when the suite attribute is absent.
  if [ "$s" -eq 0 ]; then
    s=$(grep -c 'result="skipped"' "$xml" || true)
  fi
  failed=$((failed + f))
  skipped=$((skipped + s))
  passed=$((passed + t - f - s))
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
